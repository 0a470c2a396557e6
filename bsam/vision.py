"""torchvision, imported so that its models and transforms work even beside a mismatched torch.

torchvision's Python parts (``torchvision.models``, ``torchvision.transforms.v2``) are what this
project uses; its compiled operators (``nms``, ``roi_align``, ...) are not. When the compiled
extension cannot load because the installed torchvision wheel was built against another torch
build (e.g. PyPI's CUDA-built ``torchvision==0.28.0`` beside the CPU ``torch==2.13.0+cpu``), a
plain ``import torchvision`` fails with ``RuntimeError: operator torchvision::nms does not
exist``: its fake-tensor registrations need the operators the extension would have defined.
:func:`import_torchvision` then imports torchvision without those two registration modules, so
models and transforms work; the detection operators stay unavailable (:data:`COMPILED_OPS` is
False) and calling one raises torch's own error. With a matching torch/torchvision pair (the
normal case on a user's machine) this is a plain import.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["import_torchvision", "COMPILED_OPS"]

#: Whether torchvision's compiled operators loaded (None until :func:`import_torchvision` ran).
COMPILED_OPS: bool | None = None

# The modules of torchvision that register kernels for its compiled operators.
_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")


def import_torchvision() -> Any:
    """Import and return the ``torchvision`` module.

    Raises
    ------
    ImportError
        When torchvision is not installed, with the install command of the matching pair.
    """
    global COMPILED_OPS
    try:
        import torchvision
    except ImportError as exc:
        raise ImportError(
            "torchvision is not installed; install the release that matches your torch "
            "(e.g. pip install torch==2.13.0 torchvision==0.28.0)"
        ) from exc
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        _forget_torchvision()
        for name in _REGISTRATIONS:
            sys.modules[name] = types.ModuleType(name)
        import torchvision

        COMPILED_OPS = False
        return torchvision
    if COMPILED_OPS is None:
        COMPILED_OPS = _has_ops(torchvision)
    return torchvision


def _has_ops(torchvision: Any) -> bool:
    """Whether torchvision reports its compiled extension as loaded."""
    extension = getattr(torchvision, "extension", None)
    has_ops = getattr(extension, "_has_ops", None)
    return bool(has_ops()) if callable(has_ops) else False


def _forget_torchvision() -> None:
    """Drop the half-imported torchvision modules a failed import left in ``sys.modules``."""
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
