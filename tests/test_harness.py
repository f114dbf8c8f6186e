"""The experiments' runner (graphaug.experiments.runner): no stale numbers from the run
cache, checkpoints that refuse another configuration, unreadable files moved aside and
recomputed, wall time summed across resumes."""
from __future__ import annotations

import json
import time

import pytest
import torch
from torch import nn

from graphaug.experiments.options import number
from graphaug.experiments.runner import (NUMERICS_VERSION, RunCache, TUDatasets, spec_key,
                                      tu_identity)
from graphaug.cli import run_experiment
from graphaug.contrastive import MethodConfig, pretrain, train
from graphaug.utils import CorruptFileWarning

TINY = ["--datasets", "MUTAG", "--methods", "graphcl", "--seeds", "0", "--epochs", "1",
        "--hidden", "16", "--layers", "2", "--batch-size", "64", "--no-progress"]


def tu(data_dir, out, *extra):
    return run_experiment("tu", ["--root", str(data_dir), "--out", str(out), *TINY, *extra])


def graphcl_test(report) -> float:
    return report["datasets"]["MUTAG"]["methods"]["graphcl"]["per_seed"][0]


def test_changed_flags_never_read_the_old_run(data_dir, tmp_path, capsys, run_cache):
    out = tmp_path / "out"
    first = graphcl_test(tu(data_dir, out))
    assert "read from the run cache" not in capsys.readouterr().out
    # each flag changes the key: the run is computed again (its line is printed), never read
    for flag, value in (("--epochs", "2"), ("--hidden", "8"), ("--layers", "3"),
                        ("--lr", "0.001"), ("--input-aug", "dnodes")):
        report = tu(data_dir, out, flag, value)
        text = capsys.readouterr().out
        assert "MUTAG          seed 0 graphcl none" in text, flag
        assert "read from the run cache" not in text, flag
        run = json.loads(next(iter(sorted((run_cache / "tu" / "runs").rglob("seed0.json"),
                                          key=lambda p: p.stat().st_mtime)[-1:])).read_text())
        field = {"--layers": "num_layers"}.get(flag, flag[2:].replace("-", "_"))
        assert str(run["spec"]["method"][field]) == value
        assert report["datasets"]["MUTAG"]["methods"]["graphcl"]["label"] == "graphcl none"
    assert len(list((run_cache / "tu" / "runs").rglob("seed0.json"))) == 6
    assert not list(out.rglob("*.pt")) and not list(run_cache.rglob("*.pt"))
    again = graphcl_test(tu(data_dir, out))  # the first configuration: read back, same number
    text = capsys.readouterr().out
    assert again == first and "1 run(s) were read from the run cache" in text
    assert "1 run(s) were read" in (out / "results.md").read_text()


def test_a_corrupt_or_empty_cache_file_is_moved_aside_and_recomputed(data_dir, tmp_path, capsys,
                                                                     run_cache):
    out = tmp_path / "out"
    first = graphcl_test(tu(data_dir, out))
    (path,) = (run_cache / "tu" / "runs").rglob("seed0.json")
    for content in ("", '{"test": 0.99, "val'):
        path.write_text(content)
        with pytest.warns(CorruptFileWarning, match=str(path)):
            again = graphcl_test(tu(data_dir, out))
        assert "read from the run cache" not in capsys.readouterr().out
        assert again == first and json.loads(path.read_text())["test"] == first
    assert path.with_name("seed0.json.corrupt").read_text() == ""
    assert path.with_name("seed0.json.corrupt.1").read_text() == '{"test": 0.99, "val'


def test_run_cache_keys_and_contents(tmp_path):
    cache, calls = RunCache(tmp_path / "tu"), []

    def compute(checkpoint):
        calls.append(checkpoint)
        checkpoint.write_bytes(b"weights")
        checkpoint.with_suffix(".log.json").write_text("{}")
        return {"acc": len(calls)}

    spec = {"config": {"lr": 0.1, "hidden": [8, 8]}, "seed": 0}
    parts = ("data", "method [a@2]", "seed0")
    assert cache.run(parts, spec, compute, sidecars=(".log.json",))["acc"] == 1
    assert not (tmp_path / "tu" / "checkpoints").exists()  # removed with their folders
    assert cache.run(parts, {"seed": 0, "config": {"hidden": [8, 8], "lr": 0.1}}, compute)[
        "acc"] == 1  # key order does not matter
    assert cache.reads == 0  # written by this invocation, not an earlier one
    assert cache.run(parts, {**spec, "seed": 1}, compute)["acc"] == 2
    stored = json.loads(cache.path(parts, spec).read_text())
    assert stored["spec"]["numerics"] == NUMERICS_VERSION and stored["cache_key"] == \
        spec_key(stored["spec"]) and stored["spec"]["threads"] == torch.get_num_threads()
    # another thread count is another run (its bits differ): computed, never read
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert cache.run(parts, spec, compute)["acc"] == 3
    finally:
        torch.set_num_threads(threads)
    later = RunCache(tmp_path / "tu")
    later.started = time.time() + 1
    assert later.run(parts, spec, compute)["acc"] == 1 and later.reads == 1
    # a file that does not carry its key is not read
    path = cache.path(parts, spec)
    path.write_text(json.dumps({**stored, "cache_key": "0" * 64}))
    with pytest.warns(CorruptFileWarning, match="cache key"):
        assert cache.run(parts, spec, compute)["acc"] == 4
    # every run served is one compact runs.jsonl line, replayed without computing
    lines = [json.loads(x) for x in cache.export(tmp_path / "runs.jsonl").read_text().splitlines()]
    assert {(tuple(x["parts"]), x["seed"], x["metrics"]["acc"]) for x in lines} == \
        {(parts, 0, 4), (parts, 1, 2)}
    replay = RunCache(tmp_path / "elsewhere", replay=tmp_path / "runs.jsonl")
    assert replay.run(parts, {**spec, "seed": 1}, compute)["acc"] == 2 and len(calls) == 4
    with pytest.raises(LookupError, match="has no run data/method"):
        replay.run(parts, {**spec, "seed": 2}, compute)


def test_bad_result_fields_are_named_moved_aside_and_recomputed(tmp_path):
    from graphaug.experiments.tu import CHECK

    cache = RunCache(tmp_path / "tu", check=CHECK)
    good = {"test": 0.8, "val": 0.7, "train_seconds": 1.0, "fold_test": [0.8],
            "fold_val": [0.7], "fold_C": [1.0]}
    parts, spec = ("MUTAG", "graphcl", "seed0"), {"seed": 0}
    assert cache.run(parts, spec, lambda _: good)["test"] == 0.8
    path = cache.path(parts, spec)
    stored = json.loads(path.read_text())
    for bad, message in (({"test": "abc"}, "test is 'abc', not a number"),
                         ({"test": None}, "test is None"),
                         ({"fold_val": [None, 0.5]}, "fold_val is .None, 0.5., not a list"),
                         ({"fold_C": None}, "fold_C is None, not a list")):
        path.write_text(json.dumps({**stored, **bad}))
        with pytest.warns(CorruptFileWarning, match=f"{path}.*{message}"):
            assert cache.run(parts, spec, lambda _: {**good, "test": 0.9})["test"] == 0.9
    missing = {k: v for k, v in stored.items() if k != "test"}
    path.write_text(json.dumps(missing))
    with pytest.warns(CorruptFileWarning, match="test is missing"):
        assert cache.run(parts, spec, lambda _: good)["test"] == 0.8
    assert len(list(path.parent.glob("seed0.json.corrupt*"))) == 5  # each kept for inspection


def test_identities(data_dir, tmp_path):
    identity = tu_identity("MUTAG", data_dir)
    assert identity["name"] == "MUTAG" and "MUTAG_A.txt" in identity["files"]
    with pytest.raises(Exception, match="out of range"):
        number(int, 1)("0")


def test_tu_datasets_load_each_set_once_with_self_loops_and_its_identity(data_dir, tmp_path):
    datasets = TUDatasets(data_dir, download=False)
    mutag = datasets("MUTAG")
    assert datasets("MUTAG") is mutag and "MUTAG" in repr(datasets)
    g = mutag.graphs[0]
    assert bool((g.edge_index[0] == g.edge_index[1]).any())  # self-loops, as the benchmarks train
    assert datasets.identity("MUTAG") == tu_identity("MUTAG", data_dir)
    with pytest.raises(FileNotFoundError, match="NCI1"):
        TUDatasets(tmp_path, download=False).identity("NCI1")


@pytest.fixture
def small():
    return MethodConfig("deepaug", epochs=3, batch_size=64, hidden=16, num_layers=2)


def test_resume_under_another_config_names_the_file_and_fields(mutag, tmp_path, small):
    ckpt = tmp_path / "run.pt"
    pretrain(mutag.graphs, 7, small, seed=0, checkpoint=ckpt, stop_after=1)
    for changed, field in ((dict(lr=0.001), "method.lr: 0.01 -> 0.001"),
                           (dict(hidden=32), "method.hidden: 16 -> 32")):
        cfg = MethodConfig(**{**small.to_dict(), **changed})
        with pytest.raises(ValueError, match=field) as err:
            pretrain(mutag.graphs, 7, cfg, seed=0, checkpoint=ckpt)
        assert str(ckpt) in str(err.value)
    with pytest.raises(ValueError, match="seed: 0 -> 1"):
        pretrain(mutag.graphs, 7, small, seed=1, checkpoint=ckpt)
    with pytest.raises(ValueError, match=r"dataset: None -> 'MUTAG'"):
        pretrain(mutag.graphs, 7, small, seed=0, checkpoint=ckpt, config={"dataset": "MUTAG"})
    _, history = pretrain(mutag.graphs, 7, small, seed=0, checkpoint=ckpt)  # same config: resumes
    assert len(history) == 3 and history.resumed_from == 1


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_an_unreadable_checkpoint_is_moved_aside_and_training_restarts(mutag, tmp_path, small,
                                                                       content):
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(content)
    with pytest.warns(CorruptFileWarning, match=str(ckpt)):
        _, history = pretrain(mutag.graphs, 7, small, seed=0, checkpoint=ckpt)
    _, fresh = pretrain(mutag.graphs, 7, small, seed=0)
    assert history == fresh and history.resumed_from == 0
    assert ckpt.with_name("run.pt.corrupt").read_bytes() == content
    assert torch.load(ckpt, weights_only=False)["epoch"] == 3


class Quadratic(nn.Linear):
    """``model(batch)`` is a loss, as :func:`train` wants."""

    def forward(self, batch):
        return super().forward(batch).pow(2).mean()


def test_train_seconds_add_up_across_a_resume(tmp_path):
    wrapper = Quadratic(2, 1)

    def batches(epoch):
        time.sleep(0.1)  # every epoch costs at least 0.1 s
        yield torch.ones(4, 2)

    opt = torch.optim.SGD(wrapper.parameters(), lr=0.1)
    ckpt = tmp_path / "t.pt"
    first = train(wrapper, batches, opt, 4, checkpoint=ckpt, stop_after=2, progress=False)
    assert 0.2 <= first.seconds < 0.4 + 1.0
    start = time.perf_counter()
    rest = train(wrapper, batches, opt, 4, checkpoint=ckpt, progress=False)
    this_call = time.perf_counter() - start
    assert rest.resumed_from == 2 and len(rest) == 4
    assert rest.seconds >= 0.4 and rest.seconds > this_call + 0.15  # the first call's counted
    assert torch.load(ckpt, weights_only=False)["seconds"] == pytest.approx(rest.seconds, abs=0.05)


def test_the_cli_runs_the_installed_experiment_module(capsys):
    import graphaug.experiments.tu as tu
    with pytest.raises(SystemExit) as err:
        run_experiment("tu", ["--help"])
    assert err.value.code == 0 and "usage: graphaug tu" in capsys.readouterr().out
    assert tu.__name__ == "graphaug.experiments.tu"  # a package module, no load by path
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        run_experiment("nope", [])
