"""The ``graphaug`` command: ``graphaug demo`` compares GraphCL and Deep Augmentation on a
generated dataset (no download) with the TU SVM protocol and prints the table; ``graphaug tu``
and ``graphaug ogb`` run the TU and OGB benchmarks (``benchmarks/tu.py``, ``benchmarks/ogb.py``
of a source checkout) with the same arguments."""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .bench import number

__all__ = ["main", "demo", "run_benchmark", "BENCHMARKS"]

#: ``graphaug <name>`` runs ``benchmarks/<name>.py``'s ``main``
BENCHMARKS = {"tu": "unsupervised TU benchmark (GraphCL vs Deep Augmentation, SVM protocol)",
              "ogb": "OGB molecule benchmark (linear probe and fine-tuning, scaffold split)"}
BENCHMARK_DIR = Path(__file__).resolve().parents[1] / "benchmarks"

DEMO_EXAMPLES = """examples:
  graphaug demo --seeds 0 --graphs 100 --epochs 2     # a few seconds
  graphaug demo                                       # 3 seeds, 400 graphs, 20 epochs
"""


def run_benchmark(name: str, argv: Sequence[str]):
    """Run ``benchmarks/<name>.py``'s ``main(argv, prog="graphaug <name>")``.

    Raises:
        SystemExit: the benchmark scripts are not beside the package (an installed wheel
            carries no ``benchmarks/``; they come with the source checkout).
    """
    path = BENCHMARK_DIR / f"{name}.py"
    if not path.is_file():
        raise SystemExit(f"graphaug {name}: {path} not found; the benchmarks ship with the "
                         "source checkout (git clone, then pip install -e .)")
    module_name = f"graphaug_{name}_benchmark"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # worker processes look its functions up by this name
    spec.loader.exec_module(module)
    return module.main(list(argv), prog=f"graphaug {name}")


def demo(seeds=(0, 1, 2), num_graphs: int = 400, epochs: int = 20, threads: int = 1) -> dict:
    """Pretrain ``graphcl``, ``deepaug`` (dropout p=0.25 at layer 2) and both on
    :func:`~graphaug.synthetic.synthetic_graphs`; return accuracy mean/std per method."""
    from .contrastive import MethodConfig, pretrain
    from .evaluate import embed_graphs, svm_protocol
    from .synthetic import synthetic_graphs

    torch.set_num_threads(threads)
    ds = synthetic_graphs(num_graphs)
    configs = {"graphcl": MethodConfig("graphcl", epochs=epochs),
               "deepaug": MethodConfig("deepaug", transform="dropout", rate=0.25, target=2,
                                       epochs=epochs),
               "graphcl+deepaug": MethodConfig("graphcl+deepaug", transform="dropout",
                                               rate=0.25, target=2, epochs=epochs)}
    table = {}
    for name, cfg in configs.items():
        accs, start = [], time.time()
        for seed in seeds:
            encoder, _ = pretrain(ds.graphs, ds.num_features, cfg, seed)
            x, y = embed_graphs(encoder, ds.graphs)
            accs.append(svm_protocol(x, y, seed=seed)["test"])
        table[name] = {"label": cfg.label(), "mean": 100 * float(np.mean(accs)),
                       "std": 100 * float(np.std(accs)),
                       "seconds_per_seed": (time.time() - start) / len(seeds)}
    return table


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in BENCHMARKS:  # the script's own parser, help and checks
        run_benchmark(argv[0], argv[1:])
        return
    parser = argparse.ArgumentParser(prog="graphaug", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="GraphCL vs Deep Augmentation on generated graphs",
                       epilog=DEMO_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--seeds", nargs="+", type=number(int, 0), default=[0, 1, 2])
    d.add_argument("--graphs", type=number(int, 20), default=400)
    d.add_argument("--epochs", type=number(int, 1), default=20)
    d.add_argument("--threads", type=number(int, 1), default=1)
    for name, text in BENCHMARKS.items():
        sub.add_parser(name, help=f"{text}; `graphaug {name} --help` lists its options")
    args = parser.parse_args(argv)
    if args.command == "demo":
        start = time.time()
        table = demo(args.seeds, args.graphs, args.epochs, args.threads)
        print(f"\nSynthetic graphs ({args.graphs}), SVM protocol, seeds {args.seeds}\n")
        print("| method | config | accuracy (%) | s/seed |\n|---|---|---|---|")
        for name, row in table.items():
            print(f"| {name} | `{row['label']}` | {row['mean']:.2f} ± {row['std']:.2f} | "
                  f"{row['seconds_per_seed']:.1f} |")
        print(f"\ntotal {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
