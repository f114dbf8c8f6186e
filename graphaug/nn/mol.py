"""Molecule encoder for OGB `ogbg-mol*` data: OGB's GIN (atom/bond embeddings, edge features
in every message) with the GraphCL target taps. Needs the `ogb` package."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GINEConv

from .base import GraphEncoderBase, check_graph_batch, sum_pool

__all__ = ["BondGINConv", "MolGINEncoder", "atom_mask_token"]


def _ogb_encoders():
    try:
        from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the molecule encoder needs the 'ogb' package: "
                          "pip install 'graphaug[ogb]'") from error
    return AtomEncoder, BondEncoder


def atom_mask_token() -> Tensor:
    """Per-column token for masking OGB atom features (`mask_nodes`): the last index of each
    feature, OGB's "misc" category, so a masked atom is a valid but uninformative input."""
    from ogb.utils.features import get_atom_feature_dims
    return torch.tensor(get_atom_feature_dims()) - 1


class BondGINConv(nn.Module):
    r"""OGB's GIN layer for molecules:
    $\mathrm{MLP}\big((1+\epsilon)h_i + \sum_j \mathrm{ReLU}(h_j + \mathrm{Bond}(e_{ji}))\big)$
    with a learnable $\epsilon$, a per-layer `BondEncoder` and the MLP
    Linear(d, 2d)-BatchNorm-ReLU-Linear(2d, d).

    Args:
        channels (int): node embedding size `d` (in = out).

    Shapes:
        x `[N, d]`, edge_index `[2, E]`, edge_attr `[E, 3]` (OGB bond features, long) ->
        `[N, d]`.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        _, BondEncoder = _ogb_encoders()
        self.channels = channels
        self.bond_encoder = BondEncoder(channels)
        mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.BatchNorm1d(2 * channels),
                            nn.ReLU(), nn.Linear(2 * channels, channels))
        self.conv = GINEConv(mlp, train_eps=True)

    def reset_parameters(self) -> None:
        for emb in self.bond_encoder.bond_embedding_list:
            emb.reset_parameters()
        self.conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        return self.conv(x, edge_index, self.bond_encoder(edge_attr))

    def __repr__(self) -> str:
        return f"BondGINConv({self.channels})"


class MolGINEncoder(GraphEncoderBase):
    r"""GIN encoder for OGB molecules with a `Tap` per target index.

    The layout of OGB's GIN and GraphCL's chemistry model: `AtomEncoder` embedding, `L`
    layers of `BondGINConv` -> BatchNorm -> ReLU (no ReLU after the last layer) ->
    dropout, readout = mean pool of the last layer (`hidden` channels), optional
    Linear-ReLU-Linear projection head. Targets (`docs/method.md`): 0 = atom embeddings, `1..L` =
    layer outputs, `L+1` = projection head output.

    Args:
        hidden (int): embedding size (GraphCL chemistry / OGB: 300).
        num_layers (int): number of layers (5).
        proj_head (bool): build the projection head (target `L+1`).
        dropout (float): dropout after each layer (0 for pretraining; 0.5 when fine-tuning,
            as in OGB and pretrain-gnns).

    Shapes:
        x `[N, 9]` (OGB atom features, long), edge_index `[2, E]`, edge_attr `[E, 3]`,
        batch `[N]` -> `[num_graphs, hidden]`.

    Example:
        >>> enc = MolGINEncoder(hidden=300, num_layers=5)
        >>> handle = graphaug.attach(enc, 3, ActivationDropout(0.25))
        >>> z = enc(batch.x, batch.edge_index, batch.batch, edge_attr=batch.edge_attr)
    """

    uses_edge_attr = True

    def __init__(self, hidden: int = 300, num_layers: int = 5, proj_head: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__(hidden, hidden, num_layers, conv="gin", proj_head=proj_head)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        AtomEncoder, _ = _ogb_encoders()
        self.atom_encoder = AtomEncoder(hidden)
        self.dropout = float(dropout)

    def make_conv(self, conv: str, in_channels: int, out_channels: int) -> nn.Module:
        return BondGINConv(out_channels)

    @property
    def out_channels(self) -> int:
        """Size of the readout (and of the projection): `hidden`."""
        return self.hidden

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for emb in self.atom_encoder.atom_embedding_list:
            emb.reset_parameters()

    def layer_output(self, index: int, h: Tensor) -> Tensor:
        h = self.bns[index](h)
        if index < self.num_layers - 1:
            h = F.relu(h)
        return F.dropout(h, self.dropout, self.training)

    def pool_layer(self, index: int, h: Tensor, batch: Tensor,
                   num_graphs: int) -> Optional[Tensor]:
        if index < self.num_layers - 1:
            return None
        counts = torch.bincount(batch, minlength=num_graphs).clamp_min(1)
        return sum_pool(h, batch, num_graphs) / counts.unsqueeze(-1).to(h.dtype)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None, *,
                edge_attr: Optional[Tensor] = None, num_graphs: Optional[int] = None,
                project: bool = False, duplicate_at: Optional[int] = None,
                per_view_norm: bool = False) -> Tensor:
        """Readout `[B, hidden]` (projection with `project=True`; `[2B, ...]` with
        `duplicate_at`, see `GraphCLEncoder.forward`)."""
        if x.dim() != 2 or x.dtype.is_floating_point:
            raise ValueError("MolGINEncoder expects OGB's integer atom features [N, 9], got "
                             f"{x.dtype} {tuple(x.shape)}")
        if edge_attr is None or edge_attr.size(0) != edge_index.size(1):
            raise ValueError("MolGINEncoder needs edge_attr (OGB bond features) with one row "
                             "per edge")
        batch, num_graphs = check_graph_batch(x, batch, num_graphs, self.training)
        doubled = None
        if duplicate_at is not None:
            doubled_index = torch.cat([edge_index, edge_index + x.size(0)], dim=1)
            doubled_attr = torch.cat([edge_attr, edge_attr])
            doubled = lambda i, h: self.convs[i](h, doubled_index, doubled_attr)  # noqa: E731
        return self.encode(self.atom_encoder(x),
                           lambda i, h: self.convs[i](h, edge_index, edge_attr), batch,
                           num_graphs, project, duplicate_at, doubled,
                           per_view_norm)

    def __repr__(self) -> str:
        return (f"MolGINEncoder(hidden={self.hidden}, num_layers={self.num_layers}, "
                f"proj_head={self.proj_head is not None}, dropout={self.dropout})")
