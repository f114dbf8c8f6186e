"""graphaug tu: runs on worker processes, and the target chosen by the recommendation."""
import json

import numpy as np
import pytest

from conftest import load_benchmark
from graphaug.experiments.runner import run_in_processes
from graphaug.select import recommend_layer

TINY = ["--datasets", "MUTAG", "--epochs", "1", "--seeds", "0", "1", "--targets", "recommended",
        "--transforms", "dropout:0.25", "--no-progress"]


def square_factory(offset):
    """A worker factory (module level: each spawned process imports it by reference)."""
    import os
    return lambda a, b: (a * b + offset, os.getpid())


def touch_factory(folder):
    from pathlib import Path

    def run(i):
        if i in (1, 3):
            raise ValueError(f"bad task {i}")
        Path(folder, str(i)).touch()
        return i
    return run


def test_run_in_processes_keeps_order_and_state():
    out = run_in_processes(square_factory, 10, [(i, i) for i in range(6)], workers=2)
    assert [v for v, _ in out] == [10 + i * i for i in range(6)]
    assert all(pid != __import__("os").getpid() for _, pid in out)  # computed elsewhere
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_in_processes(square_factory, 0, [(1, 1)], workers=0)


def test_run_in_processes_runs_every_task_then_names_the_failures(tmp_path):
    with pytest.raises(RuntimeError, match=r"2 of 6 tasks failed.*\(1,\): ValueError: bad "
                       r"task 1; \(3,\): ValueError: bad task 3") as info:
        run_in_processes(touch_factory, str(tmp_path), [(i,) for i in range(6)], workers=2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["0", "2", "4", "5"]
    assert "bad task 1" in str(info.value.__cause__)


def test_recommended_target_on_two_workers_equals_one_process(data_dir, tmp_path):
    tu = load_benchmark("tu")
    one = tu.main(["--root", str(data_dir), *TINY, "--out", str(tmp_path / "one"),
                   "--cache", str(tmp_path / "c1")])
    two = tu.main(["--root", str(data_dir), *TINY, "--workers", "2",
                   "--out", str(tmp_path / "two"), "--cache", str(tmp_path / "c2")])
    a, b = one["datasets"]["MUTAG"], two["datasets"]["MUTAG"]
    assert a["recommendation"] == b["recommendation"]
    for method in ("graphcl", "deepaug", "graphcl+deepaug"):
        assert a["methods"][method]["per_seed"] == b["methods"][method]["per_seed"]
    # the recommendation is recommend_layer on the mean of the seeds' graphcl CKA matrices,
    # and the deep-aug runs used exactly that target
    runs = [json.loads(p.read_text()) for p in (tmp_path / "c2").glob("tu/runs/**/seed*.json")]
    ckas = [r["layer_cka"] for r in sorted(runs, key=lambda r: r["seed"])
            if r["config"]["method"] == "graphcl"]
    assert len(ckas) == 2 and all("layer_cka" not in r for r in runs
                                  if r["config"]["method"] != "graphcl")
    mean = np.mean([c["matrix"] for c in ckas], axis=0)
    target, _ = recommend_layer(mean, ckas[0]["targets"])
    assert b["recommendation"]["target"] == target
    assert b["recommendation"]["per_seed"] == [
        recommend_layer(np.asarray(c["matrix"]), c["targets"])[0] for c in ckas]
    deep = [r for r in runs if r["config"]["method"] != "graphcl"]
    assert len(deep) == 4 and {r["config"]["target"] for r in deep} == {target}
    assert f"recommended target {target}" in (tmp_path / "two" / "results.md").read_text()
    assert "2 worker processes" in (tmp_path / "two" / "results.md").read_text()


@pytest.mark.parametrize("targets, message", [
    (["recommended", "2"], "--targets recommended stands alone"),
    (["two"], "bad target 'two'"),
    (["-1"], "bad target '-1'"),
])
def test_bad_targets_are_named(data_dir, tmp_path, targets, message, capsys):
    tu = load_benchmark("tu")
    with pytest.raises(SystemExit):
        tu.main(["--root", str(data_dir), "--datasets", "MUTAG", "--targets", *targets,
                 "--out", str(tmp_path)])
    assert message in capsys.readouterr().err
