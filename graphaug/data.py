"""Dataset loading: data-root resolution and TU graph-classification sets.

The data root comes from ``root=`` (``--root`` on the command line) or the ``GRAPHAUG_DATA``
environment variable. TU data is looked up as ``<root>/TU/<NAME>/raw`` or ``<root>/<NAME>/raw``.
When the raw files are missing, PyG may download them if the network allows; offline, a
:class:`FileNotFoundError` names the files and folders that were searched.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import Tensor

__all__ = ["data_root", "find_tu_root", "load_tu", "find_ogb_root", "load_ogb", "GraphDataset",
           "SOCIAL_DATASETS",
           "validate_graphs"]

#: Datasets without node labels; GraphCL gives them constant node features.
SOCIAL_DATASETS = ("COLLAB", "IMDB-BINARY", "IMDB-MULTI", "REDDIT-BINARY", "REDDIT-MULTI-5K",
                   "REDDIT-MULTI-12K")

_TU_REQUIRED = ("A", "graph_indicator", "graph_labels")


def data_root(root: Optional[os.PathLike | str] = None) -> Path:
    """Resolve the data root: ``root`` if given, else ``$GRAPHAUG_DATA``.

    Raises:
        ValueError: neither is set.
    """
    root = root if root is not None else os.environ.get("GRAPHAUG_DATA")
    if not root:
        raise ValueError("no data root: pass root=/--root or set GRAPHAUG_DATA (e.g. to a copy "
                         "of shared/datasets)")
    return Path(root).expanduser()


def find_tu_root(name: str, root: Optional[os.PathLike | str] = None) -> Path:
    """Folder to give PyG's ``TUDataset`` as ``root`` (it reads ``<that>/<name>/raw``).

    Raises:
        FileNotFoundError: no candidate holds the required raw files; the message lists them.
    """
    base = data_root(root)
    candidates = [base / "TU", base]
    for candidate in candidates:
        raw = candidate / name / "raw"
        if all((raw / f"{name}_{part}.txt").is_file() for part in _TU_REQUIRED):
            return candidate
    looked = ", ".join(str(c / name / "raw") for c in candidates)
    files = ", ".join(f"{name}_{p}.txt" for p in _TU_REQUIRED)
    raise FileNotFoundError(f"TU dataset {name!r} not found: looked for {files} in {looked}")


@dataclass
class GraphDataset:
    """A list of PyG ``Data`` graphs with the facts a benchmark needs.

    Attributes:
        name (str): dataset name.
        graphs (list): ``torch_geometric.data.Data`` objects (``x``, ``edge_index``, ``y``).
        num_features (int): node feature size.
        num_classes (int): number of graph classes.
    """

    name: str
    graphs: list
    num_features: int
    num_classes: int
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index):
        if isinstance(index, (slice, Sequence, Tensor)) and not isinstance(index, int):
            if isinstance(index, slice):
                graphs = self.graphs[index]
            else:
                graphs = [self.graphs[int(i)] for i in index]
            return GraphDataset(self.name, graphs, self.num_features, self.num_classes,
                                dict(self.info))
        return self.graphs[index]

    @property
    def labels(self) -> Tensor:
        return torch.cat([g.y.view(-1) for g in self.graphs])

    def __repr__(self) -> str:
        return (f"GraphDataset({self.name}, graphs={len(self.graphs)}, "
                f"features={self.num_features}, classes={self.num_classes})")


def validate_graphs(graphs: Sequence, name: str = "dataset") -> None:
    """Raise ``ValueError`` for graphs that cannot be encoded (no nodes, NaN features)."""
    for i, g in enumerate(graphs):
        if g.num_nodes is None or g.num_nodes == 0:
            raise ValueError(f"{name}: graph {i} has no nodes")
        if g.x is not None and not bool(torch.isfinite(g.x).all()):
            raise ValueError(f"{name}: graph {i} has NaN/Inf node features")


def load_tu(name: str, root: Optional[os.PathLike | str] = None, *, self_loops: bool = False,
            constant_features: Optional[bool] = None) -> GraphDataset:
    r"""Load a TU dataset as a :class:`GraphDataset` with GraphCL's node features.

    Args:
        name (str): e.g. ``"MUTAG"``, ``"NCI1"``, ``"REDDIT-BINARY"``.
        root (path, optional): data root (default ``$GRAPHAUG_DATA``); PyG writes its
            ``processed/`` cache beside ``raw/``, so point it at a writable copy.
        self_loops (bool): add one self-loop per node (GraphCL's official data pipeline does).
        constant_features (bool, optional): use a constant 1 feature per node; default: for
            the social datasets (no node labels) only.

    Example:
        >>> ds = load_tu("MUTAG", root="/tmp/datasets")
        >>> ds.num_features, ds.num_classes, len(ds)
        (7, 2, 188)
    """
    from torch_geometric.datasets import TUDataset
    from torch_geometric.utils import add_remaining_self_loops

    tu_root = find_tu_root(name, root)
    dataset = TUDataset(str(tu_root), name)
    if constant_features is None:
        constant_features = name in SOCIAL_DATASETS or dataset.num_node_features == 0
    graphs = []
    for data in dataset:
        data = data.clone()
        if constant_features or data.x is None:
            data.x = torch.ones(data.num_nodes, 1)
        if self_loops:
            data.edge_index, _ = add_remaining_self_loops(data.edge_index,
                                                          num_nodes=data.num_nodes)
            data.edge_attr = None
        graphs.append(data)
    validate_graphs(graphs, name)
    num_features = graphs[0].x.size(1)
    return GraphDataset(name, graphs, num_features, int(dataset.num_classes),
                        {"root": str(tu_root), "self_loops": self_loops})


_OGB_REQUIRED = ("RELEASE_v1.txt", "raw/edge.csv.gz", "raw/edge-feat.csv.gz",
                 "raw/node-feat.csv.gz", "raw/graph-label.csv.gz", "raw/num-node-list.csv.gz",
                 "raw/num-edge-list.csv.gz", "split/scaffold/train.csv.gz",
                 "split/scaffold/valid.csv.gz", "split/scaffold/test.csv.gz")


def find_ogb_root(name: str, root: Optional[os.PathLike | str] = None) -> Path:
    """Folder to give OGB as ``root`` (it reads ``<that>/<name with _>/``).

    Raises:
        FileNotFoundError: the files OGB needs are missing (listed), so that OGB never
            starts a download or asks a question.
    """
    base = data_root(root)
    folder = name.replace("-", "_")
    candidates = [base / "ogb", base]
    for candidate in candidates:
        if (candidate / folder / "processed" / "geometric_data_processed.pt").is_file():
            return candidate
        missing = [f for f in _OGB_REQUIRED if not (candidate / folder / f).is_file()]
        if not missing and (candidate / folder).is_dir():
            return candidate
    first = candidates[0] / folder
    missing = [f for f in _OGB_REQUIRED if not (first / f).is_file()]
    raise FileNotFoundError(f"OGB dataset {name!r} not found or incomplete: missing "
                            f"{', '.join(missing)} under {first} (also looked in "
                            f"{candidates[1] / folder})")


def load_ogb(name: str, root: Optional[os.PathLike | str] = None):
    r"""Load an ``ogbg-mol*`` dataset offline with its official scaffold split.

    ogb 1.3.6 reads its own processed cache with ``torch.load``, which torch >= 2.6 refuses
    (weights-only default); full unpickling is allowed for that one call only.

    Args:
        name (str): e.g. ``"ogbg-molhiv"``.
        root (path, optional): data root (default ``$GRAPHAUG_DATA``); OGB writes
            ``processed/`` beside ``raw/``, so point it at a writable copy.

    Returns:
        ``(dataset, split)`` with ``split = {"train": idx, "valid": idx, "test": idx}``.
    """
    from ogb.graphproppred import PygGraphPropPredDataset

    ogb_root = find_ogb_root(name, root)
    original = torch.load

    def full_load(*args, **kwargs):  # OGB's own cache file, written by OGB itself
        kwargs.setdefault("weights_only", False)
        return original(*args, **kwargs)

    torch.load = full_load
    try:
        dataset = PygGraphPropPredDataset(name=name, root=str(ogb_root))
    finally:
        torch.load = original
    return dataset, dataset.get_idx_split()
