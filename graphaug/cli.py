"""The graphaug command.

graphaug demo compares GraphCL and Deep Augmentation on generated graphs (no download);
graphaug select-layer prints a trained encoder's CKA matrix and the recommended target;
graphaug tu, graphaug ogb and the other experiments run the protocols of graphaug.experiments
(graphaug <command> --help lists each one's options). Every file a command writes goes under
its --out folder (default ./graphaug-runs/<command>/).

Heavy modules (torch, PyG, scikit-learn) are imported only when a command runs, so that
graphaug --help answers at once.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main", "demo", "select_layer", "run_experiment"]

DEMO_EXAMPLES = """examples:
  graphaug demo --seeds 0 --graphs 100 --epochs 2     # a few seconds
  graphaug demo                                       # 3 seeds, 400 graphs, 20 epochs
"""

SELECT_EXAMPLES = """examples:
  graphaug select-layer --epochs 3 --out /tmp/cka      # generated graphs, a fresh short run
  graphaug select-layer --dataset MUTAG --root /tmp/graphaug-data --epochs 20
  graphaug select-layer --root /tmp/graphaug-data --checkpoint run/seed0.pt
"""


def run_experiment(command: str, argv: Sequence[str]):
    """Run the experiment behind graphaug command: its module's main(argv, prog).

    Args:
        command (str): a key of graphaug.experiments.COMMANDS, e.g. "tu" or "tu-table".
        argv (list of str): the command's arguments.

    Example::

        >>> run_experiment("tu", ["--datasets", "MUTAG", "--seeds", "0"])  # doctest: +SKIP
    """
    from .experiments import module_name

    return importlib.import_module(module_name(command)).main(list(argv),
                                                              prog=f"graphaug {command}")


def demo(seeds=(0, 1, 2), num_graphs: int = 400, epochs: int = 20, threads: int = 1) -> dict:
    """Pretrain graphcl, deepaug (dropout p=0.25 at layer 2) and both on generated graphs
    (graphaug.synthetic.synthetic_graphs); return accuracy mean/std per method."""
    import numpy as np
    import torch

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


def _load_checkpoint(path: str) -> dict:
    """A pretraining checkpoint, loaded without running code from the file (weights only)."""
    from .utils import safe_load

    try:
        state = safe_load(path, what="checkpoint")
    except FileNotFoundError:
        raise SystemExit(f"--checkpoint {path}: no such file") from None
    except ValueError as err:  # unreadable, or unsafe: nothing from it ran
        raise SystemExit(f"--checkpoint {path}: not a readable graphaug checkpoint (loaded "
                         f"weights-only: {str(err).splitlines()[0]})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict) or \
            not isinstance((state.get("config") or {}).get("method"), dict):
        raise SystemExit(f"--checkpoint {path}: not a graphaug pretraining checkpoint (no "
                         "stored method configuration)")
    return state


def _checkpoint_dataset(state: dict) -> Optional[str]:
    """The TU dataset name a checkpoint records (config["dataset"]["name"]), if any."""
    dataset = (state.get("config") or {}).get("dataset")
    name = dataset.get("name") if isinstance(dataset, dict) else None
    return name if isinstance(name, str) else None


def select_layer(args) -> dict:
    """Train (or load) a GraphCL-preset encoder, print its CKA matrix and the recommended
    target, save a heatmap as <out>/cka_heatmap.png."""
    import torch

    torch.set_num_threads(args.threads)
    state = _load_checkpoint(args.checkpoint) if args.checkpoint is not None else None
    dataset = args.dataset
    if state is not None:
        recorded = _checkpoint_dataset(state)
        if dataset is None and recorded is None:
            raise SystemExit(f"--checkpoint {args.checkpoint} does not record its dataset: "
                             "name it with --dataset")
        if dataset is not None and recorded is not None and dataset != recorded:
            raise SystemExit(f"--checkpoint {args.checkpoint} was trained on {recorded}, not "
                             f"--dataset {dataset}: drop --dataset or pass --dataset {recorded}")
        dataset = dataset or recorded
        print(f"checkpoint {args.checkpoint}: dataset {dataset}")
    if dataset is None:
        from .synthetic import synthetic_graphs
        ds = synthetic_graphs(args.graphs)
    else:
        from .data import load_tu
        ds = load_tu(dataset, args.root, self_loops=True, download=args.download)

    from torch_geometric.loader import DataLoader

    from .contrastive import MethodConfig, pretrain
    from .contrastive.pipeline import build_model
    from .select import layer_similarity, recommend_layer

    if state is not None:
        model = build_model(MethodConfig(**state["config"]["method"]), ds.num_features)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise SystemExit(f"--checkpoint {args.checkpoint} does not fit {dataset} "
                             f"({ds.num_features} input features): "
                             f"{str(err).splitlines()[0]}") from None
        encoder = model.encoder
    else:
        encoder, _ = pretrain(ds.graphs, ds.num_features, MethodConfig("graphcl",
                                                                       epochs=args.epochs),
                              args.seed)
    matrix, targets = layer_similarity(encoder, DataLoader(list(ds.graphs), batch_size=256))
    target, scores = recommend_layer(matrix, targets)
    print("RBF-CKA between target outputs (per-graph readouts):\n")
    print("      " + " ".join(f"{t:>6}" for t in targets))
    for t, row in zip(targets, matrix):
        print(f"{t:>5} " + " ".join(f"{v:6.3f}" for v in row))
    print("\nco-adaptation (mean CKA with the targets above): " +
          ", ".join(f"{t}: {v:.3f}" for t, v in scores.items()))
    print(f"recommended target: {target}")
    from .experiments.report import cka_heatmaps

    path = Path(args.out) / "cka_heatmap.png"
    cka_heatmaps(path, {dataset or "generated graphs": {f"recommended target {target}":
                                                        matrix}}, targets)
    print(f"heatmap: {path}")
    return {"matrix": matrix.tolist(), "targets": targets, "recommended": target,
            "scores": scores, "heatmap": str(path)}


def _parser() -> argparse.ArgumentParser:
    from .experiments import COMMANDS
    from .experiments.options import HelpFormatter, dataset_name, default_out, number, seed_type

    parser = argparse.ArgumentParser(prog="graphaug", description=__doc__.split("\n\n")[1],
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    d = sub.add_parser("demo", help="GraphCL vs Deep Augmentation on generated graphs",
                       description="GraphCL vs Deep Augmentation on generated graphs (no "
                       "download), SVM protocol; prints the table.",
                       epilog=DEMO_EXAMPLES, formatter_class=HelpFormatter)
    d.add_argument("--seeds", nargs="+", type=seed_type, default=[0, 1, 2], help="seeds")
    d.add_argument("--graphs", type=number(int, 20), default=400, help="generated graphs")
    d.add_argument("--epochs", type=number(int, 1), default=20, help="pretraining epochs")
    d.add_argument("--threads", type=number(int, 1), default=1, help="torch threads")
    s = sub.add_parser("select-layer", help="CKA co-adaptation of a trained encoder and the "
                       "recommended target", description="CKA co-adaptation of a trained "
                       "encoder's layers and the recommended target; the heatmap goes to "
                       "<out>/cka_heatmap.png.", epilog=SELECT_EXAMPLES,
                       formatter_class=HelpFormatter)
    s.add_argument("--dataset", type=dataset_name, default=None,
                   help="TU dataset; without it, the checkpoint's dataset, else generated graphs")
    s.add_argument("--root", default=None, help="data root; without it, $GRAPHAUG_DATA, else "
                   "graphaug.data.DEFAULT_ROOT")
    s.add_argument("--no-download", dest="download", action="store_false",
                   help="never download: a dataset missing under --root is an error")
    s.add_argument("--checkpoint", default=None, help="a pretraining checkpoint (.pt) to load "
                   "instead of a fresh run (loaded weights-only)")
    s.add_argument("--epochs", type=number(int, 1), default=20, help="fresh run's epochs")
    s.add_argument("--graphs", type=number(int, 20), default=400,
                   help="generated graphs (without --dataset)")
    s.add_argument("--seed", type=seed_type, default=0, help="fresh run's seed")
    s.add_argument("--threads", type=number(int, 1), default=1, help="torch threads")
    s.add_argument("--out", default=default_out("select-layer"),
                   help="folder the heatmap is written to")
    for name, (_, text) in COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of the graphaug command (argv: the arguments after graphaug)."""
    from .experiments import COMMANDS

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:  # the experiment's own parser, help and checks
        run_experiment(argv[0], argv[1:])
        return
    args = _parser().parse_args(argv)
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
