"""OGB molecular benchmark: GraphCL and Deep Augmentation pretraining on ogbg-mol* datasets.

For each dataset and seed, methods
  none             no pretraining (random initialisation),
  graphcl          GraphCL chemistry pretraining (both views input-augmented, random2 =
                   node dropping / subgraph per graph, aug ratio 0.2, temperature 0.1),
  deepaug          activation transform at target k only (no input augmentation),
  graphcl+deepaug  both,
are pretrained on the *training* molecules of the official scaffold split and evaluated by
  probe     linear probe on standardised frozen embeddings (logistic / ridge regression per
            task, C grid); the pretraining epoch and C are chosen on the validation score;
  finetune  whole network + linear head, early stopping on the validation score
            (fine-tuned from the last pretraining epoch);
both scored by the official ogb.graphproppred.Evaluator. The deep-aug target/transform is
chosen among --deepaug candidates by the validation probe score of the --select-seeds runs
(test scores never enter a choice); graphcl+deepaug reuses deepaug's choice.

Runs are cached by graphaug.experiments.runner.RunCache (key: the whole configuration, the raw
files' hashes and the code version); pretraining checkpoints every epoch and the per-epoch probe
scores are kept beside it, so an interrupted benchmark resumes and a changed flag never reads an
old number. Also runnable as `graphaug ogb`.

The pretraining throughput (molecules/s) of every method is measured in the same run as a plain
two-view forward/backward through the same encoder (round-robin, best of --speed-repeats).
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch


from graphaug import distributed as _dist
from .options import (CommandConfig, bench_parser, dataset_name, default_out, number,
                      require_datasets, seed_type, with_download)
from .report import markdown_table, run_header, wall_time_line, write_results
from .runner import (RunCache, Runner as BaseRunner, default_cache, field_check, ogb_identity,
                     read_json)
from graphaug.contrastive import MethodConfig, PlainTwoView, build_model, pretrain
from graphaug.contrastive.pipeline import build_encoder, graph_batches
from graphaug.data import load_ogb
from graphaug.evaluate import embed_graphs, finetune, linear_probe, ogb_metric
from graphaug.utils import atomic_write_json, move_aside, seed_everything
from graphaug.spec import AugSpec, config_label, parse_spec, spec_label
from graphaug.views import AUGMENTATIONS

EXAMPLES = """examples:
  # a writable copy of the data (OGB writes processed/ beside raw/), then a two-minute run
  mkdir -p /tmp/graphaug-data/ogb && cp -r ../shared/datasets/ogb/ogbg_molfreesolv /tmp/graphaug-data/ogb/
  graphaug ogb --root /tmp/graphaug-data --datasets ogbg-molfreesolv --methods none deepaug --seeds 0 --hidden 16 --layers 2 --epochs 2 --probe-every 1 --ft-epochs 2 --ft-batch-size 64 --deepaug dropout:0.25@1 --speed-batches 1 --speed-repeats 1 --out /tmp/graphaug-ogb
  # CPU configuration of the committed tables (see README)
  graphaug ogb --root /tmp/graphaug-data --datasets ogbg-molhiv --hidden 64 --layers 3 --epochs 5 --probe-every 3 --ft-epochs 5 --ft-batch-size 256 --deepaug dropout:0.25@2 dropout:0.25@3 --workers 2 --out benchmarks/results/ogb_cpu_hiv
"""

#: GraphCL's published transfer results (ROC-AUC %, ZINC-2M pretraining, fine-tuned).
PUBLISHED_GRAPHCL = {"ogbg-molhiv": 78.5, "ogbg-molbace": 75.4, "ogbg-molbbbp": 69.7,
                     "ogbg-moltox21": 73.9, "ogbg-moltoxcast": 62.4, "ogbg-molsider": 60.5,
                     "ogbg-molclintox": 76.0}
ALL_DATASETS = ("ogbg-molhiv", "ogbg-molbace", "ogbg-molbbbp", "ogbg-moltox21", "ogbg-molsider",
                "ogbg-molesol", "ogbg-molfreesolv", "ogbg-mollipo")
METHODS = ("none", "graphcl", "deepaug", "graphcl+deepaug")
#: what a cached run must hold (else it is moved aside and recomputed)
CHECK = field_check("probe.valid", "probe.test", "finetune.valid", "finetune.test")


def parse_deepaug(text: str) -> tuple[str, float, int]:
    """A --deepaug candidate in the spec grammar (graphaug.spec): dropout:0.25@2 ->
    ("dropout", 0.25, 2); pca:-1@3 -> ("pca", -1.0, 3)."""
    try:
        spec = parse_spec(text, target=True)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"bad deep-aug candidate: {err}") from None
    if spec.kind is None:
        raise argparse.ArgumentTypeError("bad deep-aug candidate 'none': the plain preset is "
                                         "--methods graphcl or none")
    return spec.kind, spec.rate, spec.target


def run_key(method: str, deep: tuple | None) -> str:
    """The run's label: method and spec, e.g. "deepaug dropout:0.25@2" (graphaug.spec)."""
    if deep is None:
        return "none" if method == "none" else config_label(method)
    return config_label(method, *deep)


@dataclass(frozen=True)
class OGBConfig(CommandConfig):
    """Everything an OGB benchmark run depends on, typed and validated once (the command line
    builds it from its options of the same names, graphaug ogb --help; Python callers build it
    directly and call run).

    Args:
        datasets (tuple of str): OGB molecule sets, e.g. ("ogbg-molbace",).
        deepaug (tuple): deep-aug candidates, specs with a target ("dropout:0.25@2") or
            (kind, rate, target) triples; the best on validation is run.
        the others: as the command's options.

    Raises:
        ValueError: naming the field, the bad value and the fix.

    Example::

        >>> cfg = OGBConfig(datasets=("ogbg-molbace",), seeds=(0,), epochs=2, ft_epochs=2)
        >>> report = run(cfg)  # doctest: +SKIP
    """

    datasets: tuple = ()
    root: Optional[str] = None
    out: str = field(default_factory=lambda: default_out("ogb"))
    cache: str = field(default_factory=lambda: str(default_cache()))
    replay: Optional[str] = None
    threads: int = 1
    progress: bool = False
    download: bool = True
    methods: tuple = tuple(METHODS)
    seeds: tuple = (0, 1, 2)
    select_seeds: tuple = (0,)
    deepaug: tuple = (("dropout", 0.25, 2),)
    hidden: int = 300
    layers: int = 5
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    temperature: float = 0.1
    aug_ratio: float = 0.2
    input_aug: str = "random2"
    apply_prob: float = 0.5
    probe_every: int = 10
    c_grid: tuple = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    ft_epochs: int = 100
    ft_batch_size: int = 32
    ft_lr: float = 1e-3
    ft_dropout: float = 0.5
    ft_patience: Optional[int] = None
    speed_batches: int = 10
    speed_repeats: int = 3
    workers: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        def setattr_(name, value):
            object.__setattr__(self, name, value)

        self.check_common(("datasets", "methods", "seeds", "select_seeds", "c_grid"),
                          (("threads", 1), ("workers", 1), ("epochs", 1), ("hidden", 1),
                           ("layers", 1), ("batch_size", 2), ("probe_every", 1),
                           ("ft_epochs", 1), ("ft_batch_size", 2), ("speed_batches", 1),
                           ("speed_repeats", 1)), ("seeds", "select_seeds"))
        if self.ft_patience is not None and (not isinstance(self.ft_patience, int) or
                                             self.ft_patience < 1):
            raise ValueError(f"ft_patience must be None or an integer >= 1, got "
                             f"{self.ft_patience!r}")
        for name in ("lr", "temperature", "ft_lr", *(f"c_grid[{i}]" for i in
                                                     range(len(self.c_grid)))):
            value = self.c_grid[int(name[7:-1])] if name.startswith("c_grid") else \
                getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name, high_open in (("aug_ratio", True), ("ft_dropout", True),
                                ("apply_prob", False)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and
                    0 <= value and (value < 1 if high_open else value <= 1)):
                raise ValueError(f"{name} must be in [0, 1{')' if high_open else ']'}, got "
                                 f"{value!r}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods {list(self.methods)}: choose from {list(METHODS)}")
        deepaug = []
        for item in self.deepaug:
            spec = parse_spec(item) if isinstance(item, str) else \
                parse_spec(spec_label(str(item[0]), float(item[1]), int(item[2])))
            if spec.kind is None:
                raise ValueError("deepaug lists deep-aug candidates; the plain preset is "
                                 "methods graphcl or none")
            deepaug.append((spec.kind, spec.rate, spec.target))
        setattr_("deepaug", tuple(deepaug))
        bad = [d for d in self.deepaug if d[2] > self.layers + 1]
        if bad:
            raise ValueError(f"--deepaug targets {[d[2] for d in bad]}: with --layers "
                             f"{self.layers} a target is 0 (input) .. {self.layers + 1} "
                             "(projection head)")
        for deep in self.deepaug:  # every target of the molecule encoder is --hidden wide
            spec = AugSpec(*deep)
            try:
                spec.check_width(self.hidden, f"--hidden {self.hidden}")
            except ValueError as err:
                raise ValueError(f"--deepaug {spec.label}: {err}") from None



class DatasetError(ValueError):
    """A dataset of the config cannot be used (the message names it and why)."""


class Runner(BaseRunner):
    """Runs (dataset, method, deep-aug config, seed) once; results cached in the run cache
    (`<--cache>/ogb`; the protocol's part of graphaug.experiments.runner.Runner: the spec
    and the compute function)."""

    config_type = OGBConfig
    sidecars = (".probes.json",)

    def __init__(self, args) -> None:
        super().__init__(args, "ogb", check=CHECK)
        self.device = torch.device(args.device)
        self.data: dict = {}
        self.identity: dict = {}

    def dataset(self, name: str):
        if name not in self.data:
            dataset, split = with_download(load_ogb, name, self.args.root,
                                           download=self.args.download)
            self.data[name] = {k: [dataset[int(i)] for i in split[k]]
                               for k in ("train", "valid", "test")}
            self.identity[name] = ogb_identity(name, self.args.root)
        return self.data[name]

    def config(self, method: str, deep: tuple | None) -> MethodConfig:
        a = self.args
        kind, rate, target = deep if deep is not None else ("dropout", 0.25, 0)
        return MethodConfig(
            method=method if method != "none" else "graphcl", encoder="mol", hidden=a.hidden,
            num_layers=a.layers, epochs=a.epochs, lr=a.lr, batch_size=a.batch_size,
            temperature=a.temperature, input_aug=a.input_aug, aug_ratio=a.aug_ratio,
            augment_both=True, subgraph_keep=1.0 - a.aug_ratio, transform=kind, rate=rate,
            target=target, apply_prob=a.apply_prob)

    def job(self, name: str, method: str, deep, seed: int) -> tuple:
        """A worker's task as a job (JSON-like lists back to tuples)."""
        return name, method, None if deep is None else tuple(deep), seed

    def parts_spec(self, name: str, method: str, deep: tuple | None,
                   seed: int) -> tuple[tuple, dict]:
        """`(cache parts, spec)` of a run: everything its numbers depend on."""
        a = self.args
        self.dataset(name)
        spec = {"dataset": self.identity[name], "run": method, "method":
                self.config(method, deep).to_dict(), "seed": seed, "device": self.device.type,
                "world_size": _dist.world_size(),
                "probe": {"every": a.probe_every, "c_grid": a.c_grid},
                "finetune": {k: getattr(a, k) for k in ("ft_epochs", "ft_batch_size", "ft_lr",
                                                        "ft_dropout", "ft_patience")}}
        return (name, run_key(method, deep), f"seed{seed}"), spec

    def embeddings(self, encoder, parts) -> tuple[dict, dict]:
        x, y = {}, {}
        for split, graphs in parts.items():
            x[split], _ = embed_graphs(encoder, graphs, batch_size=512, device=self.device)
            y[split] = torch.cat([g.y.view(1, -1).float() for g in graphs]).numpy()
        return x, y

    def compute(self, ckpt: Path, spec: dict, name: str, method: str, deep: tuple | None,
                seed: int) -> dict:
        """Pretrain with a linear probe every --probe-every epochs, then fine-tune."""
        parts, cfg = self.dataset(name), self.config(method, deep)
        probe_log = ckpt.with_suffix(".probes.json")
        log = read_json(probe_log) or {"scores": {}, "seconds": 0.0}
        if ckpt.is_file() and not probe_log.is_file():
            # the probes of the epochs before the resume are gone: that pretraining restarts
            move_aside(ckpt, f"its probe log {probe_log.name} is missing or unreadable")
            log = {"scores": {}, "seconds": 0.0}
        probes = log["scores"]

        def probe(epoch: int, encoder) -> None:
            t = time.time()
            probes[str(epoch)] = linear_probe(name, *self.embeddings(encoder, parts),
                                              c_grid=self.args.c_grid)
            log["seconds"] += time.time() - t  # summed across resumes, like the training time
            atomic_write_json(probe_log, log)

        if method == "none":
            seed_everything(seed)
            encoder = build_encoder(cfg, 0).to(self.device)
            probe(0, encoder)
            history, pretrain_s = [], 0.0
        else:
            def on_epoch_end(epoch: int, loss: float, encoder) -> None:
                done = epoch + 1
                if done % self.args.probe_every == 0 or done == cfg.epochs:
                    probe(done, encoder)

            encoder, history = pretrain(parts["train"], 0, cfg, seed, checkpoint=ckpt,
                                        progress=self.args.progress, device=self.device,
                                        on_epoch_end=on_epoch_end,
                                        config={"dataset": spec["dataset"]})
            pretrain_s = history.seconds - log["seconds"]
        _, higher = ogb_metric(name)
        best_epoch = max(probes, key=lambda e: probes[e]["valid"] if higher
                         else -probes[e]["valid"])  # validation only
        t = time.time()
        ft = finetune(name, encoder, parts, epochs=self.args.ft_epochs, lr=self.args.ft_lr,
                      batch_size=self.args.ft_batch_size, dropout=self.args.ft_dropout,
                      patience=self.args.ft_patience, seed=seed, device=self.device,
                      progress=self.args.progress)
        result = {"dataset": name, "method": method, "deepaug": deep, "seed": seed,
                  "config": cfg.to_dict(), "loss": list(history),
                  "probe": {**probes[best_epoch], "epoch": int(best_epoch)},
                  "probe_per_epoch": {e: {k: p[k] for k in ("valid", "test", "C")}
                                      for e, p in probes.items()},
                  "finetune": ft, "pretrain_seconds": pretrain_s,
                  "probe_seconds": log["seconds"], "finetune_seconds": time.time() - t}
        print(f"{name:16s} seed {seed} {run_key(method, deep):28s} probe "
              f"{result['probe']['test']:.4f} (val {result['probe']['valid']:.4f}, epoch "
              f"{best_epoch}) finetune {ft['test']:.4f} (val {ft['valid']:.4f}, epoch "
              f"{ft['epoch']}) [{pretrain_s:.0f}s + {log['seconds']:.0f}s + "
              f"{result['finetune_seconds']:.0f}s]", flush=True)
        return result


def run_all(runner: Runner, jobs: list[tuple]) -> None:
    """Run (dataset, method, deepaug, seed) jobs, --workers processes at a time (each with
    --threads torch threads); results land in the run cache."""
    runner.prefetch(jobs)
    for job in jobs:
        runner.run(*job)


def select_deepaug(runner: Runner, name: str) -> dict:
    """The deep-aug candidate with the best validation probe score (selection seeds)."""
    candidates = [tuple(d) for d in runner.args.deepaug]
    _, higher = ogb_metric(name)
    run_all(runner, [(name, "deepaug", deep, s) for deep in candidates
                     for s in runner.args.select_seeds])
    sweep = []
    for deep in candidates:
        runs = [runner.run(name, "deepaug", deep, s) for s in runner.args.select_seeds]
        sweep.append({"deepaug": list(deep),
                      "valid": float(np.mean([r["probe"]["valid"] for r in runs])),
                      "test": float(np.mean([r["probe"]["test"] for r in runs]))})
    best = max(sweep, key=lambda s: s["valid"] if higher else -s["valid"])
    return {"best": tuple(best["deepaug"]), "sweep": sweep}


def throughput(runner: Runner, name: str, deep: tuple) -> dict:
    """Pretraining molecules/s of every method and of a plain two-view forward/backward, timed
    round-robin in one run over the same batches (best of `--speed-repeats`)."""
    a = runner.args
    torch.manual_seed(0)
    batches = []
    for batch in graph_batches(runner.dataset(name)["train"], a.batch_size, runner.device)(0):
        batches.append(batch)
        if len(batches) == a.speed_batches:
            break
    molecules = sum(int(b.num_graphs) for b in batches)
    gen = torch.Generator().manual_seed(0)
    plain = PlainTwoView(build_encoder(runner.config("graphcl", None), 0),
                         temperature=a.temperature)
    models = {"plain two-view (floor)": plain}
    for method in ("graphcl", "deepaug", "graphcl+deepaug"):
        models[method] = build_model(runner.config(method, deep), 0, gen)
    steps = {}
    for label, model in models.items():
        model.to(runner.device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=a.lr)

        def step(model=model, optimizer=optimizer):
            for batch in batches:
                optimizer.zero_grad(set_to_none=True)
                model(batch).backward()
                optimizer.step()
            if runner.device.type == "cuda":
                torch.cuda.synchronize()
        steps[label] = step
    best = {label: float("inf") for label in steps}
    for _ in range(a.speed_repeats):
        for label, step in steps.items():
            t = time.perf_counter()
            step()
            best[label] = min(best[label], time.perf_counter() - t)
    floor = best["plain two-view (floor)"]
    return {label: {"molecules_per_s": molecules / s, "vs_floor": s / floor}
            for label, s in best.items()}


def summarise(values: list[float], scale: float) -> dict:
    return {"mean": scale * float(np.mean(values)), "std": scale * float(np.std(values))}


def parser(prog: str = "graphaug ogb") -> argparse.ArgumentParser:
    p = bench_parser(prog, __doc__, out=default_out("ogb"), examples=EXAMPLES,
                     root_help="data root holding ogb/ogbg_mol*/")
    count = number(int, 1)
    positive, fraction = number(float, 0, low_open=True), number(float, 0, 1, high_open=True)
    p.add_argument("--datasets", nargs="+", type=dataset_name, default=None,
                   help=f"any of {', '.join(ALL_DATASETS)} (required)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", nargs="+", type=seed_type, default=[0, 1, 2])
    p.add_argument("--select-seeds", nargs="+", type=seed_type, default=[0])
    p.add_argument("--deepaug", nargs="+", type=parse_deepaug, default=[("dropout", 0.25, 2)],
                   help="deep-aug candidates KIND:RATE@TARGET, chosen on validation")
    p.add_argument("--hidden", type=count, default=300)
    p.add_argument("--layers", type=count, default=5)
    p.add_argument("--epochs", type=count, default=100, help="pretraining epochs")
    p.add_argument("--batch-size", type=number(int, 2), default=256)
    p.add_argument("--lr", type=positive, default=1e-3)
    p.add_argument("--temperature", type=positive, default=0.1)
    p.add_argument("--aug-ratio", type=fraction, default=0.2)
    p.add_argument("--input-aug", choices=AUGMENTATIONS, default="random2")
    p.add_argument("--apply-prob", type=number(float, 0, 1), default=0.5)
    p.add_argument("--probe-every", type=count, default=10,
                   help="linear probe every this many pretraining epochs (and the last)")
    p.add_argument("--c-grid", nargs="+", type=positive, default=[1e-3, 1e-2, 1e-1, 1.0, 10.0])
    p.add_argument("--ft-epochs", type=count, default=100)
    p.add_argument("--ft-batch-size", type=number(int, 2), default=32)
    p.add_argument("--ft-lr", type=positive, default=1e-3)
    p.add_argument("--ft-dropout", type=fraction, default=0.5)
    p.add_argument("--ft-patience", type=count, default=None)
    p.add_argument("--speed-batches", type=count, default=10)
    p.add_argument("--speed-repeats", type=count, default=3)
    p.add_argument("--workers", type=count, default=1,
                   help="runs in parallel processes (e.g. 2 on a 2-core CPU with --threads 1)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p


def main(argv=None, prog: str = "graphaug ogb") -> dict:
    """The graphaug ogb command: its options -> OGBConfig -> run."""
    p = parser(prog)
    args = p.parse_args(argv)
    try:
        cfg = OGBConfig.from_namespace(args)
    except ValueError as err:
        p.error(str(err))
    require_datasets(p, args, "--datasets ogbg-molbace --seeds 0 --epochs 2 --ft-epochs 2 "
                     "--root DATA --out OUT")
    try:
        return run(cfg, prog, argv)
    except DatasetError as err:
        p.error(str(err))


def run(args: OGBConfig, prog: str = "graphaug ogb", argv=None) -> dict:
    """Run the OGB benchmark of config args and write its report under args.out (results.md,
    results.json, runs.jsonl); return the report.

    Raises:
        DatasetError: the device or a dataset cannot be used (before any training).
    """
    if not args.datasets:
        raise ValueError("no datasets: name at least one, e.g. "
                         "OGBConfig(datasets=('ogbg-molbace',))")
    try:
        device = torch.device(args.device)
    except RuntimeError as err:
        raise DatasetError(f"--device {args.device}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DatasetError(f"--device {args.device}: CUDA is not available on this machine")
    torch.set_num_threads(args.threads)
    # under torchrun every rank runs this script with a share of each global batch; worker
    # processes would each need their own group, so ranks run their jobs one at a time
    if _dist.init_from_env() and args.workers > 1:
        raise DatasetError("--workers > 1 cannot be combined with torchrun: use one or the "
                           "other")
    runner = Runner(args)
    for name in args.datasets:  # every dataset loads before any training starts
        try:
            ogb_metric(name)
        except Exception:  # OGB's Evaluator raises a bare exception listing all of OGB
            raise DatasetError(f"--datasets {name}: not an OGB graph-property dataset (the "
                               f"molecule sets here: {', '.join(ALL_DATASETS)})") from None
        try:
            runner.dataset(name)
        except (FileNotFoundError, ValueError, OSError, RuntimeError) as err:
            raise DatasetError(f"--datasets {name}: {err}") from None
    started = time.time()
    report = {**run_header(prog, argv, device=args.device, detail=(
                  f"{args.workers} worker process(es) x {args.threads} torch thread(s)")),
              "config": {k: v for k, v in asdict(args).items()
                         if k not in ("root", "progress", "download", "cache", "replay")},
              "datasets": {}}
    for name in args.datasets:
        metric, _ = ogb_metric(name)
        scale = 100.0 if metric != "rmse" else 1.0
        entry = {"metric": metric, "methods": {}}
        deep_methods = [m for m in args.methods if m in ("deepaug", "graphcl+deepaug")]
        deep = None
        if deep_methods:
            entry["selection"] = select_deepaug(runner, name)
            deep = entry["selection"]["best"]
        jobs = {m: [(name, m, deep if m in deep_methods else None, s) for s in args.seeds]
                for m in args.methods}
        run_all(runner, [job for m in args.methods for job in jobs[m]])
        for method in args.methods:
            runs = [runner.run(*job) for job in jobs[method]]
            entry["methods"][method] = {
                "deepaug": deep if method in deep_methods else None,
                "probe": summarise([r["probe"]["test"] for r in runs], scale),
                "probe_valid": summarise([r["probe"]["valid"] for r in runs], scale),
                "finetune": summarise([r["finetune"]["test"] for r in runs], scale),
                "finetune_valid": summarise([r["finetune"]["valid"] for r in runs], scale),
                "pretrain_seconds": float(np.mean([r["pretrain_seconds"] for r in runs])),
                "finetune_seconds": float(np.mean([r["finetune_seconds"] for r in runs]))}
        if deep is not None:
            entry["throughput"] = throughput(runner, name, deep)
        report["datasets"][name] = entry
        report["wall_seconds"] = time.time() - started
        if not _dist.is_main():
            continue
        print(write_results(args.out, "results", report,  # after every dataset
                            "OGB molecules: GraphCL vs Deep Augmentation pretraining",
                            markdown(report, runner.cache), runner.cache), flush=True)
    return report


def markdown(report: dict, cache: RunCache) -> list[str]:
    cfg = report["config"]
    methods = cfg["methods"]
    rows = []
    for name, entry in report["datasets"].items():
        paper = PUBLISHED_GRAPHCL.get(name)
        cells = [name, entry["metric"], f"{paper:.1f}" if paper else "—"]
        for m in methods:
            r = entry["methods"].get(m)
            for kind in ("probe", "finetune"):
                cells.append(f"{r[kind]['mean']:.2f} ± {r[kind]['std']:.2f}" if r else "—")
        rows.append(cells)
    lines = [f"Encoder: OGB GIN (atom/bond encoders), {cfg['layers']} layers x {cfg['hidden']}, "
             f"mean readout; pretraining on the scaffold-split training molecules, "
             f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']}, temperature "
             f"{cfg['temperature']}, {cfg['input_aug']} at ratio {cfg['aug_ratio']} on both "
             f"views. Fine-tuning: {cfg['ft_epochs']} epochs, batch {cfg['ft_batch_size']}, "
             f"lr {cfg['ft_lr']}, dropout {cfg['ft_dropout']}. Seeds {cfg['seeds']}; "
             "mean ± std. ROC-AUC in %, RMSE as is (lower is better). Test scores at the "
             "validation-selected epoch/C; deep-aug config chosen on the validation probe "
             f"score of seeds {cfg['select_seeds']}.", "",
             *markdown_table(["dataset", "metric", "GraphCL (paper, ZINC-2M, fine-tuned)",
                              *(f"{m} {kind}" for m in methods for kind in ("probe", "finetune"))],
                             rows, numeric_from=2),
             "", "Deep-aug configuration (validation probe score of the selection seeds):", ""]
    for name, entry in report["datasets"].items():
        if "selection" in entry:
            sweep = ", ".join(f"{s['deepaug'][0]} {s['deepaug'][1]:g} @{s['deepaug'][2]}: "
                              f"val {s['valid']:.4f}" for s in entry["selection"]["sweep"])
            best = entry["selection"]["best"]
            lines.append(f"- {name}: chosen {best[0]} {best[1]:g} at target {best[2]} "
                         f"({sweep})")
    rows = [[name, *(f"{v['molecules_per_s']:.0f} ({v['vs_floor']:.2f}x time)"
                     for v in entry["throughput"].values())]
            for name, entry in report["datasets"].items() if entry.get("throughput")]
    lines += ["", "Pretraining throughput (molecules/s, one run, round-robin, same batches):", "",
              *markdown_table(["dataset", "plain two-view (floor)", "graphcl", "deepaug",
                               "graphcl+deepaug"], rows),
              "", "Seconds per seed (pretraining / fine-tuning):", ""]
    for name, entry in report["datasets"].items():
        lines.append(f"- {name}: " + ", ".join(
            f"{m} {r['pretrain_seconds']:.0f}/{r['finetune_seconds']:.0f}"
            for m, r in entry["methods"].items()))
    return lines + ["", wall_time_line(report["wall_seconds"], cache)]


if __name__ == "__main__":
    main()
