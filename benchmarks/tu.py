"""Unsupervised TU benchmark: GraphCL preset vs Deep Augmentation, SVM protocol.

Stages (all by default):
  select  sweep Deep Augmentation configs (target layer x transform/rate) on the selection
          seeds and pick, per dataset and method, the config with the best *validation*
          accuracy (inner-CV of the SVM protocol; outer test folds never enter the choice);
  final   run graphcl, deepaug (selected) and graphcl+deepaug (selected) on every seed;
  report  write results JSON, a markdown table (mean +- std over seeds, published numbers
          beside) and a plot of accuracy against the targeted layer.

Every run is cached as one JSON file (written atomically) and pretraining checkpoints each
epoch, so an interrupted benchmark resumes where it stopped.

Example:
  python benchmarks/tu.py --root ../shared/datasets --datasets MUTAG PROTEINS \
      --out benchmarks/results/tu
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphaug.contrastive import MethodConfig, pretrain  # noqa: E402
from graphaug.data import load_tu  # noqa: E402
from graphaug.evaluate import embed_graphs, svm_protocol  # noqa: E402
from graphaug.utils import atomic_write_json, atomic_write_text  # noqa: E402

PUBLISHED_GRAPHCL = {"NCI1": (77.87, 0.41), "PROTEINS": (74.39, 0.45), "DD": (78.62, 0.40),
                     "MUTAG": (86.80, 1.34), "COLLAB": (71.36, 1.15),
                     "REDDIT-BINARY": (89.53, 0.84), "REDDIT-MULTI-5K": (55.99, 0.28),
                     "IMDB-BINARY": (71.14, 0.44)}
PUBLISHED_SIMGRACE = {"NCI1": 79.12, "PROTEINS": 75.35, "DD": 77.44, "MUTAG": 89.01,
                      "COLLAB": 71.72, "REDDIT-BINARY": 89.51, "REDDIT-MULTI-5K": 55.91,
                      "IMDB-BINARY": 71.30}


def sweep_configs(num_layers: int, targets, transforms) -> list[tuple[str, float, int]]:
    """(transform, rate, target) candidates."""
    return [(kind, rate, target) for target in targets for kind, rate in transforms
            if target <= num_layers + 1]


def parse_transforms(specs: list[str]) -> list[tuple[str, float]]:
    out = []
    for spec in specs:
        kind, _, rate = spec.partition(":")
        if kind not in ("dropout", "pca") or not rate:
            raise SystemExit(f"bad --transforms entry {spec!r}: use dropout:P or pca:K")
        out.append((kind, float(rate)))
    return out


class Runner:
    """Runs (dataset, config, seed) once; results cached as JSON under ``out/runs``."""

    def __init__(self, args) -> None:
        self.args = args
        self.out = Path(args.out)
        self.datasets: dict = {}

    def dataset(self, name: str):
        if name not in self.datasets:
            self.datasets[name] = load_tu(name, self.args.root, self_loops=True)
        return self.datasets[name]

    def run(self, name: str, cfg: MethodConfig, seed: int) -> dict:
        key = cfg.label().replace(" ", "_").replace("[", "_").replace("]", "") \
            .replace("@", "t").replace("=", "")
        path = self.out / "runs" / name / key / f"seed{seed}.json"
        if path.exists():
            return json.loads(path.read_text())
        ds = self.dataset(name)
        start = time.time()
        ckpt = self.out / "checkpoints" / name / key / f"seed{seed}.pt"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        encoder, history = pretrain(ds.graphs, ds.num_features, cfg, seed, checkpoint=ckpt,
                                    progress=self.args.progress)
        train_s = time.time() - start
        x, y = embed_graphs(encoder, ds.graphs)
        result = svm_protocol(x, y, seed=seed, n_jobs=self.args.jobs)
        result.update(dataset=name, seed=seed, config=cfg.to_dict(), label=cfg.label(),
                      loss=history, train_seconds=train_s,
                      eval_seconds=time.time() - start - train_s)
        atomic_write_json(path, result)
        ckpt.unlink(missing_ok=True)
        print(f"{name:14s} seed {seed} {cfg.label():38s} test {100 * result['test']:.2f} "
              f"val {100 * result['val']:.2f} ({train_s:.0f}s + {result['eval_seconds']:.0f}s)",
              flush=True)
        return result


def base_config(args, **kw) -> MethodConfig:
    return MethodConfig(epochs=args.epochs, input_aug=args.input_aug, hidden=args.hidden,
                        num_layers=args.layers, batch_size=args.batch_size, lr=args.lr,
                        backend=args.backend, **kw)


def select(runner: Runner, args, name: str) -> dict:
    """Validation-only choice of (transform, rate, target) for each deep-aug method."""
    chosen = {}
    transforms = parse_transforms(args.transforms)
    methods = [m for m in ("deepaug", "graphcl+deepaug") if m in args.methods]
    if args.share_selection and "graphcl+deepaug" in methods and "deepaug" in methods:
        methods = ["deepaug"]  # graphcl+deepaug then reuses deepaug's validation choice
    for method in methods:
        scores = []
        for kind, rate, target in sweep_configs(args.layers, args.targets, transforms):
            if kind == "pca" and target == 0 and runner.dataset(name).num_features < 6:
                continue  # PCA needs q = 6 input features (constant-feature social datasets)
            cfg = base_config(args, method=method, transform=kind, rate=rate, target=target)
            runs = [runner.run(name, cfg, s) for s in args.select_seeds]
            scores.append({"transform": kind, "rate": rate, "target": target,
                           "val": float(np.mean([r["val"] for r in runs])),
                           "test": float(np.mean([r["test"] for r in runs]))})
        best = max(scores, key=lambda s: s["val"])  # validation only
        chosen[method] = {"best": best, "sweep": scores}
    if "deepaug" in chosen and "graphcl+deepaug" in args.methods and args.share_selection:
        chosen["graphcl+deepaug"] = {"best": chosen["deepaug"]["best"], "sweep": [],
                                     "shared_with": "deepaug"}
    return chosen


def summarise(values: list[float]) -> tuple[float, float]:
    return 100 * float(np.mean(values)), 100 * float(np.std(values))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", default=os.environ.get("GRAPHAUG_DATA"),
                   help="data root holding TU/<NAME>/raw (default $GRAPHAUG_DATA)")
    p.add_argument("--datasets", nargs="+", default=["MUTAG", "PROTEINS", "NCI1",
                                                     "IMDB-BINARY", "DD"])
    p.add_argument("--methods", nargs="+", default=["graphcl", "deepaug", "graphcl+deepaug"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--select-seeds", nargs="+", type=int, default=[0])
    p.add_argument("--targets", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--transforms", nargs="+", default=["dropout:0.25", "pca:-1"],
                   help="deep-aug candidates, e.g. dropout:0.5 pca:1 pca:-1")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--input-aug", default="random2")
    p.add_argument("--backend", choices=["pyg", "dgl"], default="pyg",
                   help="encoder library: PyG's GraphCLEncoder or DGL's DGLGraphCLEncoder")
    p.add_argument("--jobs", type=int, default=None, help="parallel SVM grid-search jobs")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest for these small graphs on a shared CPU)")
    p.add_argument("--share-selection", action=argparse.BooleanOptionalAction, default=True,
                   help="graphcl+deepaug reuses the deep-aug config selected for deepaug")
    p.add_argument("--out", default="benchmarks/results/tu")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.root is None:
        p.error("pass --root or set GRAPHAUG_DATA")
    torch.set_num_threads(args.threads)
    runner = Runner(args)
    started = time.time()
    report = {"command": args.command or "python " + " ".join(sys.argv),
              "machine": f"CPU ({platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} cores), torch {torch.__version__}",
              "date": date.today().isoformat(), "datasets": {}}
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
        write_report(report, args, started)  # after every dataset: partial tables survive
    return report


def write_report(report: dict, args, started: float) -> None:
    report["wall_seconds"] = time.time() - started
    out = Path(args.out)
    atomic_write_json(out / "results.json", report)
    atomic_write_text(out / "results.md", markdown(report, args))
    plot_layers(report, out / "accuracy_vs_layer.png")
    print(markdown(report, args), flush=True)


def markdown(report: dict, args) -> str:
    methods = args.methods
    lines = [f"# Unsupervised TU: GraphCL preset vs Deep Augmentation", "",
             f"Command: `{report['command']}`  ",
             f"Machine: {report['machine']}  ", f"Date: {report['date']}  ",
             f"Seeds: {args.seeds}; SVM protocol (RBF SVC, C by inner 5-fold CV in outer 10-fold "
             f"CV); deep-aug config chosen on validation (inner-CV) accuracy with seeds "
             f"{args.select_seeds}.", "",
             "| dataset | GraphCL (paper) | SimGRACE (paper) | "
             + " | ".join(methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for name, entry in report["datasets"].items():
        paper = PUBLISHED_GRAPHCL.get(name)
        cells = [name, f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "—",
                 f"{PUBLISHED_SIMGRACE[name]:.2f}" if name in PUBLISHED_SIMGRACE else "—"]
        for method in methods:
            m = entry["methods"].get(method)
            cells.append(f"{m['test_mean']:.2f} ± {m['test_std']:.2f}" if m else "—")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Selected configurations (validation accuracy, selection seeds):", ""]
    for name, entry in report["datasets"].items():
        for method, m in entry["methods"].items():
            lines.append(f"- {name} {method}: `{m['label']}` (val {m['val_mean']:.2f}, "
                         f"{m['train_seconds']:.0f}s pretraining per seed)")
    lines += ["", f"Wall time of this invocation: {report['wall_seconds'] / 60:.1f} min (runs "
              "cached by an interrupted earlier invocation are read, not re-run)", ""]
    return "\n".join(lines)


def plot_layers(report: dict, path: Path) -> None:
    """Accuracy (validation and test, selection seeds) against the targeted layer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["datasets"])
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        sweep = report["datasets"][name]["selection"].get("deepaug", {}).get("sweep", [])
        for kind, rate in sorted({(s["transform"], s["rate"]) for s in sweep}):
            rows = sorted((s for s in sweep if (s["transform"], s["rate"]) == (kind, rate)),
                          key=lambda s: s["target"])
            xs = [s["target"] for s in rows]
            ax.plot(xs, [100 * s["test"] for s in rows], "o-", label=f"{kind} {rate:g} test")
            ax.plot(xs, [100 * s["val"] for s in rows], "x--", label=f"{kind} {rate:g} val")
        graphcl = report["datasets"][name]["methods"].get("graphcl")
        if graphcl:
            ax.axhline(graphcl["test_mean"], color="gray", lw=1, label="graphcl test")
        ax.set_title(name)
        ax.set_xlabel("target (0 = input, L+1 = head)")
        ax.set_ylabel("accuracy (%)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
