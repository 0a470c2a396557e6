r"""Curvature-vector products of a network's loss over a fixed data set (or a region of it).

For a model :math:`f_\theta`, a fixed set of samples :math:`\{(x_n, y_n)\}` and an element-wise
loss :math:`\ell`, the region loss is the mean over all :math:`M` selected target *elements*
(samples for scalar targets, pixels for dense ones)

.. math::

    L(\theta) = \frac{1}{M} \sum_{(n, j) \in \mathcal{R}} \ell\big(f_\theta(x_n)_j, y_{n,j}\big),

accumulated over batches as sums and divided by :math:`M` once, so the weighting is exact however
the samples are batched (not a mean of batch means). :class:`CurvatureOperator` multiplies

* ``curvature="hessian"``: :math:`H = \nabla^2_\theta L`, or
* ``curvature="ggn"``: the generalised Gauss-Newton matrix
  :math:`G = \frac1M \sum_n J_n^\top \nabla^2_{f}\ell\, J_n` (positive semi-definite for convex
  :math:`\ell`; Schraudolph 2002). The L1 loss has :math:`\nabla^2_f \ell = 0` almost everywhere,
  so for ``loss="l1"`` the matrix is :math:`G = \frac1M J^\top J`: the output-Jacobian Gram
  matrix, i.e. the Gauss-Newton matrix of the squared error :math:`\tfrac12 r^2`. It does not
  depend on the L1 loss or its residuals (only on :math:`J`); call it the Gauss-Newton matrix
  and its trace :math:`\mathrm{tr}(G)`, never "the L1 Hessian" or :math:`\mathrm{tr}(H)`.

onto vectors in the space of the selected parameters, with the model in eval mode (BatchNorm uses
its running statistics, so a sample's loss does not depend on its batch). The model's parameters,
buffers, ``requires_grad`` flags and train/eval mode are left untouched: products are taken with
:func:`torch.func.functional_call` on detached copies. Parameters that do not influence the loss
get zero rows and columns.

HVP strategies (``hvp_method``; measured in ``docs/curvature.md``):

* ``"reuse_graph"``: the first-order graph :math:`g = \nabla L` is built once (``create_graph``) and
  every product is one backward pass of :math:`g^\top v` (Pearlmutter 1994). Fastest when the data
  fit in memory (``"auto"`` picks it for a single cached batch); memory holds the double graph.
* ``"double_backward"``: the same per batch, rebuilding the graph for every product.
* ``"forward_over_reverse"``: :func:`torch.func.jvp` of :func:`torch.func.grad` per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp

from analyses.curvature._ggn_check import check_output_hessian
from analyses.curvature.selection import (
    ParamSpec,
    mask_indices,
    normalise_mask,
    select_parameters,
)
from bsam._state import eval_mode
from bsam.batches import Batches
from bsam.losses import align, get_loss

__all__ = ["CurvatureOperator", "select_parameters", "CURVATURES", "HVP_METHODS"]

#: Curvature matrices :class:`CurvatureOperator` can multiply.
CURVATURES: tuple[str, ...] = ("hessian", "ggn")
#: Product strategies (``"auto"`` picks one).
HVP_METHODS: tuple[str, ...] = ("auto", "reuse_graph", "double_backward", "forward_over_reverse")

Batch = tuple[Any, torch.Tensor, torch.Tensor | None]


class CurvatureOperator:
    r"""The Hessian (or GGN) of a region's mean loss as a linear operator on parameter vectors.

    ``op @ v`` returns :math:`H v` for a flat vector ``v`` of length ``op.shape[0]`` (the selected
    parameters flattened in model order) or a matrix with such columns.

    Parameters
    ----------
    model:
        Any ``nn.Module`` mapping a batch of inputs to predictions (``(N, 1)`` for targets ``(N,)``
        is accepted). Evaluated in eval mode; never modified.
    data:
        A ``Dataset`` or ``DataLoader`` of ``(input, target)`` pairs, or a tuple ``(X, y)``.
    loss:
        ``"l1"``, ``"mse"``, ``"huber"`` or a callable ``(pred, target) -> elementwise loss``.
    curvature:
        ``"hessian"`` or ``"ggn"`` (Gauss-Newton; with ``loss="l1"`` it is ``J^T J / M``).
    mask:
        Boolean tensor selecting samples ``(N,)`` or target elements ``(N, ...)``; ``None`` = all.
    params:
        Parameter selection, see :func:`select_parameters`.
    batch_size:
        Samples per batch for a Dataset or a tuple (a DataLoader keeps its batches).
    hvp_method:
        One of :data:`HVP_METHODS`.
    cache:
        Keep the selected batches on the model's device (default). ``False`` streams them from
        ``data`` for every product (slower; for data that do not fit in memory).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1, bias=False).double()
    >>> X, y = torch.randn(8, 3, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    >>> op = CurvatureOperator(net, (X, y), loss="mse")
    >>> torch.allclose(op.to_dense(), 2 * X.T @ X / 8)
    True
    """

    def __init__(
        self,
        model: nn.Module,
        data: Any,
        *,
        loss: str | Callable[..., torch.Tensor] = "l1",
        curvature: str = "hessian",
        mask: torch.Tensor | None = None,
        params: ParamSpec = None,
        batch_size: int = 256,
        hvp_method: str = "auto",
        cache: bool = True,
    ) -> None:
        if curvature not in CURVATURES:
            raise ValueError(f"Invalid curvature {curvature!r}; choose from {list(CURVATURES)}.")
        if hvp_method not in HVP_METHODS:
            raise ValueError(f"Invalid hvp_method {hvp_method!r}; choose from {list(HVP_METHODS)}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Invalid batch_size value: {batch_size!r}; it must be an int >= 1.")
        if not isinstance(model, nn.Module):
            raise TypeError(f"Invalid model of type {type(model).__name__}; pass an nn.Module.")
        self.model = model
        self.curvature = curvature
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "callable")
        self._loss_fn = get_loss(loss)
        self._identity_output_hessian = curvature == "ggn" and loss == "l1"
        self.param_names = select_parameters(model, params)
        named = dict(model.named_parameters())
        sel = [named[n] for n in self.param_names]
        self._shapes = [p.shape for p in sel]
        self._sizes = [p.numel() for p in sel]
        self.dtype = sel[0].dtype
        self.device = sel[0].device
        n = sum(self._sizes)
        self.shape = (n, n)
        self._frozen = {
            k: p.detach() for k, p in model.named_parameters() if k not in set(self.param_names)
        }
        self._source = data if isinstance(data, Batches) else Batches(data, batch_size=batch_size)
        self._mask = normalise_mask(mask, self._source.num_samples)
        if self._mask is not None:
            self._source.check_ordered()
        self._indices = mask_indices(self._mask)
        self._cache = cache
        self._batches: list[Batch] | None = None
        self.num_elements = 0
        self.num_samples = 0
        if cache:
            self._batches = list(self._iter_batches())
            self.num_elements = int(sum(self._count(y, m) for _, y, m in self._batches))
            self.num_samples = int(sum(y.shape[0] for _, y, _ in self._batches))
        else:
            for _, y, m in self._iter_batches():
                self.num_elements += self._count(y, m)
                self.num_samples += int(y.shape[0])
        if self.num_elements == 0:
            raise ValueError(
                "Invalid mask: it selects no sample (empty region); the curvature of an empty "
                "region is undefined."
            )
        if hvp_method == "auto":
            single = cache and self._batches is not None and len(self._batches) == 1
            if curvature == "hessian" and single:
                hvp_method = "reuse_graph"
            elif curvature == "hessian":
                hvp_method = "double_backward"
            else:
                hvp_method = "forward_over_reverse"
        if curvature == "ggn" and hvp_method != "forward_over_reverse":
            raise ValueError(
                f"Invalid hvp_method {hvp_method!r} for curvature='ggn'; the GGN product is "
                "computed as J^T (H_loss (J v)) with 'forward_over_reverse' (or 'auto')."
            )
        if hvp_method == "reuse_graph" and not cache:
            raise ValueError(
                "Invalid hvp_method 'reuse_graph' with cache=False; the graph needs cached "
                "batches. Use 'double_backward' or cache=True."
            )
        self.hvp_method = hvp_method
        if curvature == "ggn" and not isinstance(loss, str):
            check_output_hessian(self)
        self._graphs: list[tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]] | None = None
        self.num_matvecs = 0

    # -- data ------------------------------------------------------------------------------------
    @staticmethod
    def _count(y: torch.Tensor, m: torch.Tensor | None) -> int:
        return int(y.numel() if m is None else m.sum())

    def _iter_batches(self) -> Iterator[Batch]:
        elementwise = self._mask is not None and self._mask.dim() > 1
        if self._indices is None:
            raw: Iterator = ((X, y, None) for _, _, X, y in self._source)
        else:
            raw = self._source.subset(self._indices)
        for X, y, idx in raw:
            if isinstance(X, torch.Tensor):
                X = X.to(self.device)
                if X.is_floating_point():
                    X = X.to(self.dtype)
            y = y.to(device=self.device, dtype=self.dtype)
            m = None
            if elementwise:
                m = self._mask[idx].to(self.device)
                if m.shape != y.shape:
                    raise ValueError(
                        f"Invalid mask shape {tuple(self._mask.shape)}: an element mask must "
                        f"match the targets' shape, got targets {tuple(y.shape[1:])} per sample."
                    )
            yield X, y, m

    def batches(self) -> Iterator[Batch]:
        """Iterate the region's batches ``(X, y, element_mask or None)`` on the model's device."""
        if self._batches is not None:
            yield from self._batches
        else:
            yield from self._iter_batches()

    # -- the loss --------------------------------------------------------------------------------
    def _elementwise(
        self, pred: torch.Tensor, y: torch.Tensor, m: torch.Tensor | None
    ) -> torch.Tensor:
        pred = align(pred, y)
        loss = self._loss_fn(pred, y)
        if loss.shape != y.shape:
            raise ValueError(
                f"Invalid loss: it returned shape {tuple(loss.shape)} for targets "
                f"{tuple(y.shape)}; a custom loss must return the element-wise loss (no reduction)."
            )
        if m is not None:
            loss = torch.where(m, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
        return loss

    def _forward(self, leaves: dict[str, torch.Tensor], X: Any) -> torch.Tensor:
        return functional_call(self.model, {**self._frozen, **leaves}, (X,))

    def _loss_sum(
        self, leaves: dict[str, torch.Tensor], X: Any, y: torch.Tensor, m: Any
    ) -> torch.Tensor:
        return self._elementwise(self._forward(leaves, X), y, m).sum()

    def loss(self) -> float:
        """The region's mean loss :math:`L(\\theta)` at the current parameters."""
        leaves = self._leaves(requires_grad=False)
        total = 0.0
        with torch.no_grad(), eval_mode(self.model):
            for X, y, m in self.batches():
                total += float(self._loss_sum(leaves, X, y, m))
        return total / self.num_elements

    # -- vectors ---------------------------------------------------------------------------------
    def _leaves(self, requires_grad: bool) -> dict[str, torch.Tensor]:
        named = dict(self.model.named_parameters())
        return {n: named[n].detach().requires_grad_(requires_grad) for n in self.param_names}

    def _unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(v, self._sizes)
        return {n: t.view(s) for n, t, s in zip(self.param_names, parts, self._shapes)}

    def _flatten(self, parts: Sequence[torch.Tensor | None]) -> torch.Tensor:
        out = [
            torch.zeros(s, dtype=self.dtype, device=self.device) if t is None else t.reshape(-1)
            for t, s in zip(parts, self._sizes)
        ]
        return torch.cat(out)

    # -- products --------------------------------------------------------------------------------
    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        if not isinstance(v, torch.Tensor) or v.dim() not in (1, 2) or v.shape[0] != self.shape[0]:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(
                f"Invalid vector of shape {shape}; pass a tensor of shape ({self.shape[0]},) or "
                f"({self.shape[0]}, k)."
            )
        if v.dim() == 2:
            return torch.stack([self @ v[:, j] for j in range(v.shape[1])], dim=1)
        v = v.to(device=self.device, dtype=self.dtype)
        self.num_matvecs += 1
        with eval_mode(self.model):
            if self.curvature == "ggn":
                out = self._ggn_vp(v)
            elif self.hvp_method == "reuse_graph":
                out = self._hvp_reuse(v)
            elif self.hvp_method == "double_backward":
                out = self._hvp_double_backward(v)
            else:
                out = self._hvp_forward_over_reverse(v)
        return out.div_(self.num_elements)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Return :math:`C v` for the curvature matrix :math:`C` (same as ``self @ v``)."""
        return self @ v

    def _hvp_from_grad(
        self,
        g: Sequence[torch.Tensor | None],
        leaves: list[torch.Tensor],
        v: torch.Tensor,
        retain: bool,
    ) -> torch.Tensor:
        vs = torch.split(v, self._sizes)
        terms = [
            (gi * vi.view_as(gi)).sum()
            for gi, vi in zip(g, vs)
            if gi is not None and gi.requires_grad
        ]
        if not terms:  # the gradient does not depend on the parameters: zero curvature
            return torch.zeros_like(v)
        hv = torch.autograd.grad(sum(terms), leaves, retain_graph=retain, allow_unused=True)
        return self._flatten(hv)

    def _batch_sum(self, term: Callable[[Any, torch.Tensor, Any], torch.Tensor]) -> torch.Tensor:
        """Sum over the region's batches of ``term(X, y, mask)`` (a flat parameter vector)."""
        out = torch.zeros(self.shape[0], dtype=self.dtype, device=self.device)
        for X, y, m in self.batches():
            out += term(X, y, m)
        return out

    def _hvp_double_backward(self, v: torch.Tensor) -> torch.Tensor:
        def term(X: Any, y: torch.Tensor, m: Any) -> torch.Tensor:
            leaves = self._leaves(requires_grad=True)
            with torch.enable_grad():
                lsum = self._loss_sum(leaves, X, y, m)
                g = self._first_grad(lsum, list(leaves.values()))
                return self._hvp_from_grad(g, list(leaves.values()), v, retain=False)

        return self._batch_sum(term)

    @staticmethod
    def _first_grad(
        lsum: torch.Tensor, leaves: list[torch.Tensor]
    ) -> tuple[torch.Tensor | None, ...]:
        if not lsum.requires_grad:
            return tuple(None for _ in leaves)
        return torch.autograd.grad(lsum, leaves, create_graph=True, allow_unused=True)

    def _hvp_reuse(self, v: torch.Tensor) -> torch.Tensor:
        if self._graphs is None:
            self._graphs = []
            for X, y, m in self.batches():
                leaves = self._leaves(requires_grad=True)
                with torch.enable_grad():
                    lsum = self._loss_sum(leaves, X, y, m)
                    g = self._first_grad(lsum, list(leaves.values()))
                self._graphs.append((list(leaves.values()), g))
        out = torch.zeros_like(v)
        for leaves, g in self._graphs:
            with torch.enable_grad():
                out += self._hvp_from_grad(g, leaves, v, retain=True)
        return out

    def _hvp_forward_over_reverse(self, v: torch.Tensor) -> torch.Tensor:
        tangent, leaves = self._unflatten(v), self._leaves(requires_grad=False)

        def term(X: Any, y: torch.Tensor, m: Any) -> torch.Tensor:
            gfn = grad(lambda p: self._loss_sum(p, X, y, m))
            _, hv = jvp(gfn, (leaves,), (tangent,))
            return self._flatten([hv[n] for n in self.param_names])

        return self._batch_sum(term)

    def _ggn_vp(self, v: torch.Tensor) -> torch.Tensor:
        tangent, leaves = self._unflatten(v), self._leaves(requires_grad=False)

        def term(X: Any, y: torch.Tensor, m: Any) -> torch.Tensor:
            def f(p: dict[str, torch.Tensor]) -> torch.Tensor:
                return align(self._forward(p, X), y)

            pred, jv = jvp(f, (leaves,), (tangent,))
            if self._identity_output_hessian:
                hjv = jv if m is None else torch.where(m, jv, torch.zeros_like(jv))
            else:
                lfn = grad(lambda o: self._elementwise(o, y, m).sum())
                _, hjv = jvp(lfn, (pred.detach(),), (jv,))
            _, pullback = vjp(f, leaves)
            (jt,) = pullback(hjv)
            return self._flatten([jt[n] for n in self.param_names])

        return self._batch_sum(term)

    def to_dense(self, max_dim: int = 5000) -> torch.Tensor:
        """The full matrix, column by column (``n`` products; for small models and tests)."""
        n = self.shape[0]
        if n > max_dim:
            raise ValueError(
                f"Invalid request: the operator has dimension {n} > max_dim={max_dim}; a dense "
                "matrix this large is not meant to be formed (raise max_dim to force it)."
            )
        eye = torch.eye(n, dtype=self.dtype, device=self.device)
        return torch.stack([self @ eye[:, j] for j in range(n)], dim=1)

    def release(self) -> None:
        """Free the kept first-order graphs of ``"reuse_graph"`` (rebuilt on the next product)."""
        self._graphs = None
