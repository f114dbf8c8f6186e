"""Unsupervised TU benchmark: GraphCL preset vs Deep Augmentation, SVM protocol.

Stages (all by default):
  select  sweep Deep Augmentation configs (target layer x transform/rate) on the selection
          seeds and pick, per dataset and method, the config with the best *validation*
          accuracy (inner-CV of the SVM protocol; outer test folds never enter the choice);
  final   run graphcl, deepaug (selected) and graphcl+deepaug (selected) on every seed;
  report  write results JSON, a markdown table (mean +- std over seeds, published numbers
          beside) and a plot of accuracy against the targeted layer.

Runs are cached by :class:`graphaug.bench.RunCache` (key: the whole configuration, the raw
files' hashes and the code version) and pretraining checkpoints each epoch, so an interrupted
benchmark resumes where it stopped and a changed flag never reads an old number. Also runnable
as ``graphaug tu``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphaug.bench import (RunCache, bench_parser, line_plot,  # noqa: E402
                            markdown_table, number, run_header, tu_identity, wall_time_line,
                            with_download, write_results)
from graphaug.contrastive import MethodConfig, pretrain  # noqa: E402
from graphaug.contrastive.pipeline import METHODS  # noqa: E402
from graphaug.data import load_tu  # noqa: E402
from graphaug.evaluate import SVM_C_GRID, embed_graphs, svm_protocol  # noqa: E402
from graphaug.views import AUGMENTATIONS  # noqa: E402

EXAMPLES = """examples:
  # a writable copy of the data (PyG writes processed/ beside raw/), then a one-minute run
  mkdir -p /tmp/graphaug-data/TU && cp -r ../shared/datasets/TU/MUTAG /tmp/graphaug-data/TU/
  graphaug tu --root /tmp/graphaug-data --datasets MUTAG --epochs 1 --seeds 0 --targets 2 --transforms dropout:0.25 --out /tmp/graphaug-tu
  # the committed tables (hours on 2 cores)
  cp -r ../shared/datasets /tmp/graphaug-data
  python benchmarks/tu.py --root /tmp/graphaug-data --datasets MUTAG PROTEINS NCI1 IMDB-BINARY DD --out benchmarks/results/tu
"""

PUBLISHED_GRAPHCL = {"NCI1": (77.87, 0.41), "PROTEINS": (74.39, 0.45), "DD": (78.62, 0.40),
                     "MUTAG": (86.80, 1.34), "COLLAB": (71.36, 1.15),
                     "REDDIT-BINARY": (89.53, 0.84), "REDDIT-MULTI-5K": (55.99, 0.28),
                     "IMDB-BINARY": (71.14, 0.44)}
PUBLISHED_SIMGRACE = {"NCI1": 79.12, "PROTEINS": 75.35, "DD": 77.44, "MUTAG": 89.01,
                      "COLLAB": 71.72, "REDDIT-BINARY": 89.51, "REDDIT-MULTI-5K": 55.91,
                      "IMDB-BINARY": 71.30}
#: what the SVM protocol's score depends on besides the embeddings (part of every cache key)
EVAL = {"protocol": "svm", "folds": 10, "inner_folds": 5, "c_grid": list(SVM_C_GRID)}


def parse_transform(spec: str) -> tuple[str, float]:
    """``dropout:P`` (0 <= P < 1) or ``pca:K`` (integer K != 0) -> ``(kind, rate)``."""
    kind, _, rate = spec.partition(":")
    try:
        value = float(rate)
    except ValueError:
        value = None
    if kind == "dropout" and value is not None and 0 <= value < 1:
        return kind, value
    if kind == "pca" and value is not None and value == int(value) and value != 0:
        return kind, value
    raise argparse.ArgumentTypeError(f"bad transform {spec!r}: use dropout:P with 0 <= P < 1 "
                                     "or pca:K with an integer K != 0")


class Runner:
    """Runs (dataset, config, seed) once; results cached under ``out/runs``."""

    def __init__(self, args) -> None:
        self.args = args
        self.cache = RunCache(Path(args.out) / "runs", script=__file__)
        self.datasets: dict = {}
        self.identity: dict = {}

    def dataset(self, name: str):
        if name not in self.datasets:
            self.datasets[name] = with_download(load_tu, name, self.args.root, self_loops=True,
                                                download=self.args.download)
            self.identity[name] = tu_identity(name, self.args.root)
        return self.datasets[name]

    def run(self, name: str, cfg: MethodConfig, seed: int) -> dict:
        ds = self.dataset(name)
        spec = {"dataset": self.identity[name], "self_loops": True, "method": cfg.to_dict(),
                "seed": seed, "eval": EVAL}

        def compute(checkpoint: Path) -> dict:
            encoder, history = pretrain(ds.graphs, ds.num_features, cfg, seed,
                                        checkpoint=checkpoint, progress=self.args.progress,
                                        config={"dataset": spec["dataset"]})
            start = time.time()
            x, y = embed_graphs(encoder, ds.graphs)
            result = svm_protocol(x, y, seed=seed, folds=EVAL["folds"],
                                  inner_folds=EVAL["inner_folds"], c_grid=EVAL["c_grid"],
                                  n_jobs=self.args.jobs, progress=self.args.progress)
            result.update(dataset=name, seed=seed, config=cfg.to_dict(), label=cfg.label(),
                          loss=list(history), train_seconds=history.seconds,
                          eval_seconds=time.time() - start)
            print(f"{name:14s} seed {seed} {cfg.label():38s} test {100 * result['test']:.2f} "
                  f"val {100 * result['val']:.2f} ({history.seconds:.0f}s + "
                  f"{result['eval_seconds']:.0f}s)", flush=True)
            return result

        return self.cache.run((name, cfg.label(), f"seed{seed}"), spec, compute)


def base_config(args, **kw) -> MethodConfig:
    return MethodConfig(epochs=args.epochs, input_aug=args.input_aug, hidden=args.hidden,
                        num_layers=args.layers, batch_size=args.batch_size, lr=args.lr,
                        backend=args.backend, **kw)


def select(runner: Runner, args, name: str) -> dict:
    """Validation-only choice of (transform, rate, target) for each deep-aug method."""
    chosen = {}
    methods = [m for m in ("deepaug", "graphcl+deepaug") if m in args.methods]
    if args.share_selection and "graphcl+deepaug" in methods and "deepaug" in methods:
        methods = ["deepaug"]  # graphcl+deepaug then reuses deepaug's validation choice
    for method in methods:
        scores = []
        for target in args.targets:
            for kind, rate in args.transforms:
                if kind == "pca" and target == 0 and runner.dataset(name).num_features < 6:
                    continue  # PCA needs q = 6 input features (constant-feature social sets)
                cfg = base_config(args, method=method, transform=kind, rate=rate, target=target)
                runs = [runner.run(name, cfg, s) for s in args.select_seeds]
                scores.append({"transform": kind, "rate": rate, "target": target,
                               "val": float(np.mean([r["val"] for r in runs])),
                               "test": float(np.mean([r["test"] for r in runs]))})
        if not scores:
            raise SystemExit(f"{name}: no deep-aug candidate applies (PCA at target 0 needs 6 "
                             "input features); add --targets or --transforms")
        best = max(scores, key=lambda s: s["val"])  # validation only
        chosen[method] = {"best": best, "sweep": scores}
    if "deepaug" in chosen and "graphcl+deepaug" in args.methods and args.share_selection:
        chosen["graphcl+deepaug"] = {"best": chosen["deepaug"]["best"], "sweep": [],
                                     "shared_with": "deepaug"}
    return chosen


def summarise(values: list[float]) -> tuple[float, float]:
    return 100 * float(np.mean(values)), 100 * float(np.std(values))


def parser(prog: str = "python benchmarks/tu.py"):
    p = bench_parser(prog, __doc__, out="benchmarks/results/tu", examples=EXAMPLES,
                     root_help="data root holding TU/<NAME>/raw")
    count, seed = number(int, 1), number(int, 0)
    p.add_argument("--datasets", nargs="+", default=["MUTAG", "PROTEINS", "NCI1",
                                                     "IMDB-BINARY", "DD"])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=seed, default=[0, 1, 2, 3, 4])
    p.add_argument("--select-seeds", nargs="+", type=seed, default=[0])
    p.add_argument("--targets", nargs="+", type=seed, default=None,
                   help="deep-aug target indices, 0 (input) .. layers+1 (projection head; "
                        "default: all of them)")
    p.add_argument("--transforms", nargs="+", type=parse_transform,
                   default=[("dropout", 0.25), ("pca", -1.0)],
                   help="deep-aug candidates, e.g. dropout:0.5 pca:1 pca:-1")
    p.add_argument("--epochs", type=count, default=20)
    p.add_argument("--hidden", type=count, default=32)
    p.add_argument("--layers", type=count, default=3)
    p.add_argument("--batch-size", type=number(int, 2), default=128)
    p.add_argument("--lr", type=number(float, 0, low_open=True), default=0.01)
    p.add_argument("--input-aug", choices=AUGMENTATIONS, default="random2")
    p.add_argument("--backend", choices=["pyg", "dgl"], default="pyg",
                   help="encoder library: PyG's GraphCLEncoder or DGL's DGLGraphCLEncoder")
    p.add_argument("--jobs", type=int, default=None, help="parallel SVM grid-search jobs")
    p.add_argument("--share-selection", action=argparse.BooleanOptionalAction, default=True,
                   help="graphcl+deepaug reuses the deep-aug config selected for deepaug")
    return p


def main(argv=None, prog: str = "python benchmarks/tu.py") -> dict:
    p = parser(prog)
    args = p.parse_args(argv)
    if args.targets is None:
        args.targets = list(range(args.layers + 2))
    bad = [t for t in args.targets if t > args.layers + 1]
    if bad:
        p.error(f"--targets {bad}: with --layers {args.layers} a target is 0 (input) .. "
                f"{args.layers + 1} (projection head)")
    torch.set_num_threads(args.threads)
    runner = Runner(args)
    for name in args.datasets:  # every dataset loads before any training starts
        try:
            runner.dataset(name)
        except (FileNotFoundError, ValueError, OSError, RuntimeError) as err:
            p.error(f"--datasets {name}: {err}")
    started = time.time()
    report = {**run_header(prog, argv, detail=f"{args.threads} torch thread(s)"),
              "datasets": {}}
    for name in args.datasets:
        entry = {"selection": select(runner, args, name), "methods": {}}
        for method in args.methods:
            if method == "graphcl":
                cfg = base_config(args, method="graphcl")
            else:
                best = entry["selection"][method]["best"]
                cfg = base_config(args, method=method, transform=best["transform"],
                                  rate=best["rate"], target=best["target"])
            runs = [runner.run(name, cfg, s) for s in args.seeds]
            mean, std = summarise([r["test"] for r in runs])
            entry["methods"][method] = {"label": cfg.label(), "test_mean": mean, "test_std": std,
                                        "val_mean": summarise([r["val"] for r in runs])[0],
                                        "per_seed": [r["test"] for r in runs],
                                        "train_seconds": float(np.mean([r["train_seconds"]
                                                                        for r in runs]))}
        report["datasets"][name] = entry
        report["wall_seconds"] = time.time() - started
        # after every dataset: partial tables survive an interruption
        text = write_results(args.out, "results", report,
                             "Unsupervised TU: GraphCL preset vs Deep Augmentation",
                             markdown(report, args, runner.cache))
        plot_layers(report, Path(args.out) / "accuracy_vs_layer.png")
        print(text, flush=True)
    return report


def markdown(report: dict, args, cache: RunCache) -> list[str]:
    methods = args.methods
    rows = []
    for name, entry in report["datasets"].items():
        paper = PUBLISHED_GRAPHCL.get(name)
        cells = [name, f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "—",
                 f"{PUBLISHED_SIMGRACE[name]:.2f}" if name in PUBLISHED_SIMGRACE else "—"]
        for method in methods:
            m = entry["methods"].get(method)
            cells.append(f"{m['test_mean']:.2f} ± {m['test_std']:.2f}" if m else "—")
        rows.append(cells)
    lines = [f"Seeds: {args.seeds}; SVM protocol (RBF SVC, C by inner 5-fold CV in outer "
             f"10-fold CV); deep-aug config chosen on validation (inner-CV) accuracy with seeds "
             f"{args.select_seeds}.", "",
             *markdown_table(["dataset", "GraphCL (paper)", "SimGRACE (paper)", *methods], rows),
             "", "Selected configurations (validation accuracy, selection seeds):", ""]
    for name, entry in report["datasets"].items():
        for method, m in entry["methods"].items():
            lines.append(f"- {name} {method}: `{m['label']}` (val {m['val_mean']:.2f}, "
                         f"{m['train_seconds']:.0f}s pretraining per seed)")
    return lines + ["", wall_time_line(report["wall_seconds"], cache)]


def plot_layers(report: dict, path: Path) -> None:
    """Accuracy (validation and test, selection seeds) against the targeted layer."""
    panels, baselines = {}, {}
    for name, entry in report["datasets"].items():
        series = panels.setdefault(name, {})
        for s in entry["selection"].get("deepaug", {}).get("sweep", []):
            for split in ("test", "val"):
                series.setdefault(f"{s['transform']} {s['rate']:g} {split}", []).append(
                    (s["target"], 100 * s[split]))
        if "graphcl" in entry["methods"]:
            baselines[name] = entry["methods"]["graphcl"]["test_mean"]
    line_plot(path, panels, "target (0 = input, L+1 = head)", "accuracy (%)", baselines)


if __name__ == "__main__":
    main()
