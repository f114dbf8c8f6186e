"""Claim (b): Deep Augmentation helps contrastive learning but hurts the supervised problem.

A supervised GIN — the same encoder as the GraphCL preset (3 x 32, readout of every layer)
plus a linear classifier — trained with cross-entropy under 10-fold stratified CV, without and
with Deep Augmentation (dropout at one target, training only) at each target. The test
accuracy of each fold is read at the last epoch (no epoch is chosen on test). Differences are
paired per (seed, fold): same split, same initialisation seed. Each (dataset, training, seed)
run is cached under `<--cache>/supervised` (key: the whole configuration, the raw files'
identity and the code version), so an interrupted invocation resumes and a finished one is
re-read.

Example:
  graphaug supervised --root /tmp/graphaug-data --datasets MUTAG --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn


import graphaug as ga
from .options import (BenchConfig, bench_parser, command_main, dataset_name, default_out, number,
                      seed_type)
from .report import markdown_table, run_header, wall_time_line, write_results
from .runner import Runner as BaseRunner, TUDatasets, field_check
from graphaug.nn import GraphCLEncoder
from graphaug.nn.pyg import encode_batch
from graphaug.spec import parse_spec, spec_label
from graphaug.stats import paired_comparison
from graphaug.utils import seed_everything


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


# what a run depends on besides dataset, training and seed (p only where dropout is applied)
RUN_FIELDS = ("epochs", "hidden", "layers", "batch_size", "lr", "lr_step", "lr_gamma")


@dataclass(frozen=True)
class SupervisedConfig(BenchConfig):
    """Everything a supervised run depends on, typed and validated once (the command line
    builds it from its options; Python callers build it directly and call run).

    Args:
        datasets (tuple of str): TU dataset names.
        seeds (tuple of int): split / initialisation seeds, 0 <= seed < 2**32.
        targets (tuple of int): deep-aug targets, 0 (input) .. layers.
        p (float): the dropout rate of the deep augmentation, in [0, 1). (default: 0.25)
        lr_step (int): multiply the learning rate by lr_gamma every this many epochs; 0 keeps
            it constant. (default: 0)
        the others: as the command's options of the same name (graphaug supervised --help).

    Raises:
        ValueError: naming the field, the bad value and the fix.

    Example::

        >>> cfg = SupervisedConfig(datasets=("MUTAG",), seeds=(0,), epochs=2, targets=(2,),
        ...                        root="/tmp/graphaug-data")
        >>> report = run(cfg)  # doctest: +SKIP
    """

    datasets: tuple = ("MUTAG",)
    out: str = field(default_factory=lambda: default_out("supervised"))
    seeds: tuple = (0, 1, 2)
    targets: tuple = (0, 1, 2, 3)
    p: float = 0.25
    epochs: int = 50
    hidden: int = 32
    layers: int = 3
    batch_size: int = 128
    lr: float = 0.01
    lr_step: int = 0
    lr_gamma: float = 0.5
    workers: int = 1

    def __post_init__(self) -> None:
        self.check_common(("datasets", "seeds", "targets"),
                          (("threads", 1), ("workers", 1), ("epochs", 1), ("hidden", 1),
                           ("layers", 1), ("batch_size", 2), ("lr_step", 0)), ("seeds",))
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.p, (int, float)) and 0 <= self.p < 1):
            raise ValueError(f"p must be a dropout rate in [0, 1), got {self.p!r}")
        if not (isinstance(self.lr_gamma, (int, float)) and 0 < self.lr_gamma <= 1):
            raise ValueError(f"lr_gamma must be in (0, 1], got {self.lr_gamma!r}")
        bad = [t for t in self.targets if not isinstance(t, int) or not 0 <= t <= self.layers]
        if bad:
            raise ValueError(f"--targets {bad}: the supervised encoder has targets "
                             f"0..{self.layers}")


class Runner(BaseRunner):
    """Runs (dataset, training, seed) once -- its ten fold accuracies -- cached under
    `<--cache>/supervised`, so an interrupted invocation resumes where it stopped (the
    protocol's part of graphaug.experiments.runner.Runner: the spec and the compute
    function)."""

    config_type = SupervisedConfig

    def __init__(self, args: SupervisedConfig) -> None:
        super().__init__(args, "supervised", check=field_check(lists=("per_fold",)))
        self.dataset = TUDatasets(args.root, args.download)

    def parts_spec(self, name: str, training: str, seed: int) -> tuple[tuple, dict]:
        """The run's cache address and specification (see `RunCache`)."""
        spec = {"dataset": self.dataset.identity(name), "self_loops": True,
                "training": training, "p": None if training == "none" else self.args.p,
                "seed": seed, "folds": 10,
                **{field: getattr(self.args, field) for field in RUN_FIELDS}}
        return (name, training, f"seed{seed}"), spec

    def compute(self, _checkpoint: Path, spec: dict, name: str, training: str,
                seed: int) -> dict:
        """{"per_fold": [accuracy, ...], "seconds": ...} of training ("none" or a spec such as
        "dropout:0.25@2") under seed seed's 10-fold split."""
        from sklearn.model_selection import StratifiedKFold

        ds = self.dataset(name)
        target = parse_spec(training).target
        start = time.time()
        y = np.array([int(g.y) for g in ds.graphs])
        folds = StratifiedKFold(10, shuffle=True, random_state=seed).split(y, y)
        return {"per_fold": [fold_accuracy(ds, train, test, target, self.args, seed)
                             for train, test in folds],
                "seconds": time.time() - start}


def parser(prog: str = "graphaug supervised") -> argparse.ArgumentParser:
    """The options of graphaug supervised (their dests are SupervisedConfig's fields)."""
    p = bench_parser(prog, __doc__, out=default_out("supervised"))
    p.add_argument("--datasets", nargs="+", type=dataset_name, default=["MUTAG"])
    p.add_argument("--seeds", nargs="+", type=seed_type, default=[0, 1, 2])
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
    p.add_argument("--workers", type=number(int, 1), default=1,
                   help="processes running the (dataset, training, seed) runs in parallel "
                        "(e.g. 2 on a 2-core CPU with --threads 1; default 1)")
    return p


def main(argv=None, prog: str = "graphaug supervised") -> dict:
    """The graphaug supervised command: its options -> SupervisedConfig -> run."""
    return command_main(parser(prog), SupervisedConfig, run, argv, prog, errors=())


def run(args: SupervisedConfig, prog: str = "graphaug supervised", argv=None) -> dict:
    """Run the supervised protocol of config args and write its report under args.out
    (supervised.md, supervised.json, runs.jsonl); return the report."""
    torch.set_num_threads(args.threads)
    started = time.time()
    report = {**run_header(prog, argv, detail=f"{args.threads} torch thread(s)"),
              "datasets": {}}
    runner = Runner(args)
    keys = ["none", *(spec_label("dropout", args.p, t) for t in args.targets)]
    runs = [(name, key, seed) for name in args.datasets for seed in args.seeds for key in keys]
    runner.prefetch(runs)
    for name in args.datasets:
        scores = {key: [] for key in keys}
        for seed in args.seeds:
            for key in keys:  # seed-major, fold order within: the pairing of vs_none
                scores[key].extend(runner.run(name, key, seed)["per_fold"])
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
    body = [f"10-fold stratified CV x seeds {list(args.seeds)}; {args.epochs} epochs, Adam lr "
            f"{args.lr}{decay}, batch {args.batch_size}; GIN {args.layers} x {args.hidden} "
            "(GraphCL's encoder) + linear classifier; deep augmentation = "
            f"ActivationDropout({args.p}) at the target, training only; accuracy at the last "
            "epoch; differences paired per (seed, fold).", "",
            *markdown_table(["dataset", "training", "test accuracy %",
                             "vs none (mean [95 % interval])", "Wilcoxon p"], rows, 2),
            "", wall_time_line(report["wall_seconds"], runner.cache)]
    text = write_results(args.out, "supervised", report,
                         "Supervised GIN with and without Deep Augmentation", body,
                         runner.cache, "runs.jsonl")
    print(text)
    return report


if __name__ == "__main__":
    main()
