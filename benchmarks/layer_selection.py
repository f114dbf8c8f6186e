"""Which layer to augment: CKA co-adaptation of trained encoders, the layer recommendation, and
its agreement and regret against a full sweep under validation-only selection.

For every dataset and seed: pretrain the GraphCL preset and Deep Augmentation (the sweep's
validation-best config; every training setting is the sweep's) with
``graphaug.contrastive.pretrain``, compute the RBF-CKA matrix
between the per-graph readouts of targets ``0..L`` (:func:`graphaug.select.layer_similarity`)
and the recommendation of :func:`graphaug.select.recommend_layer` on the GraphCL-trained
encoder. Then read the sweep that ``benchmarks/tu.py`` ran (every deep-aug config on every
seed; its per-run JSON files under ``<sweep>/runs``): the validation-best config (mean inner-CV
accuracy over seeds), the best config at the recommended target (also by validation), their
test accuracies and the regret; the test-best config is listed for information only.

Example:
  python benchmarks/layer_selection.py --root /tmp/graphaug-data --datasets MUTAG \\
      --sweep benchmarks/results/tu_nested_a --seeds 0 1 2
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphaug.bench import bench_parser, cka_heatmaps, coadaptation_table, markdown_table, \
    number, run_header, with_download, write_results  # noqa: E402
from graphaug.contrastive import MethodConfig, pretrain  # noqa: E402
from graphaug.data import load_tu  # noqa: E402
from graphaug.select import coadaptation_scores, layer_similarity, recommend_layer  # noqa: E402


def sweep_table(folders: list[Path], name: str, method: str = "deepaug") -> dict:
    """``{label: {"config", "val": [...], "test": [...]}}`` of every cached ``tu.py`` run of
    ``method`` on ``name`` (one entry per seed)."""
    table: dict = {}
    for folder in folders:
        for path in sorted((folder / "runs" / name).glob("**/seed*.json")):
            run = json.loads(path.read_text())
            result = run.get("result", run)
            cfg = result.get("config", {})
            if cfg.get("method") != method:
                continue
            entry = table.setdefault(result["label"], {"config": cfg, "val": {}, "test": {}})
            entry["val"][result["seed"]] = result["val"]
            entry["test"][result["seed"]] = result["test"]
    return table


def choose(table: dict, target=None, key: str = "val") -> tuple[str, dict]:
    """The config with the best mean ``key`` over seeds (at ``target`` if given)."""
    pool = {k: v for k, v in table.items() if target is None or v["config"]["target"] == target}
    if not pool:
        raise SystemExit(f"the sweep has no config at target {target}")
    label = max(pool, key=lambda k: np.mean(list(pool[k][key].values())))
    return label, pool[label]


def main(argv=None, prog: str = "python benchmarks/layer_selection.py") -> dict:
    p = bench_parser(prog, __doc__, out="benchmarks/results/layer_selection")
    p.add_argument("--datasets", nargs="+", default=["MUTAG"])
    p.add_argument("--sweep", nargs="+", type=Path, required=True,
                   help="tu.py result folders holding the sweep's runs/")
    p.add_argument("--seeds", nargs="+", type=number(int, 0), default=[0, 1, 2])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    report = {**run_header(prog, argv, detail=f"{args.threads} torch thread(s)"),
              "datasets": {}}
    for name in args.datasets:
        table = sweep_table(args.sweep, name)
        if not table:
            p.error(f"no deepaug runs of {name} under {[str(s) for s in args.sweep]}")
        val_best, best = choose(table)
        ds = with_download(load_tu, name, args.root, self_loops=True, download=args.download)
        cfg_da = MethodConfig(**{k: v for k, v in best["config"].items()
                                 if k in MethodConfig.__dataclass_fields__})
        cfg_gc = MethodConfig(**{**{k: v for k, v in best["config"].items()
                                    if k in MethodConfig.__dataclass_fields__},
                                 "method": "graphcl"})
        mats = {"graphcl": [], "deepaug": []}
        recommended = []
        for seed in args.seeds:
            for method, cfg in (("graphcl", cfg_gc), ("deepaug", cfg_da)):
                encoder, _ = pretrain(ds.graphs, ds.num_features, cfg, seed)
                matrix, targets = layer_similarity(encoder, _batches(ds.graphs))
                mats[method].append(matrix)
                if method == "graphcl":
                    recommended.append(recommend_layer(matrix, targets)[0])
            print(f"{name} seed {seed}: recommended target {recommended[-1]}", flush=True)
        target = Counter(recommended).most_common(1)[0][0]
        rec_label, rec = choose(table, target)
        test_best, _ = choose(table, key="test")
        mean = {m: np.mean(v, axis=0) for m, v in mats.items()}
        scores = {m: coadaptation_scores(mean[m], targets) for m in mean}
        report["datasets"][name] = {
            "recommended_per_seed": recommended, "recommended": target,
            "val_best": val_best, "val_best_target": best["config"]["target"],
            "val_best_test": 100 * float(np.mean(list(best["test"].values()))),
            "recommended_config": rec_label,
            "recommended_test": 100 * float(np.mean(list(rec["test"].values()))),
            "test_best_for_information": test_best,
            "matrices": {m: v.tolist() for m, v in mean.items()}, "scores": scores,
            "sweep_seeds": sorted({s for v in table.values() for s in v["test"]})}
    report["wall_seconds"] = time.time() - started
    cka_heatmaps(Path(args.out) / "cka_heatmaps.png",
                 {n: e["matrices"] for n, e in report["datasets"].items()})
    text = write_results(args.out, "layer_selection", report,
                         "Layer selection: CKA co-adaptation and the recommendation",
                         markdown(report))
    print(text)
    return report


def _batches(graphs):
    from torch_geometric.loader import DataLoader
    return DataLoader(list(graphs), batch_size=256, shuffle=False)


def markdown(report: dict) -> list[str]:
    rows = []
    for name, e in report["datasets"].items():
        regret = e["val_best_test"] - e["recommended_test"]
        rows.append([name, e["recommended_per_seed"], e["recommended"], e["val_best_target"],
                     "yes" if e["recommended"] == e["val_best_target"] else "no",
                     f"{e['val_best_test']:.2f}", f"{e['recommended_test']:.2f}",
                     f"{regret:+.2f}", f"`{e['test_best_for_information']}`"])
    matrices = {name: e["matrices"] for name, e in report["datasets"].items()}
    width = len(next(iter(matrices.values()))["graphcl"])
    return [
        "CKA: RBF kernel, bandwidth = sqrt(median non-zero squared distance), per-graph sum "
        "readout of each target's node states, all graphs, mean matrix over the CKA seeds. "
        "Recommendation: the target (1..L) whose output the layers above copy most (highest "
        "mean CKA with the targets above it) on the GraphCL-trained encoder; majority over "
        "seeds. Validation-best: the sweep's config with the best mean inner-CV accuracy; "
        "regret = its test accuracy minus that of the validation-best config at the "
        "recommended target (positive = the recommendation loses).", "",
        *markdown_table(["dataset", "recommended per seed", "recommended", "val-best target",
                         "agree", "val-best test", "recommended test", "regret",
                         "test-best (information)"], rows),
        "", "Co-adaptation score per target (mean CKA with the targets above it); lower = "
        "less co-adaptation:", "",
        *coadaptation_table(matrices, list(range(width)), "dataset"),
        "", "![CKA heatmaps](cka_heatmaps.png)", "",
        f"Wall time: {report['wall_seconds'] / 60:.1f} min"]


if __name__ == "__main__":
    main()
