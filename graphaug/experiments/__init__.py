"""The experiments behind graphaug's results: the TU, OGB, text, vision, supervised, speed and
scale protocols, the layer-selection study and the tables built from their result folders.

Each protocol is a module with main(argv, prog) -> report; the graphaug command runs them
(graphaug tu ..., graphaug ogb ...). They share one runner (run cache, dataset identities,
worker processes: graphaug.experiments.runner), one set of command-line options
(graphaug.experiments.options) and one report writer (graphaug.experiments.report).

The library never imports this package: it sits on top of graphaug, not inside its layers.
Importing it is cheap (no torch): the protocol modules load when a command runs them.

Example::

    >>> from graphaug.experiments import tu                             # doctest: +SKIP
    >>> tu.main(["--datasets", "MUTAG", "--seeds", "0", "--epochs", "1"])  # doctest: +SKIP
"""
from __future__ import annotations

__all__ = ["COMMANDS", "module_name"]

#: graphaug <command> -> (module of graphaug.experiments, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "tu": ("tu", "unsupervised TU benchmark (GraphCL vs Deep Augmentation, SVM protocol)"),
    "ogb": ("ogb", "OGB molecule benchmark (linear probe and fine-tuning, scaffold split)"),
    "supervised": ("supervised", "supervised GIN with and without Deep Augmentation "
                   "(paired folds)"),
    "text": ("text", "SimCSE-style sentence embeddings with Deep Augmentation (MiniLM)"),
    "vision": ("vision", "SimCLR-style ResNet with Deep Augmentation, linear probe"),
    "speed": ("speed", "speed ratios: vectorised views, GIN aggregation, SVM protocol"),
    "scale": ("scale", "multi-process pretraining throughput and scaling efficiency"),
    "layer-selection": ("layer_selection", "CKA layer recommendation against a full sweep"),
    "label-free": ("label_free", "label-free criteria scored against the committed sweeps"),
    "tu-table": ("tu_table", "the TU table across graphaug tu result folders"),
    "tu-variants": ("tu_variants", "paired comparison of graphaug tu runs with other options"),
    "tu-backends": ("tu_backends", "PyG vs DGL on the TU protocol, from two result folders"),
    "startup": ("startup", "start-up time of graphaug --help and import graphaug"),
    "rebuild": ("rebuild", "remake a committed experiment's tables from its runs.jsonl"),
}


def module_name(command: str) -> str:
    """The module that runs graphaug command (e.g. "tu-table" -> "graphaug.experiments.tu_table").

    Raises:
        ValueError: command is not one of COMMANDS.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown experiment {command!r}; choose one of {sorted(COMMANDS)}")
    return f"{__name__}.{COMMANDS[command][0]}"
