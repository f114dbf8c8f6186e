"""The ``graphaug`` command: ``graphaug demo`` compares GraphCL and Deep Augmentation on a
generated dataset (no download) with the TU SVM protocol and prints the table; ``graphaug tu``
and ``graphaug ogb`` run the TU and OGB benchmarks; ``graphaug select-layer`` prints a trained
encoder's CKA matrix and the recommended target (``benchmarks/tu.py``, ``benchmarks/ogb.py``
of a source checkout) with the same arguments."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .bench import load_script, number

__all__ = ["main", "demo", "select_layer", "run_benchmark", "BENCHMARKS"]

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
    # its own name, run afresh: a command never reuses a module another caller loaded
    module = load_script(path, name=f"graphaug_{name}_benchmark", reload=True)
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


SELECT_EXAMPLES = """examples:
  graphaug select-layer --epochs 3 --out /tmp/cka.png        # generated graphs, a fresh short run
  graphaug select-layer --dataset MUTAG --root /tmp/graphaug-data --epochs 20
  graphaug select-layer --dataset MUTAG --root /tmp/graphaug-data --checkpoint run/seed0.pt
"""


def select_layer(args) -> dict:
    """Train (or load) a GraphCL-preset encoder, print its CKA matrix and the recommended
    target, save a heatmap."""
    from torch_geometric.loader import DataLoader

    from .contrastive import MethodConfig, pretrain
    from .contrastive.pipeline import build_model
    from .select import layer_similarity, recommend_layer

    torch.set_num_threads(args.threads)
    if args.dataset is None:
        from .synthetic import synthetic_graphs
        ds = synthetic_graphs(args.graphs)
    else:
        from .data import load_tu
        ds = load_tu(args.dataset, args.root, self_loops=True, download=args.download)
    if args.checkpoint is not None:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        method = (state.get("config") or {}).get("method")
        if not isinstance(method, dict):
            raise SystemExit(f"{args.checkpoint}: not a graphaug pretraining checkpoint (no "
                             "stored method configuration)")
        model = build_model(MethodConfig(**method), ds.num_features)
        model.load_state_dict(state["model"])
        encoder = model.encoder
    else:
        cfg = MethodConfig("graphcl", epochs=args.epochs)
        encoder, _ = pretrain(ds.graphs, ds.num_features, cfg, args.seed)
    matrix, targets = layer_similarity(encoder, DataLoader(list(ds.graphs), batch_size=256))
    target, scores = recommend_layer(matrix, targets)
    print("RBF-CKA between target outputs (per-graph readouts):\n")
    print("      " + " ".join(f"{t:>6}" for t in targets))
    for t, row in zip(targets, matrix):
        print(f"{t:>5} " + " ".join(f"{v:6.3f}" for v in row))
    print("\nco-adaptation (mean CKA with the targets above): " +
          ", ".join(f"{t}: {v:.3f}" for t, v in scores.items()))
    print(f"recommended target: {target}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 3.4))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(targets)), targets), ax.set_yticks(range(len(targets)), targets)
    ax.set_title(f"CKA, recommended target {target}", fontsize=9)
    fig.colorbar(image)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"heatmap: {args.out}")
    return {"matrix": matrix.tolist(), "targets": targets, "recommended": target,
            "scores": scores}


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
    s = sub.add_parser("select-layer", help="CKA co-adaptation of a trained encoder and the "
                       "recommended target", epilog=SELECT_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--dataset", default=None, help="TU dataset (default: generated graphs)")
    s.add_argument("--root", default=None, help="data root (default $GRAPHAUG_DATA, else "
                   "graphaug.data.DEFAULT_ROOT)")
    s.add_argument("--no-download", dest="download", action="store_false")
    s.add_argument("--checkpoint", default=None, help="a pretraining checkpoint (.pt) to load "
                   "instead of a fresh run")
    s.add_argument("--epochs", type=number(int, 1), default=20, help="fresh run's epochs")
    s.add_argument("--graphs", type=number(int, 20), default=400)
    s.add_argument("--seed", type=number(int, 0), default=0)
    s.add_argument("--threads", type=number(int, 1), default=1)
    s.add_argument("--out", default="cka_heatmap.png", help="heatmap file")
    for name, text in BENCHMARKS.items():
        sub.add_parser(name, help=f"{text}; `graphaug {name} --help` lists its options")
    args = parser.parse_args(argv)
    if args.command == "select-layer":
        select_layer(args)
        return
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
