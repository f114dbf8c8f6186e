"""How graphaug calls an encoder on a collated PyG batch (training, GraphCL, evaluation)."""
from __future__ import annotations

from typing import Callable, Optional

from torch import Tensor, nn

from .pyg import encode_batch

__all__ = ["EncoderCall", "encoder_call"]

EncoderCall = Callable[..., Tensor]


def _uses_dgl(module: nn.Module) -> bool:
    return any(type(m).__module__.startswith("dgl.") for m in module.modules())


def encoder_call(encoder: nn.Module, call: Optional[EncoderCall] = None) -> EncoderCall:
    """How a `GraphCL` calls `encoder` on a collated PyG batch.

    graphaug's PyG encoders get `x`, `edge_index`, `batch` (and bond features); its DGL
    encoder and any model built from `dgl.nn` layers get `(to_dgl(batch), batch.x)`; any
    other model gets `encoder(batch.x, batch.edge_index, batch.batch)` and must return graph
    embeddings `[B, d]`. `call(encoder, batch, **kwargs)` overrides this.
    """
    if call is not None:
        return call
    native = isinstance(getattr(encoder, "taps", None), nn.ModuleList)
    if _uses_dgl(encoder):
        from ..convert import to_dgl

        def dgl_call(enc: nn.Module, batch, **kwargs) -> Tensor:
            return enc(to_dgl(batch), batch.x, **kwargs)
        return dgl_call
    if native:
        return encode_batch

    def pyg_call(enc: nn.Module, batch, **kwargs) -> Tensor:
        return enc(batch.x, batch.edge_index, batch.batch, **kwargs)
    return pyg_call
