import re

import pytest
import torch

from graphaug.cli import main
from graphaug.synthetic import synthetic_graphs


def test_synthetic_graphs_are_balanced_and_valid():
    ds = synthetic_graphs(60, seed=1)
    assert len(ds) == 60 and ds.num_features == 7 and ds.num_classes == 2
    assert ds.labels.sum() == 30
    for g in ds.graphs:
        assert g.x.size(0) >= 10 and (g.x.sum(1) == 1).all()
        assert (g.edge_index[0] == g.edge_index[1]).sum() == g.num_nodes  # one self-loop each
    assert synthetic_graphs(60, seed=1).graphs[5].edge_index.equal(ds.graphs[5].edge_index)
    with pytest.raises(ValueError, match=">= 20"):
        synthetic_graphs(10)


def test_demo_command_prints_the_comparison(capsys):
    main(["demo", "--seeds", "0", "--graphs", "60", "--epochs", "1"])
    out = capsys.readouterr().out
    for method in ("| graphcl |", "| deepaug |", "| graphcl+deepaug |"):
        assert method in out


@pytest.mark.parametrize("argv, message", [
    (["demo", "--seeds", "-1"], "--seeds: -1 is out of range: need 0 <= value"),
    (["demo", "--epochs", "0"], "--epochs: 0 is out of range"),
    (["demo", "--graphs", "5"], "--graphs: 5 is out of range: need 20 <= value"),
    (["tu", "--root", "R", "--targets", "99"], "--targets [99]: with --layers 3 a target is 0"),
    (["tu", "--root", "R", "--layers", "2", "--targets", "4"], "0 (input) .. 3 (projection"),
    (["tu", "--root", "R", "--methods", "simclr"], "invalid choice: 'simclr'"),
    (["tu", "--root", "R", "--epochs", "0"], "--epochs: 0 is out of range: need 1 <= value"),
    (["tu", "--root", "R", "--hidden", "-4"], "--hidden: -4 is out of range"),
    (["tu", "--root", "R", "--lr", "0"], "--lr: 0 is out of range: need 0 < value"),
    (["tu", "--root", "R", "--batch-size", "1"], "--batch-size: 1 is out of range"),
    (["tu", "--root", "R", "--seeds", "x"], "--seeds: 'x' is not an integer"),
    (["tu", "--root", "R", "--transforms", "dropout:1.5"],
     "bad spec 'dropout:1.5': dropout p must be in [0, 1), got 1.5"),
    (["tu", "--root", "R", "--transforms", "pca:inf"], "bad spec 'pca:inf': pca k must be finite"),
    (["tu", "--root", "R", "--transforms", "nan"], "bad spec 'nan': unknown transform 'nan'"),
    (["tu", "--root", "R", "--transforms", "pca:3", "--hidden", "4"],
     "pca:3@1 needs at least 6 features at target 1 (ActivationPCA computes q = 6 principal "
     "directions), but --hidden 4 gives 4: use a width of 6 or more"),
    (["tu", "--root", "R", "--lr", "inf"], "--lr: 'inf' is not a finite number"),
    (["tu", "--root", "R", "--seeds", str(2 ** 32)], f"--seeds: {2 ** 32} is out of range"),
    (["tu", "--root", "R", "--datasets", "../../escape/deep"],
     "'../../escape/deep' is not a dataset name"),
    (["ogb", "--root", "R", "--temperature", "inf"], "--temperature: 'inf' is not a finite"),
    (["ogb", "--root", "R", "--temperature", "0"], "--temperature: 0 is out of range"),
    (["ogb", "--root", "R", "--c-grid", "1", "nan"], "--c-grid: 'nan' is not a finite number"),
    (["ogb", "--root", "R", "--deepaug", "pca:2@1", "--hidden", "4"],
     "--deepaug pca:2@1: pca:2@1 needs at least 6 features"),
    (["select-layer", "--seed", str(2 ** 32)], "--seed: 4294967296 is out of range"),
    (["tu", "--root", "R", "--input-aug", "rotate"], "invalid choice: 'rotate'"),
    (["ogb", "--root", "R", "--deepaug", "dropout:0.25"],
     "bad deep-aug candidate: bad spec 'dropout:0.25': no target; write it as dropout:0.25@T"),
    (["ogb", "--root", "R", "--deepaug", "dropout:0.25@7"], "--deepaug targets [7]"),
    (["ogb", "--root", "R", "--ft-epochs", "0"], "--ft-epochs: 0 is out of range"),
    (["ogb", "--root", "R", "--aug-ratio", "1"], "--aug-ratio: 1 is out of range"),
    (["ogb", "--root", "R", "--datasets", "ogbg-nope"], "not an OGB graph-property dataset"),
])
def test_bad_arguments_stop_at_the_command_line(argv, message, capsys, monkeypatch):
    import graphaug.experiments.ogb
    import graphaug.experiments.tu
    for module in (graphaug.experiments.tu, graphaug.experiments.ogb):
        monkeypatch.setattr(module, "pretrain", None)  # nothing may train
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_or_missing_datasets_are_named(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRAPHAUG_DATA", raising=False)
    with pytest.raises(SystemExit):
        main(["tu", "--root", str(tmp_path), "--datasets", "NOPE", "--no-download"])
    err = capsys.readouterr().err
    assert "--datasets NOPE" in err and str(tmp_path / "TU" / "NOPE" / "raw") in err
    monkeypatch.setattr("graphaug.data.DEFAULT_ROOT", tmp_path / "default")
    with pytest.raises(SystemExit):
        main(["tu", "--datasets", "NOPE", "--no-download"])  # no --root, no $GRAPHAUG_DATA
    assert str(tmp_path / "default" / "TU" / "NOPE" / "raw") in capsys.readouterr().err


def test_tu_help_examples_run(data_dir, tmp_path, capsys):
    import shlex

    with pytest.raises(SystemExit) as err:
        main(["tu", "--help"])
    assert err.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: graphaug tu") and "--no-download" in text
    example = next(line.strip() for line in text.splitlines()  # the first: one minute
                   if line.strip().startswith("graphaug tu "))
    argv = [str(data_dir) if a == "/tmp/graphaug-data" else
            str(tmp_path / "out") if a == "/tmp/graphaug-tu" else a
            for a in shlex.split(example)[1:]]
    assert str(data_dir) in argv  # the example's data root is the copy, not shared/datasets
    main(argv + ["--no-progress"])
    table = (tmp_path / "out" / "results.md").read_text()
    assert "graphaug tu --root" in table.splitlines()[2]  # after any OMP_/HF_ variables set
    assert "| MUTAG |" in table and "read from the run cache" not in table
    with pytest.raises(SystemExit) as err:
        main(["ogb", "--help"])
    assert err.value.code == 0 and "graphaug ogb --root /tmp/graphaug-data" in \
        capsys.readouterr().out


def test_experiments_run_as_modules(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "graphaug.experiments.tu", "--root",
                           str(tmp_path), "--targets", "9"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 2 and "graphaug tu: error: --targets [9]" in done.stderr


def test_select_layer_fresh_run_and_checkpoint(tmp_path, capsys, data_dir, mutag):
    from graphaug.cli import main
    from graphaug.contrastive import MethodConfig, pretrain
    from graphaug.synthetic import synthetic_graphs
    out = tmp_path / "cka"
    main(["select-layer", "--epochs", "1", "--graphs", "60", "--out", str(out)])
    text = capsys.readouterr().out
    assert "recommended target:" in text and (out / "cka_heatmap.png").is_file()
    assert f"heatmap: {out / 'cka_heatmap.png'}" in text and list(out.iterdir()) == \
        [out / "cka_heatmap.png"]  # everything under --out, nothing beside it
    ds = synthetic_graphs(60)
    ckpt = tmp_path / "run.pt"
    pretrain(ds.graphs, ds.num_features, MethodConfig("graphcl", epochs=1), 0, checkpoint=ckpt)
    with pytest.raises(SystemExit, match="does not record its dataset: name it with --dataset"):
        main(["select-layer", "--checkpoint", str(ckpt), "--out", str(out)])
    # named with --dataset, but trained on 7 features: PTC_MR's do not fit, said so
    with pytest.raises(SystemExit, match=r"does not fit PTC_MR \(\d+ input features\)"):
        main(["select-layer", "--root", str(data_dir), "--dataset", "PTC_MR", "--checkpoint",
              str(ckpt), "--out", str(out)])
    # a checkpoint that records its dataset: select-layer reads MUTAG, not generated graphs
    ckpt = tmp_path / "mutag.pt"
    pretrain(mutag.graphs[:64], mutag.num_features, MethodConfig("graphcl", epochs=1), 0,
             checkpoint=ckpt, config={"dataset": {"name": "MUTAG"}})
    main(["select-layer", "--root", str(data_dir), "--checkpoint", str(ckpt), "--out", str(out)])
    text = capsys.readouterr().out
    assert f"checkpoint {ckpt}: dataset MUTAG" in text and "recommended target:" in text
    with pytest.raises(SystemExit, match="trained on MUTAG, not --dataset PTC_MR"):
        main(["select-layer", "--root", str(data_dir), "--dataset", "PTC_MR", "--checkpoint",
              str(ckpt)])
    bad = tmp_path / "bad.pt"
    torch.save({"model": {}}, bad)
    with pytest.raises(SystemExit, match="not a graphaug pretraining checkpoint"):
        main(["select-layer", "--graphs", "60", "--checkpoint", str(bad), "--out", str(out)])
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "ran"
    torch.save({"model": {}, "hook": _Evil(str(marker))}, evil)
    with pytest.raises(SystemExit, match="not a readable graphaug checkpoint .loaded weights-only"):
        main(["select-layer", "--checkpoint", str(evil), "--out", str(out)])
    assert not marker.exists()  # the pickle's code never ran


class _Evil:
    """A pickle that would create a file when unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_bare_experiments_print_an_example_and_stop(capsys):
    for command in ("tu", "ogb"):
        with pytest.raises(SystemExit) as err:
            main([command, "--root", "R"])
        assert err.value.code == 2
        text = capsys.readouterr().err
        assert f"graphaug {command}: name the datasets to run, e.g." in text
        assert f"graphaug {command} --datasets " in text and len(text.splitlines()) == 2


def test_help_is_plain_shows_defaults_and_loads_no_torch(capsys):
    import subprocess
    import sys

    for argv in (["--help"], ["tu", "--help"], ["ogb", "--help"], ["select-layer", "--help"],
                 ["rebuild", "--help"]):
        with pytest.raises(SystemExit) as err:
            main(argv)
        text = capsys.readouterr().out
        assert err.value.code == 0 and "``" not in text and ":func:" not in text, argv
        assert ":class:" not in text and ":data:" not in text, argv
    with pytest.raises(SystemExit):
        main(["tu", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--epochs EPOCHS (default: 20)" in text and "(default: graphaug-runs/tu)" in text
    code = ("import sys\nfrom graphaug.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "usage: graphaug" in done.stdout, done.stderr[-2000:]


def test_every_help_shows_defaults_as_typed_and_none_for_flags(capsys):
    from graphaug.experiments import COMMANDS

    texts = {}
    for command in ["demo", "select-layer", *COMMANDS]:
        with pytest.raises(SystemExit) as err:
            main([command, "--help"])
        assert err.value.code == 0, command
        texts[command] = " ".join(capsys.readouterr().out.split())
    for command, text in texts.items():
        for wrong in ("(default: True)", "(default: False)", "(default: None)", "(default: )",
                      "(default: [", "(default: ('"):
            assert wrong not in text, (command, wrong)
    tu = texts["tu"]
    assert "--no-download never download: a dataset missing under --root is an error --" in tu
    assert "--bn-per-view official GraphCL: BatchNorm statistics per view --" in tu
    assert "(default: --share-selection)" in tu and "(default: 0 1 2 3 4)" in tu
    assert "(default: dropout:0.25 pca:-1)" in tu
    assert "--deepaug DEEPAUG [DEEPAUG ...] deep-aug candidates KIND:RATE@TARGET, chosen on " \
        "validation (default: dropout:0.25@2)" in texts["ogb"]


def test_startup_measurement_writes_its_report(tmp_path):
    from graphaug.experiments import startup

    result = startup.main(["--repeats", "1", "--out", str(tmp_path)])
    assert result["probes"]["graphaug --help"]["imports_torch"] is False
    assert result["probes"]["import graphaug"]["imports_torch"] is False
    assert "| graphaug --help |" in (tmp_path / "startup.md").read_text()


def test_a_one_class_dataset_is_refused_before_pretraining(data_dir, tmp_path, capsys,
                                                           monkeypatch):
    import shutil

    import graphaug.experiments.tu as tu
    root = tmp_path / "data"
    shutil.copytree(data_dir / "TU" / "MUTAG" / "raw", root / "TU" / "MUTAG" / "raw")
    labels = root / "TU" / "MUTAG" / "raw" / "MUTAG_graph_labels.txt"
    labels.write_text("".join("1\n" for _ in labels.read_text().splitlines()))
    monkeypatch.setattr(tu, "pretrain", None)  # nothing may train
    with pytest.raises(SystemExit) as err:
        main(["tu", "--root", str(root), "--datasets", "MUTAG", "--seeds", "0", "--epochs", "1",
              "--out", str(tmp_path / "out")])
    assert err.value.code == 2
    assert "needs at least 2 classes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_speed_config_is_validated_once():
    from graphaug.experiments import speed

    assert speed.SpeedConfig.from_namespace(speed.parser().parse_args(["--svm"])).svm
    for bad, message in ((dict(augs=("bogus",)), "augs ['bogus']"), (dict(target=5), "0..4"),
                         (dict(svm_folds=1), "svm_folds"), (dict(acc_seeds=(-1,)), "seed -1")):
        with pytest.raises(ValueError, match=re.escape(message)):
            speed.SpeedConfig(**bad)
