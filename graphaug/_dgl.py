"""Lazy, shimmed import of DGL.

DGL 2.1.0 (the newest Linux CPU wheel) imports its GraphBolt sub-package on `import dgl`;
GraphBolt ships compiled libraries only for torch <= 2.2.1 and needs `torchdata.datapipes`,
so `import dgl` fails on current torch. graphaug uses only DGL's core (graphs, batching,
`dgl.nn` convolutions), so on such a stack it registers an empty stand-in for
`dgl.graphbolt` before importing DGL and warns once. DGL 2.1.0 also falls back to
`setuptools.extern.packaging` (removed in setuptools >= 71); it is aliased to `packaging`.

Two ways in, one set of shims (`_apply_shims`):

* `import_dgl` applies the shims and imports DGL (graphaug's own DGL code uses it);
* `install_import_hook` puts a finder at the front of `sys.meta_path` that applies the
  same shims just before *anyone* imports DGL: the user's `import dgl` after
  `import graphaug`, or a library that hard-imports DGL (PyGCL's `import GCL`). Installing
  it imports nothing: DGL is loaded only when something asks for it, and the finder never
  loads a module itself (it always answers `None`, so the normal finders import DGL).
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
import types
import warnings

__all__ = ["import_dgl", "graphbolt_supported", "install_import_hook"]

_GRAPHBOLT_MAX_TORCH = (2, 2, 1)


def _torch_version() -> tuple[int, ...]:
    import torch  # here, not at import: graphaug's import (and graphaug --help) stays light

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


def _apply_shims(stacklevel: int = 3) -> None:
    """Prepare `sys.modules` so that `import dgl` succeeds without GraphBolt.

    Idempotent: the stand-in is registered (and the warning given) only once.
    `stacklevel` is counted from here; 3 = the caller of this function's caller.
    """
    _alias_setuptools_packaging()
    if not graphbolt_supported() and "dgl.graphbolt" not in sys.modules:
        stub = types.ModuleType("dgl.graphbolt")
        stub.__path__ = []  # a package with nothing in it
        stub.__doc__ = "graphaug stand-in: GraphBolt cannot load on this torch; unused here"
        sys.modules["dgl.graphbolt"] = stub
        import torch

        warnings.warn(f"graphaug: loading DGL without GraphBolt (it supports torch <= 2.2.1, "
                      f"this is torch {torch.__version__}); DGL's core, batching and dgl.nn "
                      "work, GraphBolt data loading does not", RuntimeWarning,
                      stacklevel=stacklevel)


# Set while graphaug itself looks DGL up, so that its own finder stays out of the way.
_lookup = threading.local()


def _dgl_installed() -> bool:
    if "dgl" in sys.modules:
        return True
    _lookup.active = True
    try:
        return importlib.util.find_spec("dgl") is not None
    except (ImportError, ValueError):
        return False
    finally:
        _lookup.active = False


class _DGLShimFinder(importlib.abc.MetaPathFinder):
    """Applies `_apply_shims` just before `dgl` is first imported; finds nothing."""

    _graphaug_dgl_shim = True  # marker: recognised across reloads of this module

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "dgl" or "dgl" in sys.modules or getattr(_lookup, "active", False):
            return None
        if _dgl_installed():
            # stacklevel 3: past this method to the frame doing the import (the import
            # machinery's own frames are skipped by the warnings module).
            _apply_shims(stacklevel=3)
        return None  # let the normal finders import DGL

    def __repr__(self) -> str:
        return "<graphaug DGL import shim>"


def install_import_hook() -> None:
    """Make a later `import dgl` (by anyone) work on torch versions GraphBolt does not support.

    Puts a `importlib.abc.MetaPathFinder` at the front of `sys.meta_path` that, when
    `dgl` is about to be imported for the first time, applies the same shims as
    `import_dgl` (a stand-in `dgl.graphbolt`, `setuptools.extern.packaging` aliased to
    `packaging`) and otherwise does nothing. It does not import DGL. Calling it again does
    nothing.
    """
    if any(getattr(finder, "_graphaug_dgl_shim", False) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _DGLShimFinder())


def import_dgl():
    """Import and return the `dgl` module, without GraphBolt where it cannot load.

    Raises:
        ImportError: DGL is not installed (`pip install graphaug[dgl]`).
    """
    if "dgl" in sys.modules and hasattr(sys.modules["dgl"], "batch"):
        return sys.modules["dgl"]
    if not _dgl_installed():
        raise ImportError("DGL is not installed: pip install 'graphaug[dgl]' (dgl==2.1.0)")
    _apply_shims(stacklevel=3)
    import dgl
    return dgl
