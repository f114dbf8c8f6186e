"""Label-free selection, validated on the committed TU sweeps (issue 32).

For every (dataset, seed, candidate) of a full sweep (the deep-aug candidates: target layer x
transform/rate, plus the plain preset ``none`` = GraphCL's random2 without activation
transform) the encoder is re-pretrained with the recorded configuration and seed (pretraining
only), checked against the recorded per-epoch loss, and every label-free criterion of
:mod:`graphaug.select` is computed on its un-augmented embeddings. Where the re-run does not
reproduce the recorded final loss (relative tolerance ``--tol``), that run's SVM protocol is
re-run too, so criterion and accuracy always come from the same encoder.

Steps:
  extract  read the sweeps' per-run JSON (config, loss per epoch, test, fold_val, fold_test,
           seconds) into one compact JSON-lines file (outside git);
  run      the re-pretraining, one run at a time, cached as one JSON file per run (resumable;
           seeds 0-4 of every dataset before any dataset gets more);
  report   per dataset: Spearman correlation of each criterion with test accuracy across
           candidates, each criterion's pick against the preset and the nested-validation
           pick (paired over seeds), regret and compute; results.md/json and runs.jsonl.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphaug.contrastive import MethodConfig, pretrain  # noqa: E402
from graphaug.data import load_tu  # noqa: E402
from graphaug.evaluate import SVM_C_GRID, embed_graphs, svm_protocol  # noqa: E402
from graphaug.select import CRITERIA, graph_criteria  # noqa: E402
from graphaug.utils import atomic_write_json, atomic_write_text  # noqa: E402

SWEEPS = {"MUTAG": "tu_sweep_mutag", "PROTEINS": "tu_sweep_proteins",
          "IMDB-BINARY": "tu_sweep_imdb", "NCI1": "tu_sweep_nci1", "DD": "tu_sweep_dd",
          "REDDIT-BINARY": "tu_sweep_reddit"}
ORDER = ["MUTAG", "PROTEINS", "IMDB-BINARY", "NCI1", "DD", "REDDIT-BINARY"]
FIELDS = ("test", "val", "fold_val", "fold_test", "loss", "train_seconds", "eval_seconds")


def spec(config: dict) -> str:
    """The short name of a candidate: ``none`` (the preset), ``dropout:0.25@2``, ``pca:-1@3``."""
    if config["method"] == "graphcl":
        return "none"
    rate = f"{config['rate']:g}" if config["transform"] == "dropout" else \
        f"{int(config['rate'])}"
    return f"{config['transform']}:{rate}@{config['target']}"


def extract(args) -> None:
    """The sweeps' deepaug and graphcl runs -> ``args.records`` (JSON lines)."""
    lines = []
    for name, folder in SWEEPS.items():
        files = sorted(glob.glob(f"{args.results}/{folder}/runs/{name}/*/*/seed*.json"))
        if not files:
            raise FileNotFoundError(f"no runs under {args.results}/{folder}/runs/{name}; "
                                    "extract from the commit that still holds them")
        for path in files:
            run = json.load(open(path))
            if run["config"]["method"] not in ("graphcl", "deepaug"):
                continue
            lines.append(json.dumps({"dataset": name, "seed": run["seed"],
                                     "candidate": spec(run["config"]), "config": run["config"],
                                     **{k: run[k] for k in FIELDS}}))
    atomic_write_text(args.records, "\n".join(lines) + "\n")
    print(f"{len(lines)} runs -> {args.records}")


def read_records(path) -> dict:
    records = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            records[(r["dataset"], r["seed"], r["candidate"])] = r
    return records


def work_order(records: dict, datasets, seeds, large=("DD", "REDDIT-BINARY")) -> list[tuple]:
    """Seeds 0-4 of every dataset before any dataset gets more: the small datasets one after
    the other (in ``datasets`` order), then the ``large`` ones seed by seed, alternating, so
    that each gets some seeds when the time runs out; the preset first within a seed."""
    order = []
    for block in ([s for s in seeds if s < 5], [s for s in seeds if s >= 5]):
        small = [(name, seed) for name in datasets if name not in large for seed in block]
        big = [(name, seed) for seed in block for name in datasets if name in large]
        for name, seed in small + big:
            cands = sorted({c for (d, s, c) in records if d == name and s == seed},
                           key=lambda c: (c != "none", c))
            order += [(name, seed, c) for c in cands]
    return order


def run(args) -> None:
    records = read_records(args.records)
    cache = Path(args.cache)
    datasets: dict = {}
    order = work_order(records, args.datasets, args.seeds)
    todo = [k for k in order if not (cache / k[0] / k[2] / f"seed{k[1]}.json").is_file()]
    print(f"{len(order)} runs, {len(todo)} to do", flush=True)
    for name, seed, cand in todo:
        rec = records[(name, seed, cand)]
        if name not in datasets:
            datasets[name] = load_tu(name, args.root, self_loops=True, download=False)
        ds = datasets[name]
        cfg = MethodConfig(**rec["config"])
        start = time.perf_counter()
        encoder, history = pretrain(ds.graphs, ds.num_features, cfg, seed)
        train_seconds = time.perf_counter() - start
        recorded = rec["loss"][-1]
        rel = abs(history[-1] - recorded) / abs(recorded)
        start = time.perf_counter()
        crit = graph_criteria(encoder, ds.graphs, sample=args.sample, seed=args.criteria_seed)
        criteria_seconds = time.perf_counter() - start
        out = {"dataset": name, "seed": seed, "candidate": cand, "loss_final": history[-1],
               "loss_recorded": recorded, "loss_rel_diff": rel, "reproduced": rel <= args.tol,
               "train_seconds": train_seconds, "criteria_seconds": criteria_seconds,
               "criteria": crit}
        if not out["reproduced"]:  # criterion and accuracy must come from the same encoder
            start = time.perf_counter()
            x, y = embed_graphs(encoder, ds.graphs)
            res = svm_protocol(x, y, seed=seed, folds=10, inner_folds=5, c_grid=SVM_C_GRID)
            out["svm"] = {k: res[k] for k in ("test", "val", "fold_val", "fold_test")}
            out["svm_seconds"] = time.perf_counter() - start
        atomic_write_json(cache / name / cand / f"seed{seed}.json", out)
        print(f"{time.strftime('%H:%M:%S')} {name:13s} seed {seed} {cand:16s} "
              f"loss {history[-1]:.6f} (recorded {recorded:.6f}, rel {rel:.1e}) "
              f"rankme {crit['rankme']:.2f} align {crit['alignment']:.3f} "
              f"unif {crit['uniformity']:.3f} heldout {crit['loss']:.3f} cka {crit['cka']:.3f} "
              f"({train_seconds:.1f}s + {criteria_seconds:.1f}s)", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="label_free.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("extract", "run", "report"))
    parser.add_argument("--results", default="benchmarks/results",
                        help="folder holding the committed sweeps (extract)")
    parser.add_argument("--records", default="/work/label-free-cache/sweeps.jsonl",
                        help="the extracted sweep runs (JSON lines)")
    parser.add_argument("--cache", default="/work/label-free-cache/runs",
                        help="one JSON per re-run (outside git; the run resumes from it)")
    parser.add_argument("--root", default=None, help="writable data root holding TU/<NAME>/raw")
    parser.add_argument("--datasets", nargs="+", default=ORDER)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--sample", type=int, default=512,
                        help="graphs the criteria are computed on (fixed subset)")
    parser.add_argument("--criteria-seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-4,
                        help="relative tolerance on the recorded final pretraining loss")
    parser.add_argument("--out", default="benchmarks/results/label_free")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.step == "extract":
        extract(args)
    elif args.step == "run":
        run(args)
    else:
        from label_free_report import report  # noqa: E402
        report(args)


if __name__ == "__main__":
    main()
