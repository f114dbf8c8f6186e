"""graphaug tu's typed configuration (TUConfig, validated once) and pluggable selection."""
import numpy as np
import pytest

from graphaug.experiments import tu
from graphaug.experiments.tu import TUConfig, register_selection


def test_config_normalises_and_validates_once():
    cfg = TUConfig(datasets=["MUTAG"], seeds=[0, 1], transforms=["dropout:0.25", ("pca", -1)])
    assert cfg.datasets == ("MUTAG",) and cfg.seeds == (0, 1)
    assert cfg.transforms == (("dropout", 0.25), ("pca", -1.0))
    assert cfg.targets == (0, 1, 2, 3, 4)  # every target of 3 layers
    assert TUConfig(targets=["recommended"]).targets == "recommended"
    with pytest.raises(ValueError, match="datasets: '../x' is not a dataset name"):
        TUConfig(datasets=["../x"])
    with pytest.raises(ValueError, match=r"seed 4294967296 out of range"):
        TUConfig(seeds=[2 ** 32])
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got inf"):
        TUConfig(lr=float("inf"))
    with pytest.raises(ValueError, match="bad spec 'dropout:1.5'"):
        TUConfig(transforms=["dropout:1.5"])
    with pytest.raises(ValueError, match="pca:3@1 needs at least 6 features"):
        TUConfig(transforms=["pca:3"], hidden=4)
    with pytest.raises(ValueError, match=r"--targets \[7\]: with --layers 3"):
        TUConfig(targets=[7])
    with pytest.raises(ValueError, match="selection 'nope'"):
        TUConfig(selection="nope")
    with pytest.raises(ValueError, match="no datasets"):
        tu.run(TUConfig())


def test_a_registered_selection_strategy_runs_from_the_command_line(data_dir, tmp_path):
    seen = []

    def first_candidate(runner, cfg, name, method):
        """Always the first swept candidate (no labels read at all)."""
        sweep = tu.candidates(runner, cfg, name, method)
        runs = [runner.run(name, sweep[0], s) for s in cfg.seeds]
        seen.append((name, method, sweep[0].label()))
        per_seed = [r["test"] for r in runs]
        return {"label": sweep[0].label(), "test_mean": 100 * float(np.mean(per_seed)),
                "test_std": 100 * float(np.std(per_seed)), "per_seed": per_seed,
                "train_seconds": float(np.mean([r["train_seconds"] for r in runs]))}

    register_selection("first", first_candidate)
    try:
        report = tu.main(["--root", str(data_dir), "--datasets", "MUTAG", "--epochs", "1",
                          "--seeds", "0", "--methods", "deepaug", "--targets", "2", "1",
                          "--transforms", "dropout:0.25", "--hidden", "8", "--selection",
                          "first", "--out", str(tmp_path), "--no-progress"])
    finally:
        tu.SELECTIONS.pop("first")
    assert seen == [("MUTAG", "deepaug", "deepaug dropout:0.25@2")]
    entry = report["datasets"]["MUTAG"]["methods"]["deepaug"]
    assert entry["label"] == "deepaug dropout:0.25@2" and len(entry["per_seed"]) == 1
    assert "deep-aug config chosen by first" in (tmp_path / "results.md").read_text()
    with pytest.raises(ValueError, match="use an identifier other than 'seed'"):
        register_selection("seed", first_candidate)


def test_ogb_config_validates_once():
    from graphaug.experiments.ogb import OGBConfig

    cfg = OGBConfig(datasets=["ogbg-molbace"], deepaug=["dropout:0.25@2", ("pca", -1, 3)])
    assert cfg.deepaug == (("dropout", 0.25, 2), ("pca", -1.0, 3)) and cfg.seeds == (0, 1, 2)
    for kwargs, message in (({"temperature": float("inf")}, "temperature must be a finite"),
                            ({"temperature": 0}, "temperature must be a finite number > 0"),
                            ({"c_grid": [1.0, float("nan")]}, r"c_grid\[1\] must be a finite"),
                            ({"ft_dropout": 1.0}, r"ft_dropout must be in \[0, 1\)"),
                            ({"seeds": [-1]}, "seed -1 out of range"),
                            ({"deepaug": ["dropout:0.25@9"]}, r"--deepaug targets \[9\]"),
                            ({"deepaug": ["pca:2@1"], "hidden": 4}, "needs at least 6"),
                            ({"datasets": ["a/b"]}, "not a dataset name")):
        with pytest.raises(ValueError, match=message):
            OGBConfig(**kwargs)
