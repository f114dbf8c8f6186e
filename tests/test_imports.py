"""Import order: ``import graphaug`` stays light, and DGL / PyGCL import after it.

DGL 2.1.0 cannot be imported as is on current torch (GraphBolt); graphaug's import hook
(:func:`graphaug._dgl.install_import_hook`) shims it just in time. Every check runs in a fresh
interpreter (``sys.executable``, the one running the tests) so that nothing imported by other
tests hides a failure; the skip checks ask that same interpreter what is installed.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def check(code: str) -> subprocess.CompletedProcess:
    result = run_python(code)
    assert result.returncode == 0, (f"exit {result.returncode}\n--- stdout\n{result.stdout}"
                                    f"\n--- stderr\n{result.stderr[-6000:]}")
    return result


def skip_unless_installed(module: str) -> None:
    probe = run_python(f"import importlib.util, sys\n"
                       f"sys.exit(0 if importlib.util.find_spec({module!r}) else 3)")
    if probe.returncode == 3:
        pytest.skip(f"{module} is not installed for {sys.executable}")
    assert probe.returncode == 0, probe.stderr


def test_import_hook_loads_dgl_lazily_and_it_works():
    skip_unless_installed("dgl")
    check("""
        import sys
        import graphaug._dgl as m
        m.install_import_hook()
        m.install_import_hook()  # idempotent
        assert sum(getattr(f, "_graphaug_dgl_shim", False) for f in sys.meta_path) == 1
        assert "dgl" not in sys.modules
        import dgl
        from dgl.nn.pytorch import GINConv
        g = dgl.batch([dgl.graph(([0], [1]))])
        assert g.batch_size == 1 and g.num_edges() == 1
        assert m.import_dgl() is dgl
    """)


def test_import_dgl_still_works_alone():
    skip_unless_installed("dgl")
    check("""
        import graphaug._dgl as m
        dgl = m.import_dgl()
        assert callable(dgl.batch)
    """)


def test_import_graphaug_does_not_import_dgl():
    check("""
        import sys
        import graphaug
        assert "dgl" not in sys.modules, "import graphaug imported dgl"
    """)


def test_import_graphaug_then_dgl():
    skip_unless_installed("dgl")
    check("""
        import graphaug
        import dgl
        from dgl.nn.pytorch import GINConv
        dgl.batch([dgl.graph(([0], [1]))])
    """)


def test_import_graphaug_then_pygcl():
    skip_unless_installed("GCL")
    check("""
        import graphaug
        import GCL
        from GCL.models import DualBranchContrast
    """)
