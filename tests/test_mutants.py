"""The mutation check's list stays current: every mutant's snippet is found exactly once in
the tree and every test it names exists (the full check, scripts/mutants.py, runs by hand)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_mutants():
    name = "graphaug_mutants_script"
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


mutants = _load_mutants()
MUTANTS = mutants.MUTANTS


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_snippet_is_found_exactly_once(mutant):
    assert mutants.snippet_count(ROOT, mutant) == 1, (
        f"{mutant.file}: the snippet of mutant {mutant.name!r} is not found exactly once; "
        "the code moved: update scripts/mutants.py")
    assert mutant.replacement != mutant.original
    for test in mutant.tests:
        path, *function = test.split("::")
        assert (ROOT / path).is_file(), test
        if function:
            assert f"def {function[0]}(" in (ROOT / path).read_text(encoding="utf-8"), test


def test_mutant_names_are_unique_and_apply_changes_one_place(tmp_path):
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    mutant = mutants.Mutant("demo", "pkg/a.py", "x = 1\n", "x = 2\n", ("tests",))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\ny = 1\n")
    assert mutants.snippet_count(tmp_path, mutant) == 1
    mutants.apply(tmp_path, mutant)
    assert (tmp_path / "pkg" / "a.py").read_text() == "x = 2\ny = 1\n"
    assert mutants.snippet_count(tmp_path, mutant) == 0
    assert mutants.snippet_count(tmp_path, mutants.Mutant("gone", "pkg/b.py", "", "", ())) == -1
