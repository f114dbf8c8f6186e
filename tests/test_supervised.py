"""graphaug.experiments.supervised (claim b): the paired report and the learning-rate schedule."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch

from conftest import load_benchmark


@pytest.fixture(scope="module")
def supervised():
    return load_benchmark("supervised")


def test_supervised_report_pairs_every_target_with_no_augmentation(supervised, data_dir,
                                                                   tmp_path):
    report = supervised.main(["--root", str(data_dir), "--datasets", "MUTAG", "--seeds", "0",
                              "--epochs", "2", "--targets", "0", "2", "--lr-step", "1",
                              "--out", str(tmp_path), "--no-progress"])
    entry = report["datasets"]["MUTAG"]
    assert list(entry) == ["none", "dropout:0.25@0", "dropout:0.25@2"]
    for key, e in entry.items():
        assert len(e["per_fold"]) == 10 and all(0 <= a <= 1 for a in e["per_fold"])
        assert e["mean"] == pytest.approx(100 * np.mean(e["per_fold"]))
        if key != "none":  # paired per fold: the mean difference of the same folds
            diff = np.subtract(e["per_fold"], entry["none"]["per_fold"])
            assert e["vs_none"]["mean"] == pytest.approx(100 * diff.mean())
    text = (tmp_path / "supervised.md").read_text()
    assert "Adam lr 0.01 x 0.5 every 1 epochs, batch 128" in text
    assert json.loads((tmp_path / "supervised.json").read_text())["datasets"]["MUTAG"]


def test_supervised_learning_rate_is_halved_every_lr_step_epochs(supervised, mutag,
                                                                 monkeypatch):
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    args = types.SimpleNamespace(hidden=8, layers=2, p=0.25, lr=0.01, epochs=4, batch_size=64,
                                 lr_step=2, lr_gamma=0.5)
    train, test = np.arange(150), np.arange(150, 188)
    supervised.fold_accuracy(mutag, train, test, None, args, seed=0)
    per_epoch = len(seen) // 4  # 150 graphs, batch 64: 3 steps per epoch
    assert per_epoch == 3 and len(seen) == 12
    assert seen == pytest.approx([0.01] * 6 + [0.005] * 6)


def test_supervised_rejects_a_target_the_encoder_does_not_have(supervised, data_dir, tmp_path,
                                                               capsys):
    with pytest.raises(SystemExit):
        supervised.main(["--root", str(data_dir), "--targets", "4", "--layers", "3",
                         "--out", str(tmp_path)])
    assert "targets 0..3" in capsys.readouterr().err


def test_supervised_runs_are_cached_and_workers_give_the_same_folds(supervised, data_dir,
                                                                    tmp_path):
    argv = ["--root", str(data_dir), "--datasets", "MUTAG", "--seeds", "0", "--epochs", "1",
            "--targets", "1", "--no-progress"]
    one = supervised.main([*argv, "--out", str(tmp_path / "one"), "--cache", str(tmp_path / "c1")])
    argv += ["--cache", str(tmp_path / "c2")]  # the workers' runs: computed afresh
    two = supervised.main([*argv, "--out", str(tmp_path / "two"), "--workers", "2"])
    assert two["datasets"] == one["datasets"]
    cached = tmp_path / "c2" / "supervised" / "runs"
    runs = sorted(p.relative_to(cached).parts[:2] for p in cached.rglob("seed0.json"))
    assert runs == [("MUTAG", "dropout_0.25_1"), ("MUTAG", "none")]
    # an interrupted or repeated invocation reads what was made, and says so
    again = supervised.main([*argv, "--out", str(tmp_path / "two")])
    assert again["datasets"] == one["datasets"]
    assert "2 run(s) were read from the run cache" in (tmp_path / "two" / "supervised.md"
                                                       ).read_text()
    # another schedule is another run, not a stale read
    supervised.main([*argv, "--out", str(tmp_path / "two"), "--lr", "0.02"])
    assert "read from the run cache" not in (tmp_path / "two" / "supervised.md").read_text()
    assert len(list(cached.rglob("seed0.json"))) == 4
