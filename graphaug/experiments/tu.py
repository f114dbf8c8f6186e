"""Unsupervised TU benchmark: GraphCL preset vs Deep Augmentation, SVM protocol.

Selection (--selection):
  nested  (default) every deep-aug candidate (target layer x transform/rate) is pretrained on
          every seed; in each outer fold of each seed the candidate with the best inner-CV
          *validation* accuracy of that fold's training part is chosen and tested on the fold
          (strict nested selection: a fold's test graphs never enter its choice);
  seed    the older scheme: one config per dataset and method chosen on the validation
          accuracy of the selection seeds, then run on every seed;
then: graphcl, deepaug and graphcl+deepaug per seed (paired: same seed, same folds), the
paired differences against graphcl (mean, 95 % interval, Wilcoxon), accuracy per target layer;
  report  write results JSON, a markdown table (mean +- std over seeds, published numbers
          beside) and a plot of accuracy against the targeted layer.

Which candidate (--select, with --selection nested):
  validation  (default) the strict nested selection above, the preset among the candidates;
  validation-deep
              the same over the deep-aug configs only (how benchmarks/tu.py selected before
              the preset joined; graphaug rebuild replays its committed tables with it);
  rankme, alignment, uniformity, loss, cka
              label-free (graphaug.select.CRITERIA): every candidate is pretrained and scored
              on its un-augmented embeddings (no SVM, no label), the best score is picked per
              seed, and the SVM protocol runs only for the pick and the preset. With
              --selection seed the pick is made once per dataset (best mean score over the
              --select-seeds) and only the pick runs on every seed: one sweep of
              pretrainings per dataset instead of one per seed.
The preset (graphcl: no activation transform) is a candidate of every selection but
validation-deep, so a selection can decline Deep Augmentation. Every run logs the readout's RankMe, alignment and
uniformity per epoch (graphaug.contrastive.CollapseMonitor) into its result.

Targets: `--targets 0 2 3` sweeps those; `--targets recommended` takes the one that
`graphaug.select.recommend_layer` picks from the mean CKA matrix of the seeds' graphcl
encoders (every graphcl run records it; no labels, no sweep). `--workers N` runs the runs on N
processes (one thread each), longest first, before the report is assembled.

Runs are cached by graphaug.experiments.runner.RunCache (key: the whole configuration, the raw
files' hashes and the code version) and pretraining checkpoints each epoch, so an interrupted
benchmark resumes where it stopped and a changed flag never reads an old number. Also runnable
as `graphaug tu`.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch


from .options import (CommandConfig, bench_parser, dataset_name, default_out, number,
                      require_datasets, seed_type)
from .report import line_plot, markdown_table, run_header, wall_time_line, write_results
from .runner import RunCache, Runner as BaseRunner, TUDatasets, default_cache, field_check
from graphaug import distributed as _dist
from graphaug.contrastive import MethodConfig, pretrain
from graphaug.contrastive.pipeline import METHODS
from graphaug.nn.base import AGGREGATIONS, INITS
from graphaug.evaluate import SVM_C_GRID, embed_graphs, nested_select, svm_protocol
from graphaug.select import CRITERIA, graph_criteria, layer_similarity, recommend_layer, \
    select_config
from graphaug.spec import AugSpec, parse_spec, spec_label
from graphaug.stats import mean_interval, paired_comparison
from graphaug.views import AUGMENTATIONS

EXAMPLES = """examples:
  # a writable copy of the data (PyG writes processed/ beside raw/), then a one-minute run
  mkdir -p /tmp/graphaug-data/TU && cp -r ../shared/datasets/TU/MUTAG /tmp/graphaug-data/TU/
  graphaug tu --root /tmp/graphaug-data --datasets MUTAG --epochs 1 --seeds 0 --targets 2 --transforms dropout:0.25 --out /tmp/graphaug-tu
  # every dataset: copy the folder's contents (cp -r into an existing folder would nest it)
  cp -r ../shared/datasets/. /tmp/graphaug-data/
  # the six-dataset table at the recommended layer, both cores busy
  graphaug tu --root /tmp/graphaug-data --datasets MUTAG PROTEINS NCI1 IMDB-BINARY DD REDDIT-BINARY --seeds 0 1 2 3 4 5 6 7 8 9 --targets recommended --transforms dropout:0.25 --workers 2 --out /tmp/tu-recommended
  # one of the committed full sweeps (tu_sweeps.md; hours on 2 cores)
  graphaug tu --root /tmp/graphaug-data --datasets MUTAG --seeds 0 1 2 3 4 5 6 7 8 9 --targets 0 1 2 3 4 --transforms dropout:0.125 dropout:0.25 dropout:0.5 pca:1 pca:-1 --select validation-deep --workers 2 --out benchmarks/results/tu_sweep_mutag
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
#: label-free scoring of a candidate (pretraining only; part of its cache key)
CRITERIA_EVAL = {"protocol": "criteria", "sample": 512, "seed": 0}
#: graphs the per-epoch monitor embeds
MONITOR_SAMPLE = 128
VALIDATION = ("validation", "validation-deep")
SELECTS = (*VALIDATION, *CRITERIA)
#: what a cached run must hold (else it is moved aside and recomputed)
SVM_CHECK = field_check("test", "val", "train_seconds",
                        lists=("fold_test", "fold_val", "fold_C"))
CRITERIA_CHECK = field_check("train_seconds", *(f"criteria.{k}" for k in CRITERIA))


def CHECK(result: dict) -> Optional[str]:
    """The cache check of a run: an SVM run's accuracies, or a criteria run's scores."""
    protocol = result.get("spec", {}).get("eval", {}).get("protocol")
    return (CRITERIA_CHECK if protocol == "criteria" else SVM_CHECK)(result)


def parse_transform(text: str) -> tuple[str, float]:
    """A --transforms candidate: dropout:P or pca:K (graphaug.spec, targets from --targets)
    -> (kind, rate)."""
    try:
        spec = parse_spec(text, target=False)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if spec.kind is None:
        raise argparse.ArgumentTypeError("--transforms lists deep-aug candidates; the plain "
                                         "preset is --methods graphcl")
    return spec.kind, spec.rate


@dataclass(frozen=True)
class TUConfig(CommandConfig):
    """Everything a TU benchmark run depends on, typed and validated once (the command line
    builds it from its options; Python callers build it directly and call run).

    Args:
        datasets (tuple of str): TU dataset names (letters, digits, _ + -).
        seeds (tuple of int): pretraining / evaluation seeds, 0 <= seed < 2**32.
        targets (tuple of int, "recommended" or None): deep-aug targets, 0 .. layers + 1;
            None: all of them; "recommended": the label-free CKA recommendation.
        transforms (tuple): deep-aug candidates, (kind, rate) pairs or specs without a target
            ("dropout:0.25", "pca:-1").
        selection (str): "nested", "seed" or a strategy registered with register_selection.
        select (str): with selection "nested": "validation" (the preset among the
            candidates), "validation-deep" (deep-aug configs only) or a label-free criterion
            of graphaug.select.CRITERIA ("rankme", ...: the SVM protocol for the pick only).
        the others: as the command's options of the same name (graphaug tu --help).

    Raises:
        ValueError: naming the field, the bad value and the fix.

    Example::

        >>> cfg = TUConfig(datasets=("MUTAG",), seeds=(0,), epochs=1, targets=(2,),
        ...                transforms=("dropout:0.25",), root="/tmp/graphaug-data")
        >>> report = run(cfg)  # doctest: +SKIP
    """

    datasets: tuple = ()
    root: Optional[str] = None
    out: str = field(default_factory=lambda: default_out("tu"))
    cache: str = field(default_factory=lambda: str(default_cache()))
    replay: Optional[str] = None
    threads: int = 1
    progress: bool = False
    download: bool = True
    methods: tuple = tuple(METHODS)
    seeds: tuple = (0, 1, 2, 3, 4)
    select_seeds: tuple = (0,)
    targets: Any = None
    workers: int = 1
    transforms: tuple = (("dropout", 0.25), ("pca", -1.0))
    epochs: int = 20
    hidden: int = 32
    layers: int = 3
    batch_size: int = 128
    lr: float = 0.01
    input_aug: str = "random2"
    backend: str = "pyg"
    jobs: Optional[int] = None
    share_selection: bool = True
    selection: str = "nested"
    select: str = "validation"
    bn_per_view: bool = False
    strip_self_loops: bool = False
    init: str = "torch"
    aggregation: str = "auto"

    def __post_init__(self) -> None:
        def setattr_(name, value):
            object.__setattr__(self, name, value)

        self.check_common(("datasets", "methods", "seeds", "select_seeds"),
                          (("threads", 1), ("workers", 1), ("epochs", 1), ("hidden", 1),
                           ("layers", 1), ("batch_size", 2)), ("seeds", "select_seeds"))
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods {list(self.methods)}: choose from {list(METHODS)}")
        if self.selection != "seed" and self.selection not in SELECTIONS:
            raise ValueError(f"selection {self.selection!r}: choose from "
                             f"{['seed', *SELECTIONS]} (or register_selection a strategy)")
        if self.select not in SELECTS:
            raise ValueError(f"select {self.select!r}: choose from {list(SELECTS)}")
        transforms = []
        for item in self.transforms:
            spec = parse_spec(item, target=False) if isinstance(item, str) else \
                AugSpec(str(item[0]), float(item[1]))
            if spec.kind is None:
                raise ValueError("transforms lists deep-aug candidates; the plain preset is "
                                 "methods=('graphcl',)")
            parse_spec(spec.label, target=False)  # the range checks of the grammar
            transforms.append((spec.kind, spec.rate))
        setattr_("transforms", tuple(transforms))
        targets = self.targets
        if targets is None:
            targets = tuple(range(self.layers + 2))
        elif targets == "recommended" or (not isinstance(targets, str) and
                                          "recommended" in list(targets)):
            if not isinstance(targets, str) and len(list(targets)) > 1:
                raise ValueError("--targets recommended stands alone (the recommendation "
                                 "picks one target)")
            targets = "recommended"
        else:
            targets = tuple(int(t) for t in targets)
            bad = [t for t in targets if not 0 <= t <= self.layers + 1]
            if bad:
                raise ValueError(f"--targets {bad}: with --layers {self.layers} a target is 0 "
                                 f"(input) .. {self.layers + 1} (projection head)")
        setattr_("targets", targets)
        deep_targets = range(1, self.layers + 2) if targets == "recommended" else \
            [t for t in targets if t > 0]
        for kind, rate in self.transforms:  # PCA needs q = 6 features where it runs
            for target in deep_targets:
                try:
                    AugSpec(kind, rate, target).check_width(self.hidden,
                                                            f"--hidden {self.hidden}")
                except ValueError as err:
                    raise ValueError(f"--transforms {spec_label(kind, rate)}: {err}") from None



class Runner(BaseRunner):
    """Runs (dataset, config, seed) once; results cached in the run cache (the protocol's part
    of graphaug.experiments.runner.Runner: the spec and the compute function)."""

    config_type = TUConfig

    def __init__(self, args) -> None:
        super().__init__(args, "tu", check=CHECK)
        self.dataset = TUDatasets(args.root, args.download)
        self.recommendations: dict = {}
        self.sizes: dict = {}

    @classmethod
    def for_worker(cls, config: dict) -> "Runner":
        """One --workers process: one torch thread per --threads, one SVM job."""
        return super().for_worker({**config, "jobs": 1})

    def task(self, name: str, cfg: MethodConfig, seed: int) -> tuple:
        return name, cfg.to_dict(), seed

    def job(self, name: str, method: dict, seed: int) -> tuple:
        return name, MethodConfig(**method), seed

    def parts_spec(self, name: str, cfg: MethodConfig, seed: int) -> tuple[tuple, dict]:
        """The run's cache address and specification (see `RunCache`)."""
        spec = {"dataset": self.dataset.identity(name), "self_loops": True,
                "method": cfg.to_dict(), "seed": seed, "eval": EVAL,
                "world_size": _dist.world_size()}
        return (name, cfg.label(), f"seed{seed}"), spec

    def pretrain(self, name: str, cfg: MethodConfig, seed: int, spec: dict,
                 checkpoint: Path):
        """`(encoder, history)` of the run, its readout monitored every epoch."""
        ds = self.dataset(name)
        return pretrain(ds.graphs, ds.num_features, cfg, seed, checkpoint=checkpoint,
                        progress=self.args.progress, config={"dataset": spec["dataset"]},
                        monitor=MONITOR_SAMPLE)

    def compute(self, checkpoint: Path, spec: dict, name: str, cfg: MethodConfig,
                seed: int) -> dict:
        """Pretrain, embed every graph, and run the SVM protocol (graphcl: the layer CKA too)."""
        ds = self.dataset(name)
        encoder, history = self.pretrain(name, cfg, seed, spec, checkpoint)
        start = time.time()
        x, y = embed_graphs(encoder, ds.graphs)
        cka = None
        if cfg.method == "graphcl":  # what --targets recommended reads (no labels used)
            from torch_geometric.loader import DataLoader
            matrix, targets = layer_similarity(encoder, DataLoader(list(ds.graphs),
                                                                   batch_size=256))
            cka = {"matrix": matrix.tolist(), "targets": targets}
        result = svm_protocol(x, y, seed=seed, folds=EVAL["folds"],
                              inner_folds=EVAL["inner_folds"], c_grid=EVAL["c_grid"],
                              n_jobs=self.args.jobs, progress=self.args.progress)
        result.update(dataset=name, seed=seed, config=cfg.to_dict(), label=cfg.label(),
                      loss=list(history), monitor=history.monitor,
                      train_seconds=history.seconds, eval_seconds=time.time() - start)
        if cka is not None:
            result["layer_cka"] = cka
        print(f"{name:14s} seed {seed} {cfg.label():38s} test {100 * result['test']:.2f} "
              f"val {100 * result['val']:.2f} ({history.seconds:.0f}s + "
              f"{result['eval_seconds']:.0f}s)", flush=True)
        return result

    def criteria(self, name: str, cfg: MethodConfig, seed: int) -> dict:
        """The label-free criteria of run (name, cfg, seed): pretraining only, no SVM, no
        label (`graphaug.select.graph_criteria`); cached like `run`."""
        ds = self.dataset(name)
        (dataset, label, seed_part), spec = self.parts_spec(name, cfg, seed)
        spec = {**spec, "eval": CRITERIA_EVAL}

        def compute(checkpoint: Path) -> dict:
            encoder, history = self.pretrain(name, cfg, seed, spec, checkpoint)
            start = time.time()
            scores = graph_criteria(encoder, ds.graphs, sample=CRITERIA_EVAL["sample"],
                                    seed=CRITERIA_EVAL["seed"])
            print(f"{name:14s} seed {seed} {label:38s} " + " ".join(
                f"{k} {scores[k]:.3f}" for k in CRITERIA) + f" ({history.seconds:.0f}s)",
                flush=True)
            return {"dataset": name, "seed": seed, "config": cfg.to_dict(), "label": label,
                    "criteria": scores, "loss": list(history), "monitor": history.monitor,
                    "train_seconds": history.seconds, "criteria_seconds": time.time() - start}

        return self.cache.run((dataset, label, f"{seed_part}_criteria"), spec, compute)

    def targets(self, name: str) -> list[int]:
        """The deep-aug targets swept on `name`: `--targets`, or the recommended one."""
        if self.args.targets == "recommended":
            return [self.recommendation(name)["target"]]
        return list(self.args.targets)

    def recommendation(self, name: str) -> dict:
        """`graphaug.select.recommend_layer` on the mean CKA matrix of the graphcl
        encoders of every seed (label-free: no graph's label enters it, so every seed may use
        it; one seed's matrix flips between layers on DD and REDDIT-BINARY). Each seed's own
        pick is kept to show how stable the choice is."""
        if name not in self.recommendations:
            cfg = base_config(self.args, method="graphcl")
            ckas = [self.run(name, cfg, seed)["layer_cka"] for seed in self.args.seeds]
            targets = ckas[0]["targets"]
            picks = [recommend_layer(np.asarray(c["matrix"]), targets)[0] for c in ckas]
            mean = np.mean([c["matrix"] for c in ckas], axis=0)
            target, scores = recommend_layer(mean, targets)
            self.recommendations[name] = {
                "target": target, "scores": {str(t): v for t, v in scores.items()},
                "per_seed": picks, "seeds": list(self.args.seeds)}
        return self.recommendations[name]

    def estimated_seconds(self, name: str, cfg: MethodConfig, seed: int = 0) -> float:
        """Rough single-core seconds of one run (message passing ~ edges x epochs, the SVM
        protocol ~ graphs squared; constants from this project's 2-core CPU runs), only to
        start the longest runs first."""
        if name not in self.sizes:
            graphs = self.dataset(name).graphs
            self.sizes[name] = (sum(int(g.edge_index.size(1)) for g in graphs), len(graphs))
        edges, count = self.sizes[name]
        return 1.75e-6 * edges * cfg.epochs + 7.4e-6 * count ** 2


def run_planned(runner: Runner, args, runs: list[tuple[str, MethodConfig, int]],
                kind: str = "run") -> None:
    """Compute the runs of `runs` that are not cached yet, on `--workers` processes,
    longest first (one process: nothing to do here, the report computes them in turn);
    `kind="criteria"`: their label-free scoring (`Runner.criteria`) instead."""
    runner.prefetch(runs, kind=kind)


def prefetch(runner: Runner, args) -> None:
    """With `--workers`: every run the report reads, computed in parallel before it is
    assembled: the graphcl runs first (the recommendation reads their CKA), then the deep-aug
    candidates, then (`--selection seed`) the chosen configs on every seed."""
    graphcl = base_config(args, method="graphcl")
    need_graphcl = "graphcl" in args.methods or args.targets == "recommended"
    run_planned(runner, args, [(n, graphcl, s) for n in args.datasets for s in args.seeds]
                if need_graphcl else [])
    deep = selected_methods(args) if args.selection == "seed" else \
        [m for m in args.methods if m != "graphcl"]
    seeds = args.select_seeds if args.selection == "seed" else args.seeds
    label_free = args.select in CRITERIA
    run_planned(runner, args, [(n, cfg, s) for n in args.datasets for m in deep
                               for cfg in candidates(runner, args, n, m, preset=label_free)
                               for s in seeds], kind="criteria" if label_free else "run")
    if args.selection == "seed":
        chosen = []
        for name in args.datasets:
            for method, pick in select(runner, args, name).items():
                chosen += [(name, chosen_config(args, method, pick["best"]), s)
                           for s in args.seeds]
        run_planned(runner, args, chosen)


def base_config(args, **kw) -> MethodConfig:
    return MethodConfig(epochs=args.epochs, input_aug=args.input_aug, hidden=args.hidden,
                        num_layers=args.layers, batch_size=args.batch_size, lr=args.lr,
                        backend=args.backend, bn_per_view=args.bn_per_view,
                        strip_self_loops=args.strip_self_loops, init=args.init,
                        aggregation=args.aggregation, **kw)


def candidates(runner: Runner, args, name: str, method: str,
               preset: bool = False) -> list[MethodConfig]:
    """The deep-aug configurations swept for `method` (PCA at the input needs q = 6 input
    features, so it is skipped on the constant-feature social sets); `preset=True` puts
    the preset (graphcl, no activation transform) first."""
    out = [base_config(args, method=method, transform=kind, rate=rate, target=target)
           for target in runner.targets(name) for kind, rate in args.transforms
           if not (kind == "pca" and target == 0 and runner.dataset(name).num_features < 6)]
    if not out:
        raise SystemExit(f"{name}: no deep-aug candidate applies (PCA at target 0 needs 6 "
                         "input features); add --targets or --transforms")
    return [base_config(args, method="graphcl")] + out if preset else out


def nested(runner: Runner, args, name: str, method: str) -> dict:
    """Strict nested selection of `method`'s config, seed by seed (see the module doc); the
    preset is one of the candidates (first, so it wins ties), except with
    `--select validation-deep`."""
    sweep = candidates(runner, args, name, method, preset=args.select == "validation")
    per_seed, choices, by_config, seconds = [], [], {}, []
    for seed in args.seeds:
        results = {cfg.label(): runner.run(name, cfg, seed) for cfg in sweep}
        seconds += [r["train_seconds"] for r in results.values()]
        chosen = nested_select(results)
        per_seed.append(chosen["test"])
        choices.append(chosen["fold_choice"])
        for cfg in (c for c in sweep if c.uses_deep_aug):  # the layer table: deep-aug only
            by_config.setdefault(cfg.label(), {"transform": cfg.transform, "rate": cfg.rate,
                                               "target": cfg.target, "per_seed": []})
            by_config[cfg.label()]["per_seed"].append(results[cfg.label()]["test"])
    mean, std = summarise(per_seed)
    counts: dict = {}
    for fold_choices in choices:
        for label in fold_choices:
            counts[label] = counts.get(label, 0) + 1
    return {"label": f"{method}[nested over {len(sweep)} configs]", "test_mean": mean,
            "test_std": std, "per_seed": per_seed, "fold_choices": choices,
            "choice_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "sweep": list(by_config.values()),
            "train_seconds": float(np.mean(seconds))}


#: --selection name -> strategy(runner, config, dataset, method) -> the method's report entry
#: (as nested returns it: label, test_mean, test_std, per_seed, fold_choices, choice_counts,
#: sweep, train_seconds); "seed" is the older two-phase scheme, built in
SELECTIONS: dict[str, Callable[..., dict]] = {"nested": nested}


def register_selection(name: str, strategy: Callable[..., dict]) -> None:
    """Make strategy available as --selection name (and TUConfig(selection=name)).

    A strategy chooses each deep-aug method's configuration among the candidates the runner
    sweeps (candidates(runner, config, dataset, method); runner.run(...) gives each run's
    result, cached) and returns the method's report entry as nested does. It must never
    choose on test scores.

    Example::

        >>> def first(runner, cfg, name, method):  # doctest: +SKIP
        ...     ...
        >>> register_selection("first", first)  # doctest: +SKIP
    """
    if name == "seed" or not name.isidentifier():
        raise ValueError(f"selection name {name!r}: use an identifier other than 'seed'")
    SELECTIONS[name] = strategy


def label_free(runner: Runner, args, name: str, method: str) -> dict:
    """Label-free selection of `method`'s config by `--select`, seed by seed: every
    candidate (the preset first) is pretrained and scored, the best score is picked, and the
    SVM protocol runs for the pick only (the preset's own SVM run is the graphcl column)."""
    pool = candidates(runner, args, name, method, preset=True)
    per_seed, picks, seconds, svm_runs, picked = [], [], [], 0, []
    for seed in args.seeds:
        scores = {cfg.label(): runner.criteria(name, cfg, seed) for cfg in pool}
        label = select_config({k: v["criteria"] for k, v in scores.items()}, args.select)
        result = runner.run(name, next(c for c in pool if c.label() == label), seed)
        svm_runs += 1
        per_seed.append(result["test"])
        picked.append(result)
        picks.append(label)
        seconds.append(sum(v["train_seconds"] + v["criteria_seconds"] for v in scores.values())
                       + result["train_seconds"] + result["eval_seconds"])
    mean, std = summarise(per_seed)
    counts: dict = {}
    for label in picks:
        counts[label] = counts.get(label, 0) + 1
    return {"label": f"{method}[{args.select} over {len(pool)} configs]", "test_mean": mean,
            "test_std": std, "per_seed": per_seed, "picks": picks,
            "choice_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "select": args.select, "svm_runs_per_seed": svm_runs / len(args.seeds),
            "seconds_per_seed": float(np.mean(seconds)),
            "rankme_per_epoch": mean_monitor(picked),
            "train_seconds": float(np.mean([v["train_seconds"] for v in scores.values()]))}


def selected_methods(args) -> list[str]:
    """The deep-aug methods `--selection seed` chooses for (graphcl+deepaug reuses
    deepaug's choice with --share-selection)."""
    methods = [m for m in ("deepaug", "graphcl+deepaug") if m in args.methods]
    if args.share_selection and "graphcl+deepaug" in methods and "deepaug" in methods:
        methods = ["deepaug"]
    return methods


def chosen_config(args, method: str, best: dict) -> MethodConfig:
    """The configuration of a `select` choice (`best["method"]`: the preset's graphcl,
    when a label-free choice declines Deep Augmentation)."""
    preset = best.get("method") == "graphcl"
    return base_config(args, method="graphcl" if preset else method,
                       transform=best["transform"], rate=best["rate"], target=best["target"])


def label_free_pick(runner: Runner, args, name: str, method: str) -> dict:
    """One label-free choice for `method` on `name`: every candidate (the preset first) is
    pretrained on each --select-seeds seed and scored without labels; the candidate with
    the best mean `--select` criterion over those seeds is picked (no SVM, no label)."""
    sweep = []
    for cfg in candidates(runner, args, name, method, preset=True):
        runs = [runner.criteria(name, cfg, s) for s in args.select_seeds]
        sweep.append({"label": cfg.label(), "method": cfg.method, "transform": cfg.transform,
                      "rate": cfg.rate, "target": cfg.target,
                      "criteria": {k: float(np.mean([r["criteria"][k] for r in runs]))
                                   for k in CRITERIA},
                      "train_seconds": float(np.mean([r["train_seconds"] for r in runs]))})
    label = select_config({c["label"]: c["criteria"] for c in sweep}, args.select)
    return {"best": next(c for c in sweep if c["label"] == label), "criteria_sweep": sweep,
            "select": args.select}


def select(runner: Runner, args, name: str) -> dict:
    """One choice of (transform, rate, target) per deep-aug method on the --select-seeds:
    by mean validation accuracy (--select validation: the preset a candidate, first, so it
    wins ties; validation-deep: the deep-aug configs only, as the older results were made),
    or, with a label-free --select, by that criterion (`label_free_pick`)."""
    chosen = {}
    for method in selected_methods(args):
        if args.select in CRITERIA:
            chosen[method] = label_free_pick(runner, args, name, method)
            continue
        scores = []
        for target in runner.targets(name):
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
        pool = list(scores)
        if args.select == "validation":  # the preset may win: Deep Augmentation declined
            preset = base_config(args, method="graphcl")
            runs = [runner.run(name, preset, s) for s in args.select_seeds]
            pool.insert(0, {"method": "graphcl", "transform": preset.transform,
                            "rate": preset.rate, "target": preset.target,
                            "val": float(np.mean([r["val"] for r in runs])),
                            "test": float(np.mean([r["test"] for r in runs]))})
        best = max(enumerate(pool), key=lambda t: (t[1]["val"], -t[0]))[1]  # ties: the first
        chosen[method] = {"best": best, "sweep": scores}
    if "deepaug" in chosen and "graphcl+deepaug" in args.methods and args.share_selection:
        chosen["graphcl+deepaug"] = {"best": chosen["deepaug"]["best"], "sweep": [],
                                     "shared_with": "deepaug"}
    return chosen


def summarise(values: list[float]) -> tuple[float, float]:
    return 100 * float(np.mean(values)), 100 * float(np.std(values))


def target_spec(text: str):
    """A target index (int >= 0) or `recommended`."""
    if text == "recommended":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"bad target {text!r}: an index >= 0 or 'recommended'")
    return value


def parser(prog: str = "graphaug tu"):
    p = bench_parser(prog, __doc__, out=default_out("tu"), examples=EXAMPLES,
                     root_help="data root holding TU/<NAME>/raw")
    count = number(int, 1)
    p.add_argument("--datasets", nargs="+", type=dataset_name, default=None,
                   help="TU datasets, e.g. MUTAG PROTEINS NCI1 IMDB-BINARY DD (required)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=seed_type, default=[0, 1, 2, 3, 4])
    p.add_argument("--select-seeds", nargs="+", type=seed_type, default=[0])
    p.add_argument("--targets", nargs="+", type=target_spec, default=None,
                   help="deep-aug target indices, 0 (input) .. layers+1 (projection head; "
                        "default: all of them), or 'recommended': the one "
                        "graphaug.select.recommend_layer picks from the seeds' graphcl "
                        "encoders' mean CKA (no sweep, no labels)")
    p.add_argument("--workers", type=count, default=1,
                   help="processes running the runs in parallel, longest first (one torch "
                        "thread and one SVM job each; default 1: one run after another)")
    p.add_argument("--transforms", nargs="+", type=parse_transform,
                   default=[("dropout", 0.25), ("pca", -1.0)],
                   help="deep-aug candidates at every --targets index, in the spec grammar "
                        "without @T: dropout:P (0 <= P < 1) or pca:K (integer K != 0)")
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
                   help="--selection seed: graphcl+deepaug reuses deepaug's selected config")
    p.add_argument("--selection", choices=[*SELECTIONS, "seed"], default="nested",
                   help="nested: per outer fold on that fold's training part (default); "
                        "seed: one config chosen on the --select-seeds")
    p.add_argument("--select", choices=SELECTS, default="validation",
                   help="with --selection nested: validation (strict nested selection, the "
                        "default) or a label-free criterion (every candidate pretrained and "
                        "scored without labels per seed; the SVM protocol only for the pick "
                        "and the preset). The preset is a candidate of every selection but "
                        "validation-deep (the deep-aug configs only, as before). With "
                        "--selection seed: a label-free criterion picks one config per "
                        "dataset from its mean over the --select-seeds (the preset a "
                        "candidate), then only the pick runs on every seed; validation "
                        "there chooses on mean validation accuracy, the preset a candidate "
                        "(validation-deep: the deep-aug configs only)")
    p.add_argument("--bn-per-view", action="store_true",
                   help="official GraphCL: BatchNorm statistics per view")
    p.add_argument("--strip-self-loops", action="store_true",
                   help="official GraphCL: no self-loops in node-drop/subgraph views")
    p.add_argument("--init", choices=INITS, default="torch",
                   help="graphcl: the official xavier-uniform Linear init")
    p.add_argument("--aggregation", choices=AGGREGATIONS, default="auto",
                   help="GIN's neighbour sum: csr (sparse-dense product, faster on large "
                        "graphs), scatter (PyG's gather + scatter) or auto (csr on batches "
                        "of >= 100k edges: DD, REDDIT-BINARY); the same bits on one CPU "
                        "thread")
    return p


def main(argv=None, prog: str = "graphaug tu") -> dict:
    """The graphaug tu command: its options -> TUConfig -> run."""
    p = parser(prog)
    args = p.parse_args(argv)
    try:
        cfg = TUConfig.from_namespace(args)
    except ValueError as err:
        p.error(str(err))
    require_datasets(p, args, "--datasets MUTAG --seeds 0 --epochs 1 --root DATA --out OUT")
    try:
        return run(cfg, prog, argv)
    except DatasetError as err:
        p.error(str(err))


class DatasetError(ValueError):
    """A dataset of the config cannot be loaded (the message names it and why)."""


def run(args: TUConfig, prog: str = "graphaug tu", argv=None) -> dict:
    """Run the TU benchmark of config args and write its report under args.out (results.md,
    results.json, runs.jsonl, accuracy_vs_layer.png); return the report.

    Raises:
        DatasetError: a dataset cannot be loaded (before any training).
    """
    if not args.datasets:
        raise ValueError("no datasets: name at least one, e.g. TUConfig(datasets=('MUTAG',))")
    torch.set_num_threads(args.threads)
    # under torchrun every rank runs this script: pretraining is shared (global batch), each
    # rank evaluates the same encoder, and only rank 0 writes the report
    _dist.init_from_env()
    runner = Runner(args)
    for name in args.datasets:  # every dataset loads before any training starts
        try:
            runner.dataset(name)
        except (FileNotFoundError, ValueError, OSError, RuntimeError) as err:
            raise DatasetError(f"--datasets {name}: {err}") from None
    started = time.time()
    detail = f"{args.threads} torch thread(s)" + \
        (f", {args.workers} worker processes" if args.workers > 1 else "")
    report = {**run_header(prog, argv, detail=detail), "datasets": {}}
    prefetch(runner, args)
    for name in args.datasets:
        entry = {"selection": select(runner, args, name) if args.selection == "seed" else {},
                 "methods": {}}
        if args.targets == "recommended":
            entry["recommendation"] = runner.recommendation(name)
        for method in args.methods:
            if method != "graphcl" and args.selection != "seed":
                strategy = SELECTIONS[args.selection]
                if args.selection == "nested" and args.select not in VALIDATION:
                    strategy = label_free  # --select rankme, ...: no SVM but the pick's
                entry["methods"][method] = strategy(runner, args, name, method)
                continue
            if method == "graphcl":
                cfg = base_config(args, method="graphcl")
            else:
                cfg = chosen_config(args, method, entry["selection"][method]["best"])
            runs = [runner.run(name, cfg, s) for s in args.seeds]
            mean, std = summarise([r["test"] for r in runs])
            rankme_curve = mean_monitor(runs)
            entry["methods"][method] = {"label": cfg.label(), "test_mean": mean, "test_std": std,
                                        "val_mean": summarise([r["val"] for r in runs])[0],
                                        "per_seed": [r["test"] for r in runs],
                                        "train_seconds": float(np.mean([r["train_seconds"]
                                                                        for r in runs])),
                                        "rankme_per_epoch": rankme_curve}
        if "graphcl" in entry["methods"]:
            base = entry["methods"]["graphcl"]["per_seed"]
            for method, m in entry["methods"].items():
                if method != "graphcl" and len(args.seeds) > 1:
                    m["vs_graphcl"] = {k: (100 * v if k in ("mean", "low", "high") else v)
                                       for k, v in paired_comparison(m["per_seed"],
                                                                     base).items()}
        report["datasets"][name] = entry
        report["wall_seconds"] = time.time() - started
        # after every dataset: partial tables survive an interruption
        if _dist.is_main():
            text = write_results(args.out, "results", report,
                                 "Unsupervised TU: GraphCL preset vs Deep Augmentation",
                                 markdown(report, args, runner.cache), runner.cache)
            plot_layers(report, Path(args.out) / "accuracy_vs_layer.png")
            plot_monitor(report, Path(args.out) / "rankme_per_epoch.png")
            print(text, flush=True)
    return report


def layer_curve(entry: dict, method: str = "deepaug") -> list[tuple]:
    """`(transform, rate, target, mean, low, high)` of every swept config (test accuracy %,
    95 % interval over seeds; `low = high = None` without per-seed values to take it from:
    one seed, or `--selection seed`'s mean): accuracy against the targeted layer."""
    out = []
    sweep = entry["methods"].get(method, {}).get("sweep") or \
        entry["selection"].get(method, {}).get("sweep", [])
    for s in sweep:
        values = s.get("per_seed")
        if values and len(values) > 1:
            mean, low, high = (100 * v for v in mean_interval(values))
        else:  # one seed (or the seed-selection sweep): no interval
            mean, low, high = 100 * (values[0] if values else s["test"]), None, None
        out.append((s["transform"], s["rate"], s["target"], mean, low, high))
    return out


def mean_cell(m: Optional[dict]) -> str:
    """`mean ± std` over seeds; one seed has no spread to show."""
    if not m:
        return "—"
    if len(m["per_seed"]) == 1:
        return f"{m['test_mean']:.2f} (1 seed)"
    return f"{m['test_mean']:.2f} ± {m['test_std']:.2f}"


def markdown(report: dict, args, cache: RunCache) -> list[str]:
    methods = args.methods
    rows, paired = [], []
    for name, entry in report["datasets"].items():
        paper = PUBLISHED_GRAPHCL.get(name)
        cells = [name, f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "—",
                 f"{PUBLISHED_SIMGRACE[name]:.2f}" if name in PUBLISHED_SIMGRACE else "—"]
        for method in methods:
            m = entry["methods"].get(method)
            cells.append(mean_cell(m))
            if m and "vs_graphcl" in m:
                c = m["vs_graphcl"]
                verdict = "yes" if c["significant"] and c["mean"] > 0 else \
                    ("worse" if c["significant"] else "no")
                paired.append([name, method, f"{c['mean']:+.2f}",
                               f"[{c['low']:+.2f}, {c['high']:+.2f}]", f"{c['wilcoxon_p']:.3f}",
                               f"{c['wins']}/{c['n']}", verdict])
        rows.append(cells)
    scheme = ("strict nested selection: in each outer fold the config (the preset among the "
              "candidates) is chosen on the inner-CV validation accuracy of that fold's "
              "training part" if args.selection == "nested" else
              f"config chosen on validation accuracy with seeds {args.select_seeds} ("
              + ("the deep-aug configs only" if args.select == "validation-deep" else
                 "the preset among the candidates") + ")"
              if args.selection == "seed" else f"deep-aug config chosen by {args.selection}")
    if args.selection == "seed" and args.select in CRITERIA:
        direction = "highest" if CRITERIA[args.select][0] == "max" else "lowest"
        scheme = (f"one config per dataset chosen without labels by {args.select} "
                  f"({direction} mean over seeds {args.select_seeds}; "
                  f"{CRITERIA[args.select][1]}): every candidate, the preset included, is "
                  "pretrained and scored on those seeds, and only the pick runs on every seed "
                  "(one SVM per seed and method)")
    if args.selection == "nested" and args.select == "validation-deep":
        scheme = ("strict nested selection over the deep-aug configs only (the preset not a "
                  "candidate, as before the preset joined): in each outer fold the config is "
                  "chosen on the inner-CV validation accuracy of that fold's training part")
    elif args.selection == "nested" and args.select not in VALIDATION:
        direction = "highest" if CRITERIA[args.select][0] == "max" else "lowest"
        scheme = (f"label-free selection by {args.select} ({direction}; "
                  f"{CRITERIA[args.select][1]}): per seed every candidate, the preset included, "
                  "is pretrained and scored without labels, and the SVM protocol runs only for "
                  "the pick and the preset (one SVM per seed and method)")
    options = [f for f, on in (("per-view BatchNorm", args.bn_per_view),
                               ("self-loops stripped from node-drop/subgraph views",
                                args.strip_self_loops),
                               ("GraphCL init", args.init == "graphcl")) if on]
    lines = [f"Seeds: {args.seeds}; SVM protocol (RBF SVC, C by inner 5-fold CV in outer "
             f"10-fold CV); {scheme}. Preset options: {', '.join(options) or 'none'}.", "",
             *markdown_table(["dataset", "GraphCL (paper)", "SimGRACE (paper)", *methods], rows)]
    if paired:
        lines += ["", "Paired against graphcl (same seeds, same folds; accuracy points):", "",
                  *markdown_table(["dataset", "method", "mean diff", "95 % interval",
                                   "Wilcoxon p", "seeds won", "better?"], paired, 2)]
    lines += ["", "Configurations:", ""]
    for name, entry in report["datasets"].items():
        if "recommendation" in entry:
            rec = entry["recommendation"]
            scores = ", ".join(f"{t}: {v:.3f}" for t, v in rec["scores"].items())
            lines.append(f"- {name}: recommended target {rec['target']} (co-adaptation, mean "
                         f"CKA of the graphcl encoders of seeds {rec['seeds']}: {scores}; each "
                         f"seed's own pick: {rec['per_seed']})")
        for method, m in entry["methods"].items():
            if "select" in m:
                top = ", ".join(f"`{k}` ×{v}" for k, v in list(m["choice_counts"].items())[:3])
                lines.append(f"- {name} {method}: picked per seed by {m['select']}: {top}; "
                             f"{m['svm_runs_per_seed']:g} SVM run(s) per seed, "
                             f"{m['seconds_per_seed']:.0f}s per seed in all")
            elif "choice_counts" in m:
                top = ", ".join(f"`{k}` ×{v}" for k, v in list(m["choice_counts"].items())[:3])
                lines.append(f"- {name} {method}: chosen per fold (most often): {top}; "
                             f"{m['train_seconds']:.0f}s pretraining per run")
            else:
                val = f"val {m['val_mean']:.2f}, " if "val_mean" in m else ""
                lines.append(f"- {name} {method}: `{m['label']}` ({val}"
                             f"{m['train_seconds']:.0f}s pretraining per seed)")
    curves = {name: layer_curve(entry) for name, entry in report["datasets"].items()}
    if any(curves.values()):
        lines += ["", "Accuracy against the targeted layer (deepaug, test %, mean and 95 % "
                  "interval over seeds; every config, not a selection; — : no interval, from "
                  "one seed or the selection seeds' mean):", ""]
        table = [[name, f"{kind} {rate:g}", target, f"{mean:.2f}",
                  "—" if low is None else f"[{low:.2f}, {high:.2f}]"]
                 for name, curve in curves.items()
                 for kind, rate, target, mean, low, high in sorted(curve, key=lambda c: c[:3])]
        lines += markdown_table(["dataset", "transform", "target", "test", "95 % interval"],
                                table, 2)
    return lines + ["", wall_time_line(report["wall_seconds"], cache)]


def mean_monitor(runs: list[dict], key: str = "rankme") -> list[float]:
    """The monitor's `key` per epoch, mean over `runs` (empty when a run has none)."""
    curves = [[m[key] for m in r.get("monitor", [])] for r in runs]
    if not curves or not all(curves) or len({len(c) for c in curves}) != 1:
        return []
    return [float(v) for v in np.mean(curves, axis=0)]


def plot_monitor(report: dict, path: Path) -> bool:
    """RankMe of the readout per epoch (mean over seeds) of the preset and of the label-free
    picks; `False` (nothing written) when no method recorded a curve."""
    panels = {}
    for name, entry in report["datasets"].items():
        for method, m in entry["methods"].items():
            if m.get("rankme_per_epoch"):
                panels.setdefault(name, {})[method] = list(enumerate(m["rankme_per_epoch"], 1))
    if panels:
        line_plot(path, panels, "epoch", "RankMe of the readout")
    return bool(panels)


def plot_layers(report: dict, path: Path) -> None:
    """Test accuracy (mean over seeds, with the interval bounds) against the targeted layer."""
    panels, baselines = {}, {}
    for name, entry in report["datasets"].items():
        series = panels.setdefault(name, {})
        for kind, rate, target, mean, low, high in sorted(layer_curve(entry),
                                                          key=lambda c: c[2]):
            series.setdefault(f"{kind} {rate:g}", []).append((target, mean))
            if low is not None:
                series.setdefault(f"{kind} {rate:g} (95% low)", []).append((target, low))
        if "graphcl" in entry["methods"]:
            baselines[name] = entry["methods"]["graphcl"]["test_mean"]
    line_plot(path, panels, "target (0 = input, L+1 = head)", "accuracy (%)", baselines)


if __name__ == "__main__":
    main()
