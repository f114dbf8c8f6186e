"""Reports built from benchmark results: the CKA figures/tables and the TU table across folders."""
import json
import shutil

import numpy as np
import pytest

from conftest import load_benchmark
from graphaug.experiments.report import cka_heatmaps, cka_section, coadaptation_table
from graphaug.experiments.runner import folder_runs
from graphaug.select import coadaptation_scores


def _matrix(values):
    """A symmetric 3 x 3 CKA matrix with CKA(0,1), CKA(0,2), CKA(1,2) = ``values``."""
    m = np.eye(3)
    for (i, j), v in zip(((0, 1), (0, 2), (1, 2)), values):
        m[i, j] = m[j, i] = v
    return m


def test_coadaptation_table_reports_the_scores(tmp_path):
    a, b = _matrix((0.2, 0.4, 0.9)), _matrix((0.1, 0.3, 0.5))
    lines = coadaptation_table({"net": {"plain": a, "deep": b}}, [0, 1, 2])
    assert lines[0] == "| model | trained with | 0 | 1 | mean |"
    for row, m in zip(lines[2:], (a, b)):
        s = coadaptation_scores(m, [0, 1, 2])
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2:] == [f"{s[0]:.3f}", f"{s[1]:.3f}", f"{np.mean(list(s.values())):.3f}"]
    cka_heatmaps(tmp_path / "h.png", {"net": {"plain": a, "deep": b}, "other": {"plain": a}})
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    runs = [{"name": "dropout@1", "cka": b.tolist()}]
    section = cka_section(tmp_path, "demo", "net", a.tolist(), runs, "10 samples")
    assert "targets 0..2 on 10 samples" in section[0] and section[-1] == \
        "![CKA heatmaps](demo_cka.png)"
    assert any("| net | dropout@1 |" in line for line in section)
    assert (tmp_path / "demo_cka.png").is_file()


@pytest.fixture(scope="module")
def tu_folder(data_dir, tmp_path_factory):
    """A real (tiny) tu.py run: MUTAG, 1 epoch, 3 seeds, dropout at targets 0 and 2."""
    tu = load_benchmark("tu")

    out = tmp_path_factory.mktemp("tu")
    tu.main(["--root", str(data_dir), "--datasets", "MUTAG", "--epochs", "1", "--seeds", "0",
             "1", "2", "--targets", "0", "2", "--transforms", "dropout:0.25", "--out", str(out),
             "--cache", str(tmp_path_factory.mktemp("tu_cache")), "--no-progress"])
    return out


@pytest.fixture(scope="module")
def one_seed_folder(data_dir, tmp_path_factory):
    """A real tu.py run with one seed and without graphcl+deepaug (as NCI1's sweep)."""
    tu = load_benchmark("tu")

    out = tmp_path_factory.mktemp("tu1")
    report = tu.main(["--root", str(data_dir), "--datasets", "MUTAG", "--epochs", "1", "--seeds",
                      "0", "--targets", "0", "2", "--transforms", "dropout:0.25", "--methods",
                      "graphcl", "deepaug", "--out", str(out), "--no-progress"])
    return out, report


def test_tu_report_with_one_seed_shows_no_spread(one_seed_folder):
    """One seed has no std or interval: the report says "1 seed" instead of "± 0.00" and "—"
    instead of a zero-width interval, either of which would read as certainty."""
    folder, report = one_seed_folder
    text = (folder / "results.md").read_text()
    graphcl = report["datasets"]["MUTAG"]["methods"]["graphcl"]["test_mean"]
    assert f"| {graphcl:.2f} (1 seed) |" in text and "± 0.00" not in text
    layer_rows = [line for line in text.splitlines() if line.startswith("| MUTAG | dropout")]
    assert len(layer_rows) == 2 and all(r.endswith("| — |") for r in layer_rows)
    assert "Paired against graphcl" not in text  # no paired test on one seed
    assert (folder / "accuracy_vs_layer.png").is_file()


def test_tu_table_with_one_seed_and_a_method_not_run(one_seed_folder, tmp_path, capsys):
    """A one-seed folder without graphcl+deepaug: its nested row says "1 seed" and "—", the
    paired row gives the single difference with no interval or test, and the tally leaves it
    out of the significance count; the recommended table refuses it, naming the method."""
    tu_table = load_benchmark("tu_table")

    folder, report = one_seed_folder
    methods = report["datasets"]["MUTAG"]["methods"]
    result = tu_table.main([str(folder), "--out", str(tmp_path), "--tag", "t"])
    nested = result["nested"]["MUTAG"]["methods"]
    assert set(nested) == {"graphcl", "deepaug"} and "vs_graphcl" not in nested["deepaug"]
    text = (tmp_path / "t.md").read_text()
    graphcl, deepaug = (methods[m]["test_mean"] for m in ("graphcl", "deepaug"))
    assert f"| MUTAG | nested over 2 | 1 | 86.80 ± 1.34 | 89.01 | {graphcl:.2f} (1 seed) | " \
        f"{deepaug:.2f} (1 seed) | — |" in text
    diff = methods["deepaug"]["test_mean"] - methods["graphcl"]["test_mean"]
    assert f"| MUTAG | deepaug | {diff:+.2f} | — | — |" in text and "— (1 seed)" in text
    assert "significantly on 0/0 (datasets with several seeds)" in text and "± 0.00" not in text
    with pytest.raises(SystemExit):
        tu_table.main([str(folder), "--recommended", "MUTAG=2", "--out", str(tmp_path)])
    assert "has no graphcl+deepaug runs" in capsys.readouterr().err


def test_tu_table_reads_the_recommended_layer_from_the_sweep(tu_folder, tmp_path):
    tu_table = load_benchmark("tu_table")

    report = json.loads((tu_folder / "results.json").read_text())["datasets"]["MUTAG"]
    result = tu_table.main([str(tu_folder), "--recommended", "MUTAG=2", "--out", str(tmp_path)])
    rec = result["recommended"]["MUTAG"]["methods"]
    (at2,) = [s for s in report["methods"]["deepaug"]["sweep"] if s["target"] == 2]
    assert rec["deepaug"]["per_seed"] == at2["per_seed"]
    assert rec["graphcl"]["per_seed"] == report["methods"]["graphcl"]["per_seed"]
    diff = 100 * (np.array(at2["per_seed"]) - np.array(rec["graphcl"]["per_seed"]))
    assert rec["deepaug"]["vs_graphcl"]["mean"] == pytest.approx(diff.mean())
    # compute = the 9 runs' own seconds (3 methods x 3 seeds), not the 15 the sweep ran
    runs = folder_runs(tu_folder)  # the folder's runs.jsonl
    used = [r for r in runs if r["label"] == "graphcl none" or
            r["config"].get("target") == 2]
    assert len(runs) == 15 and len(used) == 9
    assert result["recommended"]["MUTAG"]["seconds"] == pytest.approx(
        sum(r["train_seconds"] + r["eval_seconds"] for r in used))
    # the nested table is the folder's own nested result
    nested = result["nested"]["MUTAG"]["methods"]
    assert nested["deepaug"]["per_seed"] == report["methods"]["deepaug"]["per_seed"]
    text = (tmp_path / "tu_six.md").read_text()
    assert "## Target chosen by the recommendation" in text and "| MUTAG | recommended: 2 |" in text
    assert "## Target chosen by strict nested selection" in text
    # where the folds' choices land: counted from the folder's own per-fold choices
    choices = [c for fold in report["methods"]["deepaug"]["fold_choices"] for c in fold]
    at_input = sum(c.endswith("@0") for c in choices)
    best = {s["target"]: 100 * np.mean(s["per_seed"])
            for s in report["methods"]["deepaug"]["sweep"]}
    (row,) = [line for line in text.splitlines() if line.startswith("| MUTAG | 3 |")]
    assert f"| {at_input}/{len(choices)} |" in row
    assert f"dropout 0.25 @0: {best[0]:.2f} [" in row and f"dropout 0.25 @2: {best[2]:.2f} [" in row


def test_tu_table_takes_the_recommended_rate_from_a_full_sweep(tu_folder, tmp_path):
    """A sweep with several dropout rates at the recommended target: the table takes p = 0.25,
    whichever comes first in the sweep."""
    tu_table = load_benchmark("tu_table")

    report = json.loads((tu_folder / "results.json").read_text())
    sweep = report["datasets"]["MUTAG"]["methods"]["deepaug"]["sweep"]
    (at2,) = [s for s in sweep if s["target"] == 2]
    other = {**at2, "rate": 0.125, "per_seed": [v + 0.01 for v in at2["per_seed"]]}
    sweep.insert(sweep.index(at2), other)  # the other rate first
    folder = tmp_path / "full"
    folder.mkdir()
    shutil.copyfile(tu_folder / "runs.jsonl", folder / "runs.jsonl")
    (folder / "results.json").write_text(json.dumps(report))
    result = tu_table.main([str(folder), "--recommended", "MUTAG=2", "--out", str(tmp_path)])
    assert result["recommended"]["MUTAG"]["methods"]["deepaug"]["per_seed"] == at2["per_seed"]


@pytest.mark.parametrize("argv, message", [
    (["--recommended", "MUTAG=3"],
     "no deepaug run with dropout p = 0.25 at the recommended target 3"),
    (["--recommended", "NCI1=2"], "datasets without results: ['NCI1']"),
    (["--recommended", "MUTAG"], "NAME=TARGET"),
])
def test_tu_table_bad_arguments_are_named(tu_folder, tmp_path, argv, message, capsys):
    tu_table = load_benchmark("tu_table")

    with pytest.raises(SystemExit) as err:
        tu_table.main([str(tu_folder), *argv, "--out", str(tmp_path)])
    assert err.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tu_table.main([str(tmp_path / "nothing"), "--out", str(tmp_path)])
    assert "no results.json" in capsys.readouterr().err


def test_layer_selection_trains_graphcl_once_whichever_config_is_best(tu_folder, data_dir,
                                                                      tmp_path, run_cache):
    """The GraphCL encoders do not depend on the deep-aug config that is validation-best: when
    another config becomes best, only its deep-aug encoders are trained, and the GraphCL matrix
    is read from the cache unchanged."""
    layer_selection = load_benchmark("layer_selection")

    sweep, out = tmp_path / "sweep", tmp_path / "out"
    shutil.copytree(tu_folder, sweep, ignore=shutil.ignore_patterns("checkpoints"))
    argv = ["--root", str(data_dir), "--datasets", "MUTAG", "--sweep", str(sweep),
            "--seeds", "0", "--out", str(out), "--no-progress"]
    first = layer_selection.main(argv)["datasets"]["MUTAG"]
    # make the other swept config validation-best (validation only: the test split stays)
    lines = [json.loads(line) for line in (sweep / "runs.jsonl").read_text().splitlines()]
    (line,) = [x for x in lines if x["metrics"]["label"].startswith("deepaug") and
               x["metrics"]["seed"] == 0 and x["metrics"]["label"] != first["val_best"]]
    run = line["metrics"]
    run["val"] = 1.0
    (sweep / "runs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    second = layer_selection.main(argv)["datasets"]["MUTAG"]
    assert second["val_best"] == run["label"] != first["val_best"]
    runs = run_cache / "layer_selection" / "runs" / "MUTAG"
    assert len(list(runs.glob("graphcl*/**/seed0.json"))) == 1
    assert len(list(runs.glob("deepaug*/**/seed0.json"))) == 2
    assert second["matrices"]["graphcl"] == first["matrices"]["graphcl"]
    assert second["matrices"]["deepaug"] != first["matrices"]["deepaug"]


def test_layer_selection_config_is_validated_once_and_a_missing_sweep_is_a_usage_error(
        tmp_path, capsys):
    layer_selection = load_benchmark("layer_selection")
    with pytest.raises(ValueError, match="--sweep"):
        layer_selection.LayerSelectionConfig()
    with pytest.raises(ValueError, match="seed -1"):
        layer_selection.LayerSelectionConfig(sweep=(tmp_path,), seeds=(-1,))
    with pytest.raises(SystemExit):
        layer_selection.main(["--sweep", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert "has no runs.jsonl" in capsys.readouterr().err
