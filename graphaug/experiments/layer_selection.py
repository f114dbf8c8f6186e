"""Which layer to augment: CKA co-adaptation of trained encoders, the layer recommendation, and
its agreement and regret against a full sweep under validation-only selection.

For every dataset and seed: pretrain the GraphCL preset and Deep Augmentation (the sweep's
validation-best config; every training setting is the sweep's) with
`graphaug.contrastive.pretrain`, compute the RBF-CKA matrix
between the per-graph readouts of targets `0..L` (`graphaug.select.layer_similarity`)
and the recommendation of `graphaug.select.recommend_layer` on the GraphCL-trained
encoder. Then read the sweep that graphaug tu ran (every deep-aug config on every
seed; its runs.jsonl): the validation-best config (mean inner-CV
accuracy over seeds), the best config at the recommended target (also by validation), their
test accuracies and the regret; the test-best config is listed for information only.

Example:
  graphaug layer-selection --root /tmp/graphaug-data --datasets MUTAG \\
      --sweep benchmarks/results/tu_nested_a --seeds 0 1 2
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch


from .options import (BenchConfig, bench_parser, command_main, dataset_name, default_out,
                      number, seed_type, with_download)
from .report import (cka_heatmaps, coadaptation_table, markdown_table, run_header,
                     wall_time_line, write_results)
from .runner import RunCache, folder_runs, protocol_cache, read_json, tu_identity
from graphaug.contrastive import MethodConfig, pretrain
from graphaug.data import load_tu
from graphaug.select import coadaptation_scores, layer_similarity, recommend_layer


def sweep_table(folders: list[Path], name: str, method: str = "deepaug") -> dict:
    """`{label: {"config", "val": {seed: acc}, "test": {seed: acc}}}` of the `graphaug tu` runs of
    `method` on `name` that each folder's `results.json` reports (read from its
    runs.jsonl): a run counts only when its (target, transform, rate, test accuracy) is in that
    report's sweep, so runs left by older code versions are never mixed in."""
    table: dict = {}
    for folder in folders:
        report = read_json(folder / "results.json") or {}
        entry = report.get("datasets", {}).get(name, {}).get("methods", {}).get(method, {})
        reported = {(s["target"], s["transform"], s["rate"], test)
                    for s in entry.get("sweep", []) for test in s["per_seed"]}
        for run in folder_runs(folder, name):
            cfg = run.get("config", {})
            if cfg.get("method") != method or (cfg.get("target"), cfg.get("transform"),
                                                cfg.get("rate"), run["test"]) not in reported:
                continue
            row = table.setdefault(run["label"], {"config": cfg, "val": {}, "test": {}})
            row["val"][run["seed"]] = run["val"]
            row["test"][run["seed"]] = run["test"]
    return table


def choose(table: dict, target=None, key: str = "val") -> tuple[str, dict]:
    """The config with the best mean `key` over seeds (at `target` if given)."""
    pool = {k: v for k, v in table.items() if target is None or v["config"]["target"] == target}
    if not pool:
        raise SystemExit(f"the sweep has no config at target {target}")
    label = max(pool, key=lambda k: np.mean(list(pool[k][key].values())))
    return label, pool[label]


class SweepMissing(ValueError):
    """A dataset has no deep-aug runs in the given sweep folders."""


@dataclass(frozen=True)
class LayerSelectionConfig(BenchConfig):
    """Everything a layer-selection report depends on, typed and validated once (the
    command line builds it from its options; Python callers build it directly and call run).

    Args:
        sweep (tuple of path): graphaug tu result folders holding the sweep's results.json
            and runs.jsonl (at least one).
        datasets (tuple of str): TU dataset names. (default: ("MUTAG",))
        seeds (tuple of int): pretraining seeds of the CKA matrices. (default: (0, 1, 2))
        the others: as the command's options of the same name
            (graphaug layer-selection --help).

    Raises:
        ValueError: naming the field, the bad value and the fix.

    Example::

        >>> cfg = LayerSelectionConfig(sweep=("benchmarks/results/tu_sweep_mutag",),
        ...                            root="/tmp/graphaug-data")
        >>> report = run(cfg)  # doctest: +SKIP
    """

    sweep: tuple = ()
    datasets: tuple = ("MUTAG",)
    out: str = field(default_factory=lambda: default_out("layer-selection"))
    seeds: tuple = (0, 1, 2)

    def __post_init__(self) -> None:
        self.check_common(("sweep", "datasets", "seeds"), (("threads", 1),), ("seeds",))
        object.__setattr__(self, "sweep", tuple(Path(s) for s in self.sweep))
        if not self.sweep:
            raise ValueError("sweep: name at least one graphaug tu result folder (--sweep)")


def parser(prog: str = "graphaug layer-selection"):
    """The options of graphaug layer-selection (their dests are LayerSelectionConfig's
    fields)."""
    p = bench_parser(prog, __doc__, out=default_out("layer-selection"))
    p.add_argument("--datasets", nargs="+", type=dataset_name, default=["MUTAG"])
    p.add_argument("--sweep", nargs="+", type=Path, required=True,
                   help="graphaug tu result folders holding the sweep's results.json and "
                        "runs.jsonl")
    p.add_argument("--seeds", nargs="+", type=seed_type, default=[0, 1, 2])
    return p


def main(argv=None, prog: str = "graphaug layer-selection") -> dict:
    """The graphaug layer-selection command: its options -> LayerSelectionConfig -> run."""
    return command_main(parser(prog), LayerSelectionConfig, run, argv, prog,
                        errors=(SweepMissing, FileNotFoundError))


def run(args: LayerSelectionConfig, prog: str = "graphaug layer-selection",
        argv=None) -> dict:
    """Write the layer-selection report of config args under args.out; return it.

    Raises:
        SweepMissing: a dataset has no deep-aug runs under args.sweep.
    """
    torch.set_num_threads(args.threads)
    started = time.time()
    # each (dataset, method, seed) pretraining and its CKA matrix is cached: reruns and the
    # combined report over several datasets read them instead of pretraining again
    cache = protocol_cache(args, "layer_selection")
    report = {**run_header(prog, argv, detail=f"{args.threads} torch thread(s)"),
              "datasets": {}}
    for name in args.datasets:
        table = sweep_table(args.sweep, name)
        if not table:
            raise SweepMissing(f"no deepaug runs of {name} under "
                               f"{[str(s) for s in args.sweep]}")
        val_best, best = choose(table)
        ds = with_download(load_tu, name, args.root, self_loops=True, download=args.download)
        cfg_da = MethodConfig(**{k: v for k, v in best["config"].items()
                                 if k in MethodConfig.__dataclass_fields__})
        # its deep-aug fields at their defaults: GraphCL's encoders are cached once per
        # dataset and seed, whichever config is validation-best
        cfg_gc = cfg_da.with_method("graphcl")
        mats = {"graphcl": [], "deepaug": []}
        recommended = []
        identity = tu_identity(name, args.root)
        for seed in args.seeds:
            for method, cfg in (("graphcl", cfg_gc), ("deepaug", cfg_da)):
                def compute(checkpoint: Path, cfg=cfg, seed=seed) -> dict:
                    encoder, _ = pretrain(ds.graphs, ds.num_features, cfg, seed,
                                          checkpoint=checkpoint, config={"dataset": identity})
                    matrix, targets = layer_similarity(encoder, _batches(ds.graphs))
                    return {"matrix": matrix.tolist(), "targets": targets}

                run = cache.run((name, cfg.label(), f"seed{seed}"),
                                {"dataset": identity, "method": cfg.to_dict(), "seed": seed},
                                compute)
                matrix, targets = np.asarray(run["matrix"]), run["targets"]
                mats[method].append(matrix)
                if method == "graphcl":
                    recommended.append(recommend_layer(matrix, targets)[0])
            print(f"{name} seed {seed}: recommended target {recommended[-1]}", flush=True)
        target = Counter(recommended).most_common(1)[0][0]
        rec_label, rec = choose(table, target) if any(
            v["config"]["target"] == target for v in table.values()) else (None, None)
        test_best, _ = choose(table, key="test")
        mean = {m: np.mean(v, axis=0) for m, v in mats.items()}
        scores = {m: coadaptation_scores(mean[m], targets) for m in mean}
        report["datasets"][name] = {
            "recommended_per_seed": recommended, "recommended": target,
            "val_best": val_best, "val_best_target": best["config"]["target"],
            "val_best_test": 100 * float(np.mean(list(best["test"].values()))),
            "recommended_config": rec_label,  # None: the sweep did not run that target
            "recommended_test": None if rec is None else
            100 * float(np.mean(list(rec["test"].values()))),
            "test_best_for_information": test_best,
            "matrices": {m: v.tolist() for m, v in mean.items()}, "scores": scores,
            "sweep_seeds": sorted({s for v in table.values() for s in v["test"]}),
            "sweep_targets": sorted({v["config"]["target"] for v in table.values()})}
    report["wall_seconds"] = time.time() - started
    cka_heatmaps(Path(args.out) / "layer_selection_cka.png",
                 {n: e["matrices"] for n, e in report["datasets"].items()})
    text = write_results(args.out, "layer_selection", report,
                         "Layer selection: CKA co-adaptation and the recommendation",
                         markdown(report, cache), cache)
    print(text)
    return report


def _batches(graphs):
    from torch_geometric.loader import DataLoader
    return DataLoader(list(graphs), batch_size=256, shuffle=False)


def markdown(report: dict, cache: Optional[RunCache] = None) -> list[str]:
    rows = []
    for name, e in report["datasets"].items():
        ran = e["recommended_test"] is not None
        regret = e["val_best_test"] - e["recommended_test"] if ran else None
        swept = len(e.get("sweep_targets", [None, None])) > 1  # else nothing to agree with
        rows.append([name, len(e.get("sweep_seeds", [])), e["recommended_per_seed"],
                     e["recommended"],
                     e["val_best_target"] if swept else "only the recommended target run",
                     ("yes" if e["recommended"] == e["val_best_target"] else "no") if swept
                     else "—", f"{e['val_best_test']:.2f}" if swept else "—",
                     f"{e['recommended_test']:.2f}" if ran else "not in the sweep",
                     f"{regret:+.2f}" if swept and ran else "—",
                     f"`{e['test_best_for_information']}`" if swept else "—"])
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
        *markdown_table(["dataset", "sweep seeds", "recommended per seed", "recommended",
                         "val-best target",
                         "agree", "val-best test", "recommended test", "regret",
                         "test-best (information)"], rows),
        "", "Co-adaptation score per target (mean CKA with the targets above it); lower = "
        "less co-adaptation:", "",
        *coadaptation_table(matrices, list(range(width)), "dataset"),
        "", "![CKA heatmaps](layer_selection_cka.png)", "",
        wall_time_line(report["wall_seconds"], cache)]


if __name__ == "__main__":
    main()
