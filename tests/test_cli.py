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
    (["tu", "--root", "R", "--transforms", "dropout:1.5"], "bad transform 'dropout:1.5'"),
    (["tu", "--root", "R", "--input-aug", "rotate"], "invalid choice: 'rotate'"),
    (["ogb", "--root", "R", "--deepaug", "dropout:0.25"], "bad deep-aug candidate"),
    (["ogb", "--root", "R", "--deepaug", "dropout:0.25@7"], "--deepaug targets [7]"),
    (["ogb", "--root", "R", "--ft-epochs", "0"], "--ft-epochs: 0 is out of range"),
    (["ogb", "--root", "R", "--aug-ratio", "1"], "--aug-ratio: 1 is out of range"),
    (["ogb", "--root", "R", "--datasets", "ogbg-nope"], "not an OGB graph-property dataset"),
])
def test_bad_arguments_stop_at_the_command_line(argv, message, capsys, monkeypatch):
    monkeypatch.setattr("graphaug.contrastive.pretrain", None)  # nothing may train
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
    (example,) = [line.strip() for line in text.splitlines()
                  if line.strip().startswith("graphaug tu ")]
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


def test_benchmark_scripts_still_run_as_scripts(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "tu.py"
    done = subprocess.run([sys.executable, str(script), "--root", str(tmp_path), "--targets",
                           "9"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "python benchmarks/tu.py: error: --targets [9]" in done.stderr


def test_select_layer_fresh_run_and_checkpoint(tmp_path, capsys):
    from graphaug.cli import main
    from graphaug.contrastive import MethodConfig, pretrain
    from graphaug.synthetic import synthetic_graphs
    out = tmp_path / "cka.png"
    main(["select-layer", "--epochs", "1", "--graphs", "60", "--out", str(out)])
    text = capsys.readouterr().out
    assert "recommended target:" in text and out.is_file()
    ds = synthetic_graphs(60)
    ckpt = tmp_path / "run.pt"
    pretrain(ds.graphs, ds.num_features, MethodConfig("graphcl", epochs=1), 0, checkpoint=ckpt)
    main(["select-layer", "--graphs", "60", "--checkpoint", str(ckpt), "--out", str(out)])
    assert "recommended target:" in capsys.readouterr().out
    bad = tmp_path / "bad.pt"
    torch.save({"model": {}}, bad)
    with pytest.raises(SystemExit, match="not a graphaug pretraining checkpoint"):
        main(["select-layer", "--graphs", "60", "--checkpoint", str(bad), "--out", str(out)])
