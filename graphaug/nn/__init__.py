"""GNN side of graphaug: GraphCL encoders with a tap (identity point) per target index.

PyG classes are imported here; the DGL ones (`DGLGraphCLEncoder`, `graph_batch_vector`)
load DGL lazily on first access so that graphaug works without DGL installed, and the molecule
encoder (`MolGINEncoder`) loads `ogb` lazily the same way.
"""
from .base import GraphEncoderBase, check_graph_batch, gin_mlp, sum_pool
from .pyg import GraphCLEncoder, encode_batch
from .tap import Tap

_DGL_NAMES = ("DGLGraphCLEncoder", "graph_batch_vector")
_MOL_NAMES = ("MolGINEncoder", "BondGINConv")

__all__ = ["Tap", "GraphEncoderBase", "GraphCLEncoder", "encode_batch", "gin_mlp", "sum_pool", "check_graph_batch", *_DGL_NAMES,
           *_MOL_NAMES]


def __getattr__(name: str):
    if name in _DGL_NAMES:
        from . import dgl as _dgl_module
        return getattr(_dgl_module, name)
    if name in _MOL_NAMES:
        from . import mol as _mol_module
        return getattr(_mol_module, name)
    raise AttributeError(f"module 'graphaug.nn' has no attribute {name!r}")
