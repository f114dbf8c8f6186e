"""The package as users get it: the library never imports the experiments, and a built wheel,
installed into a fresh environment, runs graphaug tu from a folder outside the checkout."""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_dataset

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "graphaug"


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of every module path imports (relative imports resolved)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    package = parts if path.name == "__init__.py" else parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_library_never_imports_the_experiments():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("experiments/") or relative == "cli.py":
            continue
        hits = sorted(n for n in _imported_modules(path)
                      if n == "graphaug.experiments" or n.startswith("graphaug.experiments."))
        if hits:
            offenders.append(f"{relative}: {hits}")
    assert not offenders, "library modules import graphaug.experiments: " + "; ".join(offenders)
    # the check itself sees such an import (relative and absolute)
    probe = PACKAGE / "evaluate.py"
    assert "graphaug.select" in _imported_modules(PACKAGE / "experiments" / "tu.py")
    assert "graphaug.utils" in _imported_modules(probe)


@pytest.mark.slow
def test_the_built_wheel_runs_graphaug_tu_outside_the_checkout(tmp_path):
    """Build the wheel from a copy of the sources, install it (no dependencies: they come from
    the running interpreter's site-packages) into a fresh venv, and run the documented one-minute
    command from a folder that is not the checkout."""
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source / "graphaug",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRAPHAUG_DATA")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")

    def run(*argv, cwd=tmp_path, timeout=300):
        done = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, env=env)
        assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", source,
        "-w", tmp_path / "dist")
    (wheel,) = (tmp_path / "dist").glob("graphaug-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    python, graphaug = venv / "bin" / "python", venv / "bin" / "graphaug"
    run(python, "-m", "pip", "install", "--no-deps", "--ignore-installed", wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run(python, "-c", "import graphaug, graphaug.experiments.tu as tu; "
                "print(graphaug.__file__); print(tu.__file__)", cwd=work).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # the wheel's, not ours
    data = copy_dataset(tmp_path / "data", "TU", "MUTAG")
    out = tmp_path / "out"
    run(graphaug, "tu", "--datasets", "MUTAG", "--seeds", "0", "--epochs", "1", "--root", data,
        "--out", out, "--targets", "2", "--transforms", "dropout:0.25", cwd=work, timeout=600)
    report = json.loads((out / "results.json").read_text())
    assert set(report["datasets"]["MUTAG"]["methods"]) == {"graphcl", "deepaug",
                                                           "graphcl+deepaug"}
    assert "| MUTAG |" in (out / "results.md").read_text()
    assert list(work.iterdir()) == []  # nothing written into the current folder
