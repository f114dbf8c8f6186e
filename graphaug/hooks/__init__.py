"""The one way to place a Deep Augmentation transform: `attach` and `targets`.

`ga.attach(model, target, transform)` works on graphaug's encoders, PyG `BasicGNN` models,
a user's own PyG or DGL GNN, Hugging Face Transformers (BERT family, ALBERT, ModernBERT, GPT-2,
Llama-style decoders, T5 encoder, ViT, SentenceTransformer), HF ResNet/ConvNeXt and
torchvision-style ResNets, also wrapped in a user's module. Which rows form one sample is read
from the model's own calls (see graphaug.hooks.grouping), by one rule for every layout: an
activation whose leading dimension equals the node count of the graphs in a running call is
selected by whole graphs; token and dense-graph states by their mask; anything else by dim 0.
"""
from __future__ import annotations

from typing import Union

from torch import nn

from ..transforms import ActivationTransform
from .hook import AttachHandle, TensorSource
from .layouts import find_layout, resolve_site

__all__ = ["attach", "targets", "AttachHandle"]


def attach(model: nn.Module, target: Union[int, str], transform: ActivationTransform, *,
           batch: TensorSource = None, mask: TensorSource = None,
           every_call: bool = False) -> AttachHandle:
    r"""Apply `transform` at `target` of `model` (training mode only).

    Args:
        model (nn.Module): any model; graphaug finds the encoder inside it.
        target (int or str): `0` = input features / embeddings / stem, `i` = output of
            block or layer `i`, `L+1` = the head where the layout has one
            (`targets` lists them); or a dotted module name such as `"convs.1"`.
        transform (ActivationTransform): e.g. `ActivationDropout(0.25)`,
            `ActivationPCA(k=-1)`.
        batch (Tensor, callable, "rows" or "graph", optional): `[N]` sample of every row
            of a node-level activation, or a zero-argument callable returning it at call time;
            wins over the grouping found in the calls. `"rows"`: each node row is a sample
            (a node-level task, e.g. Cora or GRACE). `"graph"`: the graphs of the call are
            the samples, and a single graph (or a call with no graph at all) is one sample.
            (default: discovered from the call: PyG `batch`/`ptr`/`Data`/`Batch`, DGL
            graph; one graph that is not a batch raises and asks for "rows" or "graph")
        mask (Tensor or callable, optional): `[B, T]` real tokens (or real nodes of a dense
            `[B, N_max, F]` graph batch). (default: the `attention_mask` of the current
            call, wherever it enters the model; the boolean `mask` of a PyG dense conv; the
            real nodes of a dense batch of the graphs in the call)
        every_call (bool): a module given by name that runs several times per forward of its
            parent transforms every call independently instead of raising. (default: `False`)

    Shapes:
        GNN `[N, d]` or `[N, heads, F]` (DGL GATConv; transformed as `[N, heads * F]`
        rows) with a grouping of `N` nodes into graphs; dense GNN `[B, N_max, F]` with a
        `[B, N_max]` mask; Transformer `[B, T, d]` (or a tuple whose first item is); CNN
        `[B, C, H, W]`; heads `[B, d]`.

    Returns:
        AttachHandle: `.remove()` it or use it as a context manager.

    Raises:
        TypeError: `model` is not an `nn.Module` (e.g. a module name passed as the model).
        ValueError: unknown layout or name, index out of range, the same transform attached
            twice to one module; at call time, node-level rows without any grouping, or of one
            graph that is not a batch (pass batch="rows" or batch="graph").

    Example:
        >>> with ga.attach(gin, 2, ga.ActivationPCA(k=1)):   # grouping from the call's `batch`
        ...     z = gin(x, edge_index, batch)
        >>> with ga.attach(cora_gcn, 1, ga.ActivationDropout(0.25), batch="rows"):
        ...     out = cora_gcn(data)                          # one graph, nodes are samples
        >>> handle = ga.attach(bert, "encoder.layer.7", ga.ActivationDropout(0.125))
        >>> handle.remove()
    """
    return AttachHandle(model, resolve_site(model, target), transform, batch=batch, mask=mask,
                        every_call=every_call)


def targets(model: nn.Module) -> dict[int, str]:
    """Valid target indices of `model` and the module (and call) each one hooks.

    Example:
        >>> ga.targets(GraphCLEncoder(7, num_layers=3))
        {0: 'taps.0', 1: 'taps.1', 2: 'taps.2', 3: 'taps.3', 4: 'taps.4'}
    """
    return {site.index: site.describe() for site in find_layout(model).sites}
