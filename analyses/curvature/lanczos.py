r"""Extreme eigenvalues of a symmetric operator by Lanczos with full reorthogonalisation.

Lanczos (1950) builds an orthonormal basis :math:`V_j` of the Krylov space
:math:`\mathrm{span}\{v, Av, \dots, A^{j-1}v\}` in which :math:`A` is the tridiagonal
:math:`T_j = V_j^\top A V_j`, from the three-term recurrence

.. math::

    A v_j = \beta_{j-1} v_{j-1} + \alpha_j v_j + \beta_j v_{j+1}.

Every new vector is orthogonalised again against all previous ones (classical Gram-Schmidt, twice),
which keeps :math:`V_j` orthonormal to working precision, so no spurious copies of converged
eigenvalues appear (Parlett, *The Symmetric Eigenvalue Problem*, 1998, ch. 13). A Ritz pair
:math:`(\theta_i, u_i = V_j s_i)` of :math:`T_j s_i = \theta_i s_i` has the residual

.. math::

    \|A u_i - \theta_i u_i\|_2 = \beta_j\, |e_j^\top s_i|,

the recurrence's estimate. It is used only to decide *when* to look: once it claims convergence,
each wanted pair's residual is recomputed explicitly, :math:`\|A u_i - \theta_i u_i\|_2` with one
more product of the operator itself (in the operator's dtype), plus a rounding allowance
:math:`\sqrt n\, \varepsilon\, \|T_j\|` for that product. That is the residual reported: the
recurrence's value is no certificate once orthogonality is lost (in float32 it was seen at 2.6e-13
where the true residual was 7.2e-3). Iteration stops when every wanted pair has a certified
:math:`\|A u_i - \theta_i u_i\| \le \mathrm{tol}\,|\theta_i|`, or sits at the noise level of the
operator (:math:`\le \varepsilon^{2/3}\,\|T_j\|` plus the allowance, where more steps cannot help);
``converged`` is true only for the first (certified relative residual :math:`\le` ``tol``). Both
ends of the spectrum converge from the same Krylov space, so :func:`lanczos_extremes` returns the
largest, the smallest and the largest-magnitude eigenvalues for the price of one run.

A Krylov space holds one copy of each distinct eigenvalue. When it becomes invariant
(:math:`\beta_j = 0`) the iteration restarts from a random vector orthogonal to it, which is how
repeated eigenvalues are found; for ``k > 1`` the stopping rule is not consulted on such a step.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from analyses.curvature._operator import (
    _check_positive_int,
    _check_tol,
    _Counted,
    _generator,
    _random_vector,
)
from analyses.curvature.results import EigenResult

__all__ = ["lanczos", "lanczos_extremes", "WHICH"]

#: Eigenvalue selections: largest algebraic, smallest algebraic, largest magnitude.
WHICH: tuple[str, ...] = ("LA", "SA", "LM")


class _Lanczos:
    """Lanczos state: basis ``V``, diagonal ``alpha``, off-diagonal ``beta`` (full reorth)."""

    def __init__(
        self,
        op: _Counted,
        max_steps: int,
        gen: torch.Generator,
        v0: torch.Tensor | None = None,
        distribution: str = "normal",
    ) -> None:
        self.op, self.gen, self.distribution = op, gen, distribution
        self.max_steps = min(max_steps, op.n)
        self.V = torch.empty(self.max_steps, op.n, dtype=op.dtype, device=op.device)
        self.alpha: list[float] = []
        self.beta: list[float] = []  # beta[j] couples v_j and v_{j+1}; 0 after a restart
        self.anorm = 0.0
        self.eps = torch.finfo(op.dtype).eps
        if v0 is None:
            v0 = _random_vector(op.n, distribution, gen, op.dtype, op.device)
        else:
            v0 = v0.to(device=op.device, dtype=op.dtype).reshape(-1)
            if v0.numel() != op.n:
                raise ValueError(
                    f"Invalid v0 of size {v0.numel()}; the start vector must have {op.n} entries."
                )
        nrm = v0.norm()
        if not nrm > 0:
            raise ValueError("Invalid v0: the start vector is zero; pass a nonzero vector.")
        self.V[0] = v0 / nrm
        self.j = 0  # number of basis vectors whose product has been taken
        self.exhausted = False
        self.broke_down = False  # the last step found an invariant subspace (and restarted)
        self.certified: dict[int, tuple[float, torch.Tensor]] = {}  # see _explicit
        self.certified_at = -1

    def _orth(self, w: torch.Tensor, upto: int) -> torch.Tensor:
        Vj = self.V[:upto]
        for _ in range(2):
            w = w - Vj.T @ (Vj @ w)
        return w

    def step(self) -> None:
        """Take one product and extend the tridiagonal matrix."""
        j = self.j
        w = self.op(self.V[j])
        a = float(self.V[j] @ w)
        w = w - a * self.V[j]
        if j > 0 and self.beta[j - 1] != 0.0:
            w = w - self.beta[j - 1] * self.V[j - 1]
        w = self._orth(w, j + 1)
        b = float(w.norm())
        self.alpha.append(a)
        self.anorm = max(self.anorm, abs(a) + b + (self.beta[j - 1] if j > 0 else 0.0))
        self.j = j + 1
        self.broke_down = False
        if self.j >= self.max_steps:
            self.beta.append(b)
            if self.j >= self.op.n:
                self.exhausted = True
            return
        if b <= 100 * self.eps * max(self.anorm, 1e-300) or b == 0.0:
            # invariant subspace: residuals of its Ritz pairs are exactly 0; restart orthogonally
            self.broke_down = True
            self.beta.append(0.0)
            for _ in range(3):
                r = self._orth(
                    _random_vector(
                        self.op.n, self.distribution, self.gen, self.op.dtype, self.op.device
                    ),
                    self.j,
                )
                if r.norm() > 0:
                    break
            self.V[self.j] = r / r.norm()
        else:
            self.beta.append(b)
            self.V[self.j] = w / b

    def ritz(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Ritz values (ascending), the eigenvectors of ``T`` and the residual norms (float64)."""
        k = self.j
        T = torch.diag(torch.tensor(self.alpha, dtype=torch.float64))
        if k > 1:
            off = torch.tensor(self.beta[: k - 1], dtype=torch.float64)
            T = T + torch.diag(off, 1) + torch.diag(off, -1)
        theta, S = torch.linalg.eigh(T)
        res = abs(self.beta[k - 1]) * S[-1].abs()
        if self.exhausted:
            res = torch.zeros_like(res)
        return theta, S, res

    def tridiagonal(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``alpha`` (j,) and ``beta`` (j-1,) of the current tridiagonal matrix (float64)."""
        return (
            torch.tensor(self.alpha, dtype=torch.float64),
            torch.tensor(self.beta[: self.j - 1], dtype=torch.float64),
        )

    def vectors(self, S: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Unit Ritz vectors :math:`V_j s_i` for the columns ``idx`` of ``S``."""
        Sk = S[:, idx].to(device=self.V.device, dtype=self.V.dtype)
        return self.V[: self.j].T @ Sk


def _select(theta: torch.Tensor, which: str, k: int) -> torch.Tensor:
    if which == "LA":
        return torch.argsort(theta, descending=True)[:k]
    if which == "SA":
        return torch.argsort(theta)[:k]
    return torch.argsort(theta.abs(), descending=True)[:k]


def _converged(theta: torch.Tensor, res: torch.Tensor, tol: float) -> bool:
    """Certified: every relative residual is at most ``tol`` (nothing else counts)."""
    return bool((res <= tol * theta.abs()).all())


def _settled(theta: torch.Tensor, res: torch.Tensor, tol: float, floor: float) -> bool:
    """The stopping rule: each pair converged or at the operator's noise level ``floor``."""
    return bool(((res <= tol * theta.abs()) | (res <= floor)).all())


def _check_common(k: Any, tol: Any, max_iter: Any) -> tuple[int, float, int]:
    return (
        _check_positive_int(k, "k"),
        _check_tol(tol),
        _check_positive_int(max_iter, "max_iter"),
    )


def _allowance(run: _Lanczos) -> float:
    r"""Rounding allowance of one product in the operator's dtype, :math:`\sqrt n\,\varepsilon\,\|T\|`."""
    return math.sqrt(run.op.n) * run.eps * run.anorm


def _explicit(
    run: _Lanczos, theta: torch.Tensor, S: torch.Tensor, idx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Certified residuals (float64) and unit Ritz vectors of the columns ``idx`` of ``S``.

    Each residual is :math:`\|A u - \theta u\|_2` from one product of the operator itself, in its
    dtype, plus :func:`_allowance`; computed once per pair and Krylov dimension.
    """
    if run.certified_at != run.j:
        run.certified, run.certified_at = {}, run.j
    allowance = _allowance(run)
    for i in idx.tolist():
        if i not in run.certified:
            u = run.vectors(S, torch.tensor([i]))[:, 0]
            u = u / u.norm()
            r = run.op(u) - float(theta[i]) * u
            run.certified[i] = (float(r.norm()) + allowance, u)
    res = torch.tensor([run.certified[i][0] for i in idx.tolist()], dtype=torch.float64)
    return res, torch.stack([run.certified[i][1] for i in idx.tolist()], dim=1)


def _iterate(run: _Lanczos, k: int, tol: float, floor_scale: float, ends: tuple[str, ...]) -> None:
    """Step until the wanted pairs at every end in ``ends`` are settled with certified residuals.

    The recurrence's residuals decide when to certify; a failed certification waits
    ``max(2, j // 4)`` more steps before the next one (so its products stay a small share).
    """
    next_check = 0
    while run.j < run.max_steps:
        run.step()
        if run.j < k or (k > 1 and run.broke_down) or run.j < next_check:
            continue
        theta, S, res = run.ritz()
        floor = floor_scale * float(theta.abs().max()) + _allowance(run)
        idx = torch.unique(torch.cat([_select(theta, w, k) for w in ends]))
        if not _settled(theta[idx], res[idx], tol, floor):
            continue
        if _settled(theta[idx], _explicit(run, theta, S, idx)[0], tol, floor):
            return
        next_check = run.j + max(2, run.j // 4)


def _result(
    run: _Lanczos, which: str, k: int, tol: float, return_vectors: bool
) -> EigenResult:
    """The :class:`EigenResult` of the ``k`` Ritz pairs at end ``which`` of a finished run."""
    theta, S, _ = run.ritz()
    idx = _select(theta, which, k)
    res, U = _explicit(run, theta, S, idx)
    return EigenResult(
        eigenvalues=theta[idx].to(run.op.dtype),
        residuals=res.to(run.op.dtype),
        converged=_converged(theta[idx], res, tol),
        num_matvecs=run.op.count,
        iterations=run.j,
        which=which,
        eigenvectors=U if return_vectors else None,
        tol=tol,
        certificate=f"explicit ||A u - theta u|| in {str(run.op.dtype).replace('torch.', '')} "
        "+ sqrt(n) eps ||T|| rounding allowance",
    )


def _start(
    A: Any, k: Any, tol: Any, max_iter: Any, seed: Any, v0: torch.Tensor | None
) -> tuple[int, float, _Lanczos, float]:
    """Check the arguments and start a run: ``(k, tol, run, floor_scale)``."""
    k, tol, max_iter = _check_common(k, tol, max_iter)
    op = _Counted(A)
    if k > op.n:
        raise ValueError(f"Invalid k value: {k}; k must be <= the dimension {op.n}.")
    run = _Lanczos(op, max_iter, _generator(seed, op.device), v0)
    return k, tol, run, run.eps ** (2.0 / 3.0)


def lanczos_extremes(
    A: Any,
    k: int = 1,
    *,
    tol: float = 1e-3,
    max_iter: int = 100,
    seed: int | torch.Generator | None = 0,
    v0: torch.Tensor | None = None,
    return_vectors: bool = False,
) -> dict[str, EigenResult]:
    r"""The ``k`` largest, ``k`` smallest and ``k`` largest-magnitude eigenvalues in one run.

    Lanczos with full reorthogonalisation (see the module docstring) runs until the ``k`` largest
    (``"LA"``) *and* the ``k`` smallest (``"SA"``) Ritz pairs satisfy
    :math:`\|A u - \theta u\| \le \mathrm{tol}\,|\theta|`; the largest-magnitude ones (``"LM"``,
    what power iteration and PyHessian return) are the ``k`` of largest :math:`|\theta|` among them.

    Parameters
    ----------
    A:
        A symmetric ``(n, n)`` tensor or an operator with ``shape``, ``dtype``, ``device`` and
        ``@`` (e.g. :class:`~analyses.curvature.hvp.CurvatureOperator`).
    k:
        Eigenvalues wanted at each end.
    tol:
        Relative residual tolerance. Some eigenvalue of :math:`A` lies within the residual of each
        estimate, so ``tol`` bounds the relative error (in practice it is about
        :math:`\mathrm{tol}^2 |\theta| / \text{gap}`).
    max_iter:
        Largest Krylov dimension (products); capped at ``n``. Certifying the residuals costs one
        more product per reported pair (and per certification that failed), counted in
        ``num_matvecs``.
    seed:
        Seed (or generator) of the Gaussian start vector.
    v0:
        Start vector (overrides ``seed``).
    return_vectors:
        Also return the unit Ritz vectors.

    Returns
    -------
    dict[str, EigenResult]
        Keys ``"LA"`` (descending), ``"SA"`` (ascending), ``"LM"`` (descending magnitude).

    Examples
    --------
    >>> A = torch.diag(torch.tensor([-3.0, 0.5, 1.0, 2.0], dtype=torch.float64))
    >>> r = lanczos_extremes(A, tol=1e-10)
    >>> [round(r[w].eigenvalues.item(), 8) for w in ("LA", "SA", "LM")]
    [2.0, -3.0, -3.0]
    """
    k, tol, run, floor_scale = _start(A, k, tol, max_iter, seed, v0)
    _iterate(run, k, tol, floor_scale, ("LA", "SA"))
    theta, S, _ = run.ritz()  # certify every reported pair first, so all three share one count
    _explicit(run, theta, S, torch.unique(torch.cat([_select(theta, w, k) for w in WHICH])))
    return {which: _result(run, which, k, tol, return_vectors) for which in WHICH}


def lanczos(
    A: Any,
    k: int = 1,
    *,
    which: str = "LA",
    tol: float = 1e-3,
    max_iter: int = 100,
    seed: int | torch.Generator | None = 0,
    v0: torch.Tensor | None = None,
    return_vectors: bool = False,
) -> EigenResult:
    r"""The ``k`` extreme eigenvalues of a symmetric operator by Lanczos.

    Runs Lanczos with full reorthogonalisation until the ``k`` wanted Ritz pairs satisfy
    :math:`\|A u_i - \theta_i u_i\|_2 \le \mathrm{tol}\,|\theta_i|`.

    Parameters
    ----------
    A:
        A symmetric ``(n, n)`` tensor or an operator with ``shape``, ``dtype``, ``device``, ``@``.
    k:
        Number of eigenvalues.
    which:
        ``"LA"`` largest algebraic (:math:`\lambda_{\max}`), ``"SA"`` smallest algebraic
        (:math:`\lambda_{\min}`), ``"LM"`` largest magnitude.
    tol, max_iter, seed, v0, return_vectors:
        As in :func:`lanczos_extremes`.

    Returns
    -------
    EigenResult
        Eigenvalues ordered descending (``"LA"``), ascending (``"SA"``) or by descending magnitude.

    Examples
    --------
    >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    >>> [round(x, 8) for x in lanczos(A, k=2, tol=1e-10).eigenvalues.tolist()]
    [10.0, 9.0]
    """
    if which not in WHICH:
        raise ValueError(f"Invalid which {which!r}; choose from {list(WHICH)}.")
    k, tol, run, floor_scale = _start(A, k, tol, max_iter, seed, v0)
    _iterate(run, k, tol, floor_scale, (which,))
    return _result(run, which, k, tol, return_vectors)
