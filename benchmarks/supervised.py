"""Claim (b): Deep Augmentation helps contrastive learning but hurts the supervised problem.

A supervised GIN — the same encoder as the GraphCL preset (3 x 32, readout of every layer)
plus a linear classifier — trained with cross-entropy under 10-fold stratified CV, without and
with Deep Augmentation (dropout at one target, training only) at each target. The test
accuracy of each fold is read at the last epoch (no epoch is chosen on test). Differences are
paired per (seed, fold): same split, same initialisation seed.

Example:
  python benchmarks/supervised.py --root /tmp/graphaug-data --datasets MUTAG --seeds 0 1 2
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graphaug as ga  # noqa: E402
from graphaug.bench import bench_parser, markdown_table, number, run_header, \
    with_download, write_results  # noqa: E402
from graphaug.data import load_tu  # noqa: E402
from graphaug.nn import GraphCLEncoder  # noqa: E402
from graphaug.nn.pyg import encode_batch  # noqa: E402
from graphaug.stats import paired_comparison  # noqa: E402
from graphaug.utils import seed_everything  # noqa: E402


class Classifier(nn.Module):
    """GraphCL's encoder (no projection head) and a linear layer on its readout."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = GraphCLEncoder(in_channels, hidden=hidden, num_layers=layers,
                                      proj_head=False)
        self.head = nn.Linear(self.encoder.out_channels, num_classes)

    def forward(self, batch) -> torch.Tensor:
        return self.head(encode_batch(self.encoder, batch))


def fold_accuracy(ds, train, test, target, args, seed: int) -> float:
    from torch_geometric.loader import DataLoader

    seed_everything(seed)
    graphs = [ds.graphs[i] for i in train]
    num_classes = int(max(int(g.y) for g in ds.graphs)) + 1
    model = Classifier(ds.num_features, num_classes, args.hidden, args.layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # Xu et al. (2019) halve the learning rate every 50 epochs; 0 keeps it constant.
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.lr_step, args.lr_gamma) \
        if args.lr_step else None
    handle = None if target is None else ga.attach(
        model.encoder, target, ga.ActivationDropout(args.p, seed=seed))
    drop_last = len(graphs) % args.batch_size == 1
    for _ in range(args.epochs):
        model.train()
        for batch in DataLoader(graphs, batch_size=args.batch_size, shuffle=True,
                                drop_last=drop_last):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(batch), batch.y.view(-1)).backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
    if handle is not None:
        handle.remove()
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in DataLoader([ds.graphs[i] for i in test], batch_size=256):
            correct += int((model(batch).argmax(-1) == batch.y.view(-1)).sum())
    return correct / len(test)


def main(argv=None, prog: str = "python benchmarks/supervised.py") -> dict:
    from sklearn.model_selection import StratifiedKFold

    p = bench_parser(prog, __doc__, out="benchmarks/results/supervised")
    p.add_argument("--datasets", nargs="+", default=["MUTAG"])
    p.add_argument("--seeds", nargs="+", type=number(int, 0), default=[0, 1, 2])
    p.add_argument("--targets", nargs="+", type=number(int, 0), default=[0, 1, 2, 3])
    p.add_argument("--p", type=number(float, 0, 1, high_open=True), default=0.25,
                   help="dropout rate of the deep augmentation")
    p.add_argument("--epochs", type=number(int, 1), default=50)
    p.add_argument("--hidden", type=number(int, 1), default=32)
    p.add_argument("--layers", type=number(int, 1), default=3)
    p.add_argument("--batch-size", type=number(int, 2), default=128)
    p.add_argument("--lr", type=number(float, 0, low_open=True), default=0.01)
    p.add_argument("--lr-step", type=number(int, 0), default=0,
                   help="multiply the learning rate by --lr-gamma every this many epochs "
                        "(default: 0, constant)")
    p.add_argument("--lr-gamma", type=number(float, 0, 1, low_open=True), default=0.5,
                   help="the factor of --lr-step (default: 0.5)")
    args = p.parse_args(argv)
    bad = [t for t in args.targets if t > args.layers]
    if bad:
        p.error(f"--targets {bad}: the supervised encoder has targets 0..{args.layers}")
    torch.set_num_threads(args.threads)
    started = time.time()
    report = {**run_header(prog, argv, detail=f"{args.threads} torch thread(s)"),
              "datasets": {}}
    for name in args.datasets:
        ds = with_download(load_tu, name, args.root, self_loops=True, download=args.download)
        y = np.array([int(g.y) for g in ds.graphs])
        scores = {"none": [], **{f"dropout@{t}": [] for t in args.targets}}
        for seed in args.seeds:
            for train, test in StratifiedKFold(10, shuffle=True, random_state=seed).split(y, y):
                for key in scores:
                    target = None if key == "none" else int(key.split("@")[1])
                    scores[key].append(fold_accuracy(ds, train, test, target, args, seed))
            print(f"{name} seed {seed}: " + ", ".join(
                f"{k} {100 * np.mean(v):.2f}" for k, v in scores.items()), flush=True)
        entry = {k: {"mean": 100 * float(np.mean(v)), "std": 100 * float(np.std(v)),
                     "per_fold": v} for k, v in scores.items()}
        for key in scores:
            if key != "none":
                c = paired_comparison(scores[key], scores["none"])
                entry[key]["vs_none"] = {k: (100 * v if k in ("mean", "low", "high") else v)
                                         for k, v in c.items()}
        report["datasets"][name] = entry
    report["wall_seconds"] = time.time() - started
    rows = []
    for name, entry in report["datasets"].items():
        for key, e in entry.items():
            c = e.get("vs_none")
            rows.append([name, key, f"{e['mean']:.2f} ± {e['std']:.2f}",
                         "—" if c is None else f"{c['mean']:+.2f} [{c['low']:+.2f}, "
                                               f"{c['high']:+.2f}]",
                         "—" if c is None else f"{c['wilcoxon_p']:.3f}"])
    decay = f" x {args.lr_gamma:g} every {args.lr_step} epochs" if args.lr_step else ""
    body = [f"10-fold stratified CV x seeds {args.seeds}; {args.epochs} epochs, Adam lr "
            f"{args.lr}{decay}, batch {args.batch_size}; GIN {args.layers} x {args.hidden} "
            "(GraphCL's encoder) + linear classifier; deep augmentation = "
            f"ActivationDropout({args.p}) at the target, training only; accuracy at the last "
            "epoch; differences paired per (seed, fold).", "",
            *markdown_table(["dataset", "training", "test accuracy %",
                             "vs none (mean [95 % interval])", "Wilcoxon p"], rows, 2),
            "", f"Wall time: {report['wall_seconds'] / 60:.1f} min"]
    text = write_results(args.out, "supervised", report,
                         "Supervised GIN with and without Deep Augmentation", body)
    print(text)
    return report


if __name__ == "__main__":
    main()
