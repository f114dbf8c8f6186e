"""Lazy, shimmed import of DGL.

DGL 2.1.0 (the newest Linux CPU wheel) imports its GraphBolt sub-package on ``import dgl``;
GraphBolt ships compiled libraries only for torch <= 2.2.1 and needs ``torchdata.datapipes``,
so ``import dgl`` fails on current torch. graphaug uses only DGL's core (graphs, batching,
``dgl.nn`` convolutions), so on such a stack it registers an empty stand-in for
``dgl.graphbolt`` before importing DGL and warns once. DGL 2.1.0 also falls back to
``setuptools.extern.packaging`` (removed in setuptools >= 71); it is aliased to ``packaging``.
"""
from __future__ import annotations

import importlib.util
import sys
import types
import warnings

import torch

__all__ = ["import_dgl", "graphbolt_supported"]

_GRAPHBOLT_MAX_TORCH = (2, 2, 1)


def _torch_version() -> tuple[int, ...]:
    parts = []
    for piece in torch.__version__.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def graphbolt_supported() -> bool:
    """Whether DGL's GraphBolt can load with the installed torch/torchdata."""
    if _torch_version() > _GRAPHBOLT_MAX_TORCH:
        return False
    try:
        return importlib.util.find_spec("torchdata.datapipes") is not None
    except ModuleNotFoundError:
        return False


def _alias_setuptools_packaging() -> None:
    try:
        import setuptools.extern.packaging  # noqa: F401
        return
    except ImportError:
        pass
    try:
        import packaging
        import packaging.version
    except ImportError:  # DGL then imports packaging itself and reports the failure
        return
    extern = sys.modules.get("setuptools.extern") or types.ModuleType("setuptools.extern")
    extern.packaging = packaging
    sys.modules.setdefault("setuptools.extern", extern)
    sys.modules["setuptools.extern.packaging"] = packaging
    sys.modules["setuptools.extern.packaging.version"] = packaging.version


def import_dgl():
    """Import and return the ``dgl`` module, without GraphBolt where it cannot load.

    Raises:
        ImportError: DGL is not installed (``pip install graphaug[dgl]``).
    """
    if "dgl" in sys.modules and hasattr(sys.modules["dgl"], "batch"):
        return sys.modules["dgl"]
    if importlib.util.find_spec("dgl") is None:
        raise ImportError("DGL is not installed: pip install 'graphaug[dgl]' (dgl==2.1.0)")
    _alias_setuptools_packaging()
    if not graphbolt_supported() and "dgl.graphbolt" not in sys.modules:
        stub = types.ModuleType("dgl.graphbolt")
        stub.__path__ = []  # a package with nothing in it
        stub.__doc__ = "graphaug stand-in: GraphBolt cannot load on this torch; unused here"
        sys.modules["dgl.graphbolt"] = stub
        warnings.warn(f"graphaug: loading DGL without GraphBolt (it supports torch <= 2.2.1, "
                      f"this is torch {torch.__version__}); DGL's core, batching and dgl.nn "
                      "work, GraphBolt data loading does not", RuntimeWarning, stacklevel=2)
    import dgl
    return dgl
