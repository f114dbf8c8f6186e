"""Which rows of an activation belong to which sample, discovered from the calls themselves.

A node-level GNN activation `[N, d]` needs the graph of every node; graphaug reads it from the
arguments of a call that is running when the activation is produced (the hooked module's own
call, or the forward of one of its enclosing modules): a PyG `batch` vector (keyword or
positional), `ptr`, a PyG `Data`/`Batch` argument, or a DGL graph (`batch_num_nodes`).
A single graph (a PyG `Data` that is not a `Batch`, a DGL graph that was not batched) is
marked as such: its node rows may be the samples of a node-level task or one sample, and the
hook asks rather than guesses. Dense graph batches `[B, N_max, F]` take their real nodes from
a boolean `[B, N_max]` `mask` argument (PyG's dense convs, `to_dense_batch`'s mask).
Token states `[B, T, d]` take their valid positions from an `attention_mask` argument, also
inside a dict argument (as SentenceTransformer passes its features), 2-D, or 3-D/4-D
boolean/additive as attention layers receive it; or from a PyTorch-style key padding mask
(`src_key_padding_mask` / `key_padding_mask`, `True` or `-inf` = padding).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import Tensor

__all__ = ["Grouping", "grouping_from_call", "valid_tokens", "call_signature"]

_COUNT_NAMES = ("num_graphs", "num_samples", "batch_size")
# torch.nn.Transformer* name their [B, T] mask by what it hides (True = padding), the inverse
# of Hugging Face's attention_mask; a float one is additive (-inf = padding) like HF's.
_PADDING_NAMES = ("src_key_padding_mask", "key_padding_mask")


@dataclass
class Grouping:
    """What one call says about the samples of its activations.

    Attributes:
        batch (Tensor, optional): `[N]` sample index of every node row.
        num_samples (int, optional): number of samples, when the call states it.
        mask (Tensor, optional): attention mask as passed (any layout `valid_tokens`
            accepts); a boolean or integer key padding mask is stored inverted (`True` = real);
            a boolean `[B, N_max]` `mask` of a dense graph batch as passed (`True` = node).
        source (str): where it came from, for error messages.
        single (bool): `batch` comes from one graph that is not a batch (a PyG `Data`, an
            unbatched DGL graph). (default: `False`)
    """

    batch: Optional[Tensor] = None
    num_samples: Optional[int] = None
    mask: Optional[Tensor] = None
    source: str = ""
    single: bool = False

    @property
    def empty(self) -> bool:
        return self.batch is None and self.mask is None


def _is_dgl_graph(value: Any) -> bool:
    return callable(getattr(value, "batch_num_nodes", None)) and hasattr(value, "ndata")


def _is_pyg_data(value: Any) -> bool:
    return hasattr(value, "edge_index") and hasattr(value, "num_nodes") and \
        not isinstance(value, (Tensor, Mapping))


def _from_ptr(ptr: Tensor) -> Tensor:
    counts = ptr[1:] - ptr[:-1]
    return torch.repeat_interleave(torch.arange(counts.numel(), device=ptr.device), counts)


def _from_graph_object(value: Any) -> Optional[tuple[Tensor, int, bool]]:
    """`(batch, num_graphs, single)` of a PyG `Data`/`Batch` or a DGL graph."""
    if _is_dgl_graph(value):
        # dgl.batch (and graphaug's to_dgl of a Batch) set the per-graph counts; a graph built
        # directly has none until batch_num_nodes() caches its one count, so read it first
        if getattr(value, "_batch_num_nodes", True) is None:
            return torch.zeros(value.num_nodes(), dtype=torch.long, device=value.device), 1, True
        counts = value.batch_num_nodes()
        batch = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device),
                                        counts)
        return batch, int(counts.numel()), False
    if _is_pyg_data(value):
        batch = getattr(value, "batch", None)
        if isinstance(batch, Tensor):
            return batch, int(value.num_graphs), False
        num_nodes = int(value.num_nodes)  # a single graph
        x = getattr(value, "x", None)
        device = x.device if isinstance(x, Tensor) else value.edge_index.device
        return torch.zeros(num_nodes, dtype=torch.long, device=device), 1, True
    return None


@functools.lru_cache(maxsize=512)
def _method_signature(function: Callable) -> Optional[inspect.Signature]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    return signature.replace(parameters=list(signature.parameters.values())[1:])  # drop self


def call_signature(module: torch.nn.Module) -> Optional[inspect.Signature]:
    """Signature of `module.forward` (`None` when it cannot be read); cached per class
    method, since GraphCL attaches at every forward."""
    forward = module.forward
    function = getattr(forward, "__func__", None)
    if function is not None and getattr(forward, "__self__", None) is module:
        return _method_signature(function)
    try:
        return inspect.signature(forward)
    except (TypeError, ValueError):
        return None


def _named_values(signature: Optional[inspect.Signature], args: tuple,
                  kwargs: dict) -> list[tuple[str, Any]]:
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            bound = None
        if bound is not None:
            items: list[tuple[str, Any]] = []
            for name, value in bound.items():
                kind = signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    items.extend(value.items())
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    items.extend(("", v) for v in value)
                else:
                    items.append((name, value))
            return items
    return [("", v) for v in args] + list(kwargs.items())


def grouping_from_call(signature: Optional[inspect.Signature], args: tuple, kwargs: dict,
                       source: str) -> Grouping:
    """Read the sample grouping out of one call's arguments (see the module docstring)."""
    found = Grouping(source=source)
    for name, value in _named_values(signature, args, kwargs):
        if isinstance(value, Tensor):
            if name == "batch" and found.batch is None and value.dim() == 1 \
                    and not value.dtype.is_floating_point:
                found.batch = value
            elif name == "ptr" and found.batch is None and value.dim() == 1:
                found.batch = _from_ptr(value)
                found.num_samples = value.numel() - 1
            elif name == "attention_mask" and found.mask is None:
                found.mask = value
            elif name in _PADDING_NAMES and found.mask is None and value.dim() == 2:
                found.mask = value if value.dtype.is_floating_point else value == 0
            elif name == "mask" and found.mask is None and value.dim() == 2 \
                    and value.dtype == torch.bool:
                found.mask = value  # a dense graph batch's real nodes (PyG dense convs)
        elif isinstance(value, Mapping):
            mask = value.get("attention_mask")
            if isinstance(mask, Tensor) and found.mask is None:
                found.mask = mask
        elif isinstance(value, int) and not isinstance(value, bool) and name in _COUNT_NAMES:
            found.num_samples = value
        elif found.batch is None:
            graph = _from_graph_object(value)
            if graph is not None:
                found.batch, found.num_samples, found.single = graph
    if found.batch is None:
        found.num_samples, found.single = None, False
    return found


def valid_tokens(mask: Tensor) -> Tensor:
    """`[B, T]` bool of the real (non-padding) positions described by an attention mask.

    Accepts `[B, T]` masks (1/`True` = real token, or additive 0 / large negative),
    `[B, Tq, Tk]` and `[B, H, Tq, Tk]` masks (boolean `True` = may attend, or additive
    float): a key position is real when some query may attend to it.
    """
    if mask.dtype == torch.bool:
        allowed = mask
    elif mask.dtype.is_floating_point:
        additive = bool((mask < 0).any()) or not bool((mask != 0).any())
        allowed = mask > -1.0 if additive else mask > 0
    else:
        allowed = mask != 0
    if allowed.dim() == 2:
        return allowed
    if allowed.dim() in (3, 4):
        return allowed.flatten(1, -2).any(dim=1)
    raise ValueError(f"attention mask must be 2-D, 3-D or 4-D, got shape {tuple(mask.shape)}")
