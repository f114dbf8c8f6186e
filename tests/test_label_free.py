"""Label-free criteria (RankMe, alignment, uniformity, held-out loss, co-adaptation) and
select_config, each against a direct formula on small matrices."""
import json
import math
import warnings

import numpy as np
import pytest
import torch

from graphaug.select import CRITERIA, alignment, coadaptation, coadaptation_scores, \
    graph_criteria, rankme, select_config, uniformity


@pytest.fixture(scope="module")
def tiny_graphs():
    from graphaug.synthetic import synthetic_graphs

    ds = synthetic_graphs(40, seed=0)
    return list(ds.graphs), ds.num_features


def direct_rankme(z, eps=1e-7):
    s = np.linalg.svd(np.asarray(z, np.float64), compute_uv=False)
    p = s / np.abs(s).sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def direct_uniformity(z, t=2.0):
    z = np.asarray(z, np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z)
    vals = [np.exp(-t * ((z[i] - z[j]) ** 2).sum()) for i in range(n) for j in range(i + 1, n)]
    return float(np.log(np.mean(vals)))


def direct_alignment(a, b, alpha=2.0):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.mean(np.linalg.norm(a - b, axis=1) ** alpha))


def rotation(d, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))[0]


@pytest.mark.parametrize("k", [1, 3, 7])
def test_rankme_of_rank_k_with_equal_singular_values_is_k(k):
    n, d = 40, 16
    u = rotation(n, 0)[:, :k]
    v = rotation(d, 1)[:, :k]
    z = 5.0 * u @ v.T  # k equal singular values, the rest zero
    value = rankme(z)
    # only the eps terms of the d - k zero singular values move it away from k
    assert value == pytest.approx(k, rel=1e-4)
    assert value == pytest.approx(direct_rankme(z.numpy()), rel=1e-9)


def test_rankme_matches_direct_formula_and_is_scale_and_rotation_invariant():
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(200, 12, generator=gen, dtype=torch.float64) * torch.linspace(0.1, 3, 12,
                                                                              dtype=torch.float64)
    value = rankme(z)
    assert value == pytest.approx(direct_rankme(z.numpy()), rel=1e-9)
    assert 1.0 < value < 12.0
    assert rankme(0.01 * z) == pytest.approx(value, rel=1e-9)
    assert rankme(rotation(200, 3) @ z @ rotation(12, 4)) == pytest.approx(value, rel=1e-6)
    assert rankme(z.numpy()) == pytest.approx(value)  # numpy input too


def test_rankme_of_an_isotropic_gaussian_is_near_full_rank_and_of_a_collapse_is_one():
    gen = torch.Generator().manual_seed(5)
    d = 8
    iso = torch.randn(20000, d, generator=gen)
    assert rankme(iso) == pytest.approx(d, rel=0.01)
    collapsed = torch.randn(50, 1, generator=gen) @ torch.randn(1, d, generator=gen)
    assert rankme(collapsed) == pytest.approx(1.0, rel=1e-4)


def test_alignment_direct_formula_identical_views_and_bounds():
    gen = torch.Generator().manual_seed(6)
    a, b = torch.randn(30, 5, generator=gen), torch.randn(30, 5, generator=gen)
    assert alignment(a, b) == pytest.approx(direct_alignment(a, b), rel=1e-9)
    assert alignment(a, b, alpha=1) == pytest.approx(direct_alignment(a, b, 1), rel=1e-9)
    assert alignment(a, a) == 0.0
    assert alignment(a, 4 * a) == pytest.approx(0.0, abs=1e-12)  # l2-normalised first
    assert alignment(a, -a) == pytest.approx(4.0)  # antipodal: the maximum 2^alpha
    q = rotation(5, 7)
    assert alignment(a.double() @ q, b.double() @ q) == pytest.approx(alignment(a, b), rel=1e-6)


def test_uniformity_direct_formula_and_bounds():
    gen = torch.Generator().manual_seed(8)
    z = torch.randn(25, 4, generator=gen)
    assert uniformity(z) == pytest.approx(direct_uniformity(z), rel=1e-9)
    assert uniformity(z, t=0.5) == pytest.approx(direct_uniformity(z, 0.5), rel=1e-9)
    assert -8.0 <= uniformity(z) <= 0.0
    same = torch.ones(6, 4)
    assert uniformity(same) == pytest.approx(0.0, abs=1e-12)  # collapse: the maximum
    assert uniformity(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)
    # invariant to scale and rotation; spreading points out lowers it
    assert uniformity(3 * z.double() @ rotation(4, 9)) == pytest.approx(uniformity(z), rel=1e-6)
    clustered = torch.tensor([1.0, 0, 0, 0]) + 0.05 * torch.randn(25, 4, generator=gen)
    assert uniformity(clustered) > uniformity(z)


def test_criteria_reject_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        rankme(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="all-zero"):
        rankme(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="same samples"):
        alignment(torch.ones(3, 2), torch.ones(4, 2))
    with pytest.raises(ValueError, match="n >= 2"):
        uniformity(torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        rankme(torch.ones(3))


def test_coadaptation_is_the_mean_of_the_per_target_scores():
    m = np.array([[1.0, 0.9, 0.7], [0.9, 1.0, 0.4], [0.7, 0.4, 1.0]])
    scores = coadaptation_scores(m, [0, 1, 2])
    assert scores == {0: pytest.approx(0.8), 1: pytest.approx(0.4)}
    assert coadaptation(m, [0, 1, 2]) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="two targets"):
        coadaptation(np.ones((1, 1)), [0])


def test_select_config_directions_ties_and_errors():
    cands = {"none": {"rankme": 10.0, "alignment": 0.5, "uniformity": -1.0, "loss": 4.0,
                      "cka": 0.8},
             "dropout:0.25@2": {"rankme": 12.0, "alignment": 0.7, "uniformity": -1.5,
                                "loss": 4.5, "cka": 0.7},
             "pca:-1@3": {"rankme": 12.0, "alignment": 0.4, "uniformity": -1.2, "loss": 3.0,
                          "cka": 0.9}}
    assert set(CRITERIA) == {"rankme", "alignment", "uniformity", "loss", "cka"}
    assert select_config(cands, "rankme") == "dropout:0.25@2"  # tie: the first in order
    assert select_config(cands, "alignment") == "pca:-1@3"
    assert select_config(cands, "uniformity") == "dropout:0.25@2"
    assert select_config(cands, "loss") == "pca:-1@3"
    assert select_config(cands, "cka") == "dropout:0.25@2"
    with pytest.raises(ValueError, match="validation needs labels"):
        select_config(cands, "validation")
    with pytest.raises(ValueError, match="no finite 'loss'"):
        select_config({"none": {"loss": math.nan}}, "loss")
    with pytest.raises(ValueError, match="at least one"):
        select_config({}, "rankme")


def test_graph_criteria_on_a_tiny_run_and_selection(tiny_graphs):
    from graphaug.contrastive import MethodConfig, pretrain

    graphs, num_features = tiny_graphs
    results = {}
    for name, cfg in {"none": MethodConfig("graphcl", epochs=2, batch_size=16),
                      "dropout:0.25@2": MethodConfig("deepaug", transform="dropout", rate=0.25,
                                                     target=2, epochs=2, batch_size=16)}.items():
        encoder, _ = pretrain(graphs, num_features, cfg, seed=0)
        encoder.train()
        results[name] = graph_criteria(encoder, graphs, sample=24, batch_size=16)
        assert encoder.training  # mode restored
        again = graph_criteria(encoder, graphs, sample=24, batch_size=16)
        assert again == results[name]  # fixed subset and views: deterministic
    for crit in results.values():
        assert crit["sample"] == 24
        assert 1.0 <= crit["rankme"] <= 96.0
        assert 0.0 <= crit["alignment"] <= 4.0
        assert -8.0 <= crit["uniformity"] <= 0.0
        assert crit["loss"] > 0 and 0.0 <= crit["cka"] <= 1.0 + 1e-9
    for criterion in CRITERIA:
        assert select_config(results, criterion) in results
    with pytest.raises(ValueError, match="unknown criteria"):
        graph_criteria(encoder, graphs, criteria=["accuracy"])


def test_graph_criteria_rankme_is_the_readout_rank(tiny_graphs):
    from graphaug.evaluate import embed_graphs
    from graphaug.nn import GraphCLEncoder

    graphs, num_features = tiny_graphs
    torch.manual_seed(0)
    encoder = GraphCLEncoder(num_features, proj_head=True)
    x, _ = embed_graphs(encoder, graphs)
    crit = graph_criteria(encoder, graphs, sample=len(graphs), criteria=["rankme"])
    assert set(crit) == {"rankme", "sample"}
    assert crit["rankme"] == pytest.approx(direct_rankme(x), rel=1e-5)


def _row(dataset, seed, cand, test, fold_val, rankme_value):
    return {"dataset": dataset, "seed": seed, "candidate": cand, "test": test,
            "fold_val": fold_val, "fold_test": [test] * len(fold_val),
            "criteria": {"rankme": rankme_value, "alignment": 1.0, "uniformity": -1.0,
                         "loss": 4.0, "cka": 0.5},
            "reproduced": True, "loss_rel_diff": 0.0, "train_seconds": 2.0,
            "criteria_seconds": 0.5, "svm_seconds": 3.0}


def test_label_free_report_columns_and_selections():
    from conftest import load_benchmark

    lf = load_benchmark("label_free")
    rows = []
    for seed in range(3):
        # rankme ranks the candidates as their test accuracy does; validation prefers "b"
        rows += [_row("MUTAG", seed, "none", 0.80 + 0.01 * seed, [0.7, 0.7], 5.0),
                 _row("MUTAG", seed, "dropout:0.25@2", 0.85 + 0.01 * seed, [0.6, 0.6], 9.0),
                 _row("MUTAG", seed, "pca:-1@3", 0.70, [0.9, 0.9], 1.0)]
    rows.append(_row("PROTEINS", 0, "none", 0.7, [0.7, 0.7], 5.0))  # incomplete seed
    analysis = lf.analyse(rows, expected={"PROTEINS": {"none", "pca:1@1"}})
    assert analysis["PROTEINS"]["seeds"] == [] and "selections" not in analysis["PROTEINS"]
    mutag = analysis["MUTAG"]
    assert mutag["seeds"] == [0, 1, 2] and mutag["candidates"][0] == "none"
    sel = mutag["selections"]
    assert set(sel) == {*lf.SELECTIONS, "preset"}
    assert sel["rankme"]["spearman_mean"] == pytest.approx(1.0)
    assert sel["rankme"]["picks"] == [("dropout:0.25@2", 3)]
    assert sel["rankme"]["regret"] == pytest.approx(0.0)
    assert sel["rankme"]["vs_preset"]["mean"] == pytest.approx(0.05)
    assert sel["validation"]["test"] == pytest.approx([0.70] * 3)  # fold_val picks pca:-1@3
    assert sel["rankme"]["vs_validation"]["mean"] == pytest.approx(0.16)
    assert sel["validation"]["vs_preset"]["significant"]
    # compute: every candidate pretrained and scored, SVM for the pick and the preset only
    assert sel["rankme"]["seconds_per_seed"] == pytest.approx(3 * 2.5 + 2 * 3.0)
    assert sel["validation"]["seconds_per_seed"] == pytest.approx(3 * 2.0 + 3 * 3.0)
    goal = lf.goals(analysis)
    assert goal["validation"]["worse_than_preset"] == ["MUTAG"]
    assert goal["rankme"]["ties_validation"] == ["MUTAG"]
    estimate = lf.table_estimate(rows, {})
    text = lf.markdown(analysis, goal, estimate, ["Command: x"])
    header = text.splitlines()[text.splitlines().index(next(
        line for line in text.splitlines() if line.startswith("| dataset | seeds")))]
    assert header.split(" | ")[1:5] == ["seeds", "selection", "Spearman rho", "test %"]
    assert "| PROTEINS | 0 | no complete seed yet" in text


def test_monitor_logs_every_epoch_without_changing_training(tiny_graphs, tmp_path):
    from graphaug.contrastive import MethodConfig, pretrain

    graphs, num_features = tiny_graphs
    cfg = MethodConfig("deepaug", transform="dropout", rate=0.25, target=2, epochs=3,
                       batch_size=16)
    enc_a, plain = pretrain(graphs, num_features, cfg, seed=1)
    enc_b, watched = pretrain(graphs, num_features, cfg, seed=1, monitor=20)
    assert list(watched) == list(plain)  # no weight, BatchNorm or RNG change
    for a, b in zip(enc_a.state_dict().values(), enc_b.state_dict().values()):
        assert torch.equal(a, b)
    assert plain.monitor == [] and len(watched.monitor) == 3
    assert set(watched.monitor[0]) == {"rankme", "alignment", "uniformity"}
    assert all(1.0 <= m["rankme"] <= 96 for m in watched.monitor)
    # resumed from a checkpoint: the earlier epochs' values come back with it
    ckpt = tmp_path / "run.pt"
    pretrain(graphs, num_features, cfg, seed=1, monitor=20, checkpoint=ckpt, stop_after=2)
    _, resumed = pretrain(graphs, num_features, cfg, seed=1, monitor=20, checkpoint=ckpt)
    assert resumed.monitor == watched.monitor


def test_monitor_warns_on_collapse(tiny_graphs):
    from graphaug.contrastive import CollapseMonitor, CollapseWarning
    from graphaug.nn import GraphCLEncoder

    graphs, num_features = tiny_graphs
    encoder = GraphCLEncoder(num_features, proj_head=True)
    healthy = CollapseMonitor(encoder, graphs, sample=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        values = healthy(0)
    assert values["rankme"] > 1.5
    # every graph on one line: zero weights everywhere but a constant readout direction
    with torch.no_grad():
        for p in encoder.parameters():
            p.zero_()
        for bn in (m for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            bn.bias.fill_(1.0)
    with pytest.warns(CollapseWarning, match="epoch 4: RankMe 1.00"):
        CollapseMonitor(encoder, graphs, sample=30)(4)
    with pytest.raises(ValueError, match="at least 2"):
        CollapseMonitor(encoder, graphs, sample=1)


TU_SMALL = ["--datasets", "MUTAG", "--methods", "graphcl", "deepaug", "--seeds", "0", "1",
            "--epochs", "1", "--hidden", "16", "--layers", "2", "--batch-size", "64",
            "--targets", "1", "2", "--transforms", "dropout:0.25", "--no-progress"]


def _tu(data_dir, out, *extra):
    from graphaug.cli import run_experiment

    return run_experiment("tu", ["--root", str(data_dir), "--out", str(out),
                                 "--cache", str(out / "cache"), *TU_SMALL, *extra])


def _cached(out, pattern):
    return [json.loads(p.read_text()) for p in out.rglob(pattern)]


def test_tu_label_free_selection_runs_the_svm_for_the_pick_only(data_dir, tmp_path):
    from graphaug.contrastive import MethodConfig

    out = tmp_path / "tu"
    report = _tu(data_dir, out, "--select", "rankme")
    m = report["datasets"]["MUTAG"]["methods"]["deepaug"]
    assert m["select"] == "rankme" and m["svm_runs_per_seed"] == 1
    assert "rankme over 3 configs" in m["label"]  # the preset is a candidate
    scored = _cached(out, "seed*_criteria.json")
    assert len(scored) == 2 * 3  # every candidate and the preset, each seed, no SVM
    assert all("test" not in r for r in scored)
    svm = _cached(out, "seed?.json")
    preset = MethodConfig("graphcl").label()
    assert {(r["label"], r["seed"]) for r in svm} == \
        {(preset, 0), (preset, 1)} | set(zip(m["picks"], [0, 1]))
    for seed, pick in enumerate(m["picks"]):
        mine = {r["label"]: r["criteria"] for r in scored if r["seed"] == seed}
        ordered = {preset: mine.pop(preset), **mine}
        assert pick == select_config(ordered, "rankme")
    for r in svm + scored:  # the monitor logged every epoch of every run
        assert len(r["monitor"]) == 1
        assert set(r["monitor"][0]) == {"rankme", "alignment", "uniformity"}
    text = (out / "results.md").read_text()
    assert "label-free selection by rankme" in text and "1 SVM run(s) per seed" in text
    assert len(m["rankme_per_epoch"]) == 1 and (out / "rankme_per_epoch.png").is_file()


def test_tu_label_free_pick_once_per_dataset_on_the_selection_seeds(data_dir, tmp_path):
    """--selection seed --select loss: one pick per dataset from the mean criterion over the
    selection seeds (the preset a candidate, no SVM for them), then only the pick on every
    seed; graphcl+deepaug reuses it."""
    from graphaug.contrastive import MethodConfig

    out = tmp_path / "tu"
    report = _tu(data_dir, out, "--selection", "seed", "--select", "loss", "--select-seeds",
                 "0", "1", "--methods", "graphcl", "deepaug", "graphcl+deepaug")
    entry = report["datasets"]["MUTAG"]
    choice = entry["selection"]["deepaug"]
    scored = _cached(out, "seed*_criteria.json")
    assert {(r["label"], r["seed"]) for r in scored} == {
        (c["label"], s) for c in choice["criteria_sweep"] for s in (0, 1)}
    assert len(choice["criteria_sweep"]) == 3  # the preset and the two deep-aug configs
    assert all(r["config"]["method"] in ("graphcl", "deepaug") for r in scored)
    means = {c["label"]: {"loss": float(np.mean([r["criteria"]["loss"] for r in scored
                                                  if r["label"] == c["label"]]))}
             for c in choice["criteria_sweep"]}
    assert choice["best"]["label"] == select_config(means, "loss")
    picked = entry["methods"]["deepaug"]
    assert picked["label"] == choice["best"]["label"]
    svm = {(r["label"], r["seed"]) for r in _cached(out, "seed?.json")}
    preset = MethodConfig("graphcl").label()
    assert {(preset, 0), (preset, 1), (picked["label"], 0), (picked["label"], 1)} <= svm
    assert all(label in (preset, picked["label"], entry["methods"]["graphcl+deepaug"]["label"])
               for label, _ in svm)  # no SVM for the other candidates
    shared = entry["methods"]["graphcl+deepaug"]["label"]
    assert shared == preset if picked["label"] == preset else \
        shared == picked["label"].replace("deepaug", "graphcl+deepaug", 1)
    assert "one config per dataset chosen without labels by loss" in \
        (out / "results.md").read_text()


def test_tu_seed_selection_by_validation_has_the_preset_among_its_candidates(data_dir,
                                                                             tmp_path):
    """--selection seed --select validation: the preset competes on mean validation accuracy
    over the selection seeds (validation-deep: the deep-aug configs only, as before)."""
    from graphaug.contrastive import MethodConfig

    preset = MethodConfig("graphcl").label()
    for select in ("validation", "validation-deep"):
        out = tmp_path / select
        report = _tu(data_dir, out, "--selection", "seed", "--select", select,
                     "--select-seeds", "0", "1")
        val = {}
        for r in _cached(out, "seed?.json"):
            if r["seed"] in (0, 1):
                val.setdefault(r["label"], []).append(r["val"])
        pool = [preset, *sorted(k for k in val if k != preset)] if select == "validation" \
            else sorted(k for k in val if k != preset)
        mean = {k: np.mean(val[k]) for k in pool}
        best = max(pool, key=lambda k: (mean[k], -pool.index(k)))
        assert report["datasets"]["MUTAG"]["methods"]["deepaug"]["label"] == best
        text = (out / "results.md").read_text()
        assert ("the preset among the candidates" in text) == (select == "validation")


def test_seed_selection_by_validation_can_keep_the_preset():
    """The preset wins --selection seed --select validation when its mean validation
    accuracy is the best (ties included); validation-deep never picks it."""
    import types

    from graphaug.experiments import tu

    val = {"graphcl": [0.80, 0.84], "deepaug dropout:0.25@1": [0.82, 0.81],
           "deepaug dropout:0.25@2": [0.79, 0.85]}  # means 0.82, 0.815, 0.82 (a tie)

    class Runner:
        def targets(self, name):
            return [1, 2]

        def dataset(self, name):
            return types.SimpleNamespace(num_features=7)

        def run(self, name, cfg, seed):
            key = "graphcl" if cfg.method == "graphcl" else cfg.label()
            return {"val": val[key][seed], "test": 0.5}

    args = tu.TUConfig(datasets=("MUTAG",), methods=("graphcl", "deepaug", "graphcl+deepaug"),
                       selection="seed", select_seeds=(0, 1), targets=(1, 2),
                       transforms=("dropout:0.25",))
    chosen = tu.select(Runner(), args, "MUTAG")
    assert chosen["deepaug"]["best"]["method"] == "graphcl"  # ties: the preset, first
    assert tu.chosen_config(args, "graphcl+deepaug", chosen["graphcl+deepaug"]["best"]) == \
        tu.base_config(args, method="graphcl")
    assert all("method" not in s for s in chosen["deepaug"]["sweep"])  # the layer table
    deep = tu.select(Runner(), tu.TUConfig(**{**vars(args), "select": "validation-deep"}),
                     "MUTAG")["deepaug"]["best"]
    assert deep["target"] == 2 and deep["val"] == pytest.approx(0.82) and "method" not in deep


def test_tu_validation_selection_has_the_preset_among_its_candidates(data_dir, tmp_path):
    out = tmp_path / "tu"
    report = _tu(data_dir, out)
    m = report["datasets"]["MUTAG"]["methods"]["deepaug"]
    assert "over 3 configs" in m["label"]
    assert len(m["sweep"]) == 2  # the accuracy-per-layer table lists deep-aug configs only
    assert not list(out.rglob("*_criteria.json"))
    deep = _tu(data_dir, out, "--select", "validation-deep")  # the old rule, from the cache
    assert "over 2 configs" in deep["datasets"]["MUTAG"]["methods"]["deepaug"]["label"]


def test_label_free_command_keeps_its_files_under_the_cache_root(tmp_path, monkeypatch, capsys):
    from graphaug.experiments import label_free
    monkeypatch.setenv("GRAPHAUG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "1000")  # help lines unwrapped, paths whole
    with pytest.raises(SystemExit):
        label_free.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"{tmp_path / 'cache' / 'label-free' / 'sweeps.jsonl'}" in text
    assert f"{tmp_path / 'cache' / 'label-free' / 'runs'}" in text


def test_label_free_run_and_report_take_the_committed_runs(tmp_path, capsys):
    """A fresh machine resumes from the committed runs.jsonl: its runs are not redone, the
    report merges them with the cache's, and runs scored otherwise are refused."""
    import json
    import types

    from graphaug.experiments import label_free as lf

    rows = [_row("MUTAG", seed, cand, 0.8, [0.7, 0.7], 5.0 + seed)
            for seed in (0, 1) for cand in ("none", "dropout:0.25@2")]
    records = tmp_path / "sweeps.jsonl"
    records.write_text("".join(json.dumps({
        "dataset": r["dataset"], "seed": r["seed"], "candidate": r["candidate"], "config": {},
        "test": r["test"], "val": 0.7, "fold_val": r["fold_val"], "fold_test": r["fold_test"],
        "loss": [1.0], "train_seconds": 2.0, "eval_seconds": 3.0}) + "\n" for r in rows))
    scored = types.SimpleNamespace(sample=512, criteria_seed=0)
    committed = tmp_path / "runs.jsonl"
    committed.write_text("".join(json.dumps(lf.run_line(r, scored)) + "\n" for r in rows[:3]))
    cache = tmp_path / "cache"
    common = ["--records", str(records), "--cache", str(cache), "--runs", str(committed)]
    # the last run is the only one to do: make it a cached run so nothing is pretrained here
    fresh = {**rows[3], "loss_final": 1.0, "loss_recorded": 1.0, "criteria": {
        **rows[3]["criteria"], "rankme": 42.0}}
    lf.atomic_write_json(cache / "MUTAG" / "dropout:0.25@2" / "seed1.json", fresh)
    lf.main(["run", *common, "--datasets", "MUTAG", "--seeds", "0", "1"])
    assert "4 runs, 0 to do (3 done in" in capsys.readouterr().out
    out = tmp_path / "report"
    lf.main(["report", *common, "--out", str(out)])
    reported = [json.loads(line)["metrics"] for line in open(out / "runs.jsonl")]
    assert sorted((r["seed"], r["candidate"]) for r in reported) == [
        (0, "dropout:0.25@2"), (0, "none"), (1, "dropout:0.25@2"), (1, "none")]
    assert [r["criteria"]["rankme"] for r in reported
            if (r["seed"], r["candidate"]) == (1, "dropout:0.25@2")] == [42.0]
    # a committed run scored on another sample is refused, naming the file and the fix
    with pytest.raises(ValueError, match=r"runs\.jsonl, line 1: .*--sample"):
        lf.main(["run", *common, "--sample", "256"])
    committed.write_text('{"label": "x"}\n')
    with pytest.raises(ValueError, match="line 1: not a label-free run"):
        lf.main(["report", *common, "--out", str(out)])


def test_one_pick_per_dataset_is_made_on_the_first_seed_and_judged_on_every_sweep_seed():
    from graphaug.experiments import label_free as lf

    # re-runs of seed 0 only: rankme prefers pca:-1@3 there; the sweep has seeds 0-3
    rows = [_row("MUTAG", 0, "none", 0.80, [0.7, 0.7], 5.0),
            _row("MUTAG", 0, "dropout:0.25@2", 0.85, [0.9, 0.9], 1.0),
            _row("MUTAG", 0, "pca:-1@3", 0.70, [0.6, 0.6], 9.0),
            # seed 1's re-runs: rankme prefers the preset there (a second pick seed)
            _row("MUTAG", 1, "none", 0.81, [0.7, 0.7], 9.0),
            _row("MUTAG", 1, "dropout:0.25@2", 0.86, [0.9, 0.9], 1.0),
            _row("MUTAG", 1, "pca:-1@3", 0.72, [0.6, 0.6], 5.0)]
    test = {"none": [0.80, 0.81, 0.79, 0.80], "dropout:0.25@2": [0.85, 0.86, 0.84, 0.85],
            "pca:-1@3": [0.70, 0.72, 0.71, 0.69]}
    records = {("MUTAG", s, c): {"test": t[s], "fold_val": [0.9 if c == "dropout:0.25@2"
                                                            else 0.5] * 2,
                                 "fold_test": [t[s]] * 2}
               for c, t in test.items() for s in range(4)}
    analysis = lf.analyse(rows)
    once = lf.analyse_once(analysis, rows, records)["MUTAG"]
    assert once["pick_seed"] == 0 and once["seeds"] == [0, 1, 2, 3]
    assert once["picks"]["rankme"] == "pca:-1@3"
    sel = once["selections"]
    assert sel["rankme"]["test"] == test["pca:-1@3"]  # the seed-0 pick, on every sweep seed
    assert sel["preset"]["test"] == test["none"]
    assert sel["validation"]["test"] == test["dropout:0.25@2"]  # nested: fold_val, no test
    assert sel["rankme"]["vs_preset"]["mean"] == pytest.approx(-0.095)
    assert sel["rankme"]["regret"] == pytest.approx(0.85 - 0.705)
    goal = lf.goals({"MUTAG": once})
    assert goal["rankme"]["worse_than_preset"] == ["MUTAG"]
    assert "validation-deep" not in sel and goal["validation-deep"]["judged"] == []
    text = "\n".join(lf.once_markdown({"MUTAG": once}))
    assert "| MUTAG | 4 | rankme | `pca:-1@3` | 70.50 |" in text
    # picked on each re-run seed: pca:-1@3 (worse than the preset, loses to validation),
    # then the preset (not worse than itself, loses to validation)
    assert once["stability"]["rankme"] == {
        "pick_seeds": [0, 1], "picks": [("pca:-1@3", 1), ("none", 1)],
        "worse_than_preset": 1, "ties_validation": 0}
    assert "| 1 / 0 of 2 |" in text
