"""Committed results: every experiment keeps a compact runs.jsonl from which its tables are
rebuilt, computing nothing; the per-run cache lives outside git."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from graphaug.experiments.rebuild import main as rebuild, recorded_command, table_lines
from graphaug.experiments.runner import default_cache

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def test_a_committed_experiment_is_rebuilt_from_its_runs_jsonl(data_dir, tmp_path, capsys):
    folder = RESULTS / "tu_sweep_mutag"  # 510 runs: MUTAG, 10 seeds, 25 configs x 2 methods
    result = rebuild([str(folder), "--root", str(data_dir), "--out", str(tmp_path)])
    assert result == {"protocol": "tu", "rows": 34, "identical": True}
    committed = table_lines((folder / "results.md").read_text())
    assert table_lines((tmp_path / "results.md").read_text()) == committed
    assert "| MUTAG | 86.80 ± 1.34 | 89.01 | 88.35 ± 1.32 |" in (tmp_path / "results.md"
                                                                ).read_text()
    assert "510 run(s) were read" in capsys.readouterr().out  # nothing trained


def test_rebuild_refuses_what_it_cannot_replay(tmp_path, capsys):
    assert recorded_command("OMP_NUM_THREADS=1 python benchmarks/tu.py --root R --datasets "
                            "MUTAG --workers 2 --no-progress --out O") == \
        ("tu", ["--datasets", "MUTAG", "--select", "validation-deep"])  # its old selection
    assert recorded_command("graphaug tu --datasets MUTAG --out O") == \
        ("tu", ["--datasets", "MUTAG"])
    assert recorded_command("graphaug ogb --datasets ogbg-molhiv --out O") == \
        ("ogb", ["--datasets", "ogbg-molhiv"])
    with pytest.raises(ValueError, match="cannot replay"):
        recorded_command("python benchmarks/speed.py --out O")
    with pytest.raises(SystemExit):
        rebuild([str(tmp_path)])
    assert "needs runs.jsonl" in capsys.readouterr().err


def test_no_per_run_cache_file_is_tracked_and_every_experiment_has_its_runs():
    tracked = subprocess.run(["git", "ls-files", "benchmarks/results"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    assert not [f for f in tracked if "/runs/" in f or "_runs/" in f]
    jsonl = [f for f in tracked if f.endswith("runs.jsonl")]
    assert len(jsonl) >= 30
    for name in jsonl:
        first = json.loads((ROOT / name).read_text().splitlines()[0])
        assert {"parts", "label", "seed", "spec", "metrics", "seconds"} <= set(first), name


def test_the_run_cache_lives_outside_the_checkout(monkeypatch, tmp_path):
    from graphaug.data import cache_dir

    monkeypatch.setenv("GRAPHAUG_CACHE", str(tmp_path / "root"))  # one root, two subfolders
    assert default_cache() == tmp_path / "root" / "runs"
    assert cache_dir() == tmp_path / "root" / "processed"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # GRAPHAUG_CACHE still wins
    assert default_cache() == tmp_path / "root" / "runs"
    monkeypatch.delenv("GRAPHAUG_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "graphaug" / "processed"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache() == tmp_path / "graphaug" / "runs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache() == Path.home() / ".cache" / "graphaug" / "runs"
    assert not default_cache().is_relative_to(ROOT)
