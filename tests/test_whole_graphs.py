"""Whole graphs in every GNN a user writes (issue 28): the running call decides what a sample is.

One test per way of writing a model that used to select single nodes: a ModuleList of the
user's own blocks, PyG GPSConv and DeepGCNLayer stacks, DGL GATConv ([N, heads, F]), dense
padded GNNs (to_dense_batch + DenseGINConv with its mask), OGB's AtomEncoder beside the GNN, a
single graph at a node-level target, GraphCL on a DGL model. Each measures the selection of
one forward numerically: two hooks around the attached one record the raw and the transformed
activation; no graph may be partly transformed, and some but not all graphs are.
"""
from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GCNConv, GINConv, global_add_pool
from torch_geometric.utils import to_undirected

import graphaug as ga
from recording import record

IN, HIDDEN, GRAPHS = 5, 16, 16


# -- data -------------------------------------------------------------------------------------
def graph_list(count: int = GRAPHS, seed: int = 0, features: int = IN) -> list[Data]:
    """Small connected random graphs of 3..8 nodes (a ring plus random chords)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        n = int(torch.randint(3, 9, (1,), generator=gen))
        ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
        chords = torch.randint(0, n, (2, n), generator=gen)
        chords = chords[:, chords[0] != chords[1]]
        edge_index = to_undirected(torch.cat([ring, chords], dim=1), num_nodes=n)
        out.append(Data(x=torch.randn(n, features, generator=gen), edge_index=edge_index))
    return out


def graph_batch(count: int = GRAPHS, seed: int = 0) -> Batch:
    return Batch.from_data_list(graph_list(count, seed))


def mol_batch(count: int = GRAPHS, seed: int = 0) -> Batch:
    """Graphs with OGB-style integer atom features (9 columns, small valid values)."""
    graphs = graph_list(count, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    for g in graphs:
        g.x = torch.randint(0, 2, (g.num_nodes, 9), generator=gen)
    return Batch.from_data_list(graphs)


def mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, o), nn.ReLU(), nn.Linear(o, o))


# -- the patterns ---------------------------------------------------------------------------
class Layer(nn.Module):
    """Pattern 1: conv + norm in one block, the most common way to write a GNN layer."""

    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.conv, self.norm = GINConv(mlp(i, o)), nn.BatchNorm1d(o)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.norm(self.conv(x, edge_index).relu())


class BlockGNN(nn.Module):
    def __init__(self, layers: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Layer(IN if i == 0 else HIDDEN, HIDDEN) for i in range(layers))

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, edge_index)
        return global_add_pool(x, batch)


class SequentialGNN(BlockGNN):
    """Pattern 1 with PyG's Sequential as the per-layer block."""

    def __init__(self, layers: int = 3) -> None:
        super().__init__(0)
        from torch_geometric.nn import Sequential
        self.layers = nn.ModuleList(
            Sequential("x, edge_index", [(GCNConv(IN if i == 0 else HIDDEN, HIDDEN),
                                          "x, edge_index -> x"), nn.ReLU(), nn.BatchNorm1d(HIDDEN)])
            for i in range(layers))


class GPS(nn.Module):
    """Pattern 2: PyG's examples/graph_gps.py style, GPSConv layers around a GINConv."""

    def __init__(self, layers: int = 2) -> None:
        super().__init__()
        from torch_geometric.nn import GPSConv
        self.lin = nn.Linear(IN, HIDDEN)
        self.convs = nn.ModuleList(GPSConv(HIDDEN, GINConv(mlp(HIDDEN, HIDDEN)), heads=2)
                                   for _ in range(layers))

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        x = self.lin(x)
        for conv in self.convs:
            x = conv(x, edge_index, batch)
        return global_add_pool(x, batch)


class DeepGCN(nn.Module):
    """Pattern 3: PyG's examples/ogbn_proteins_deepgcn.py style (res+ DeepGCNLayer blocks)."""

    def __init__(self, layers: int = 3) -> None:
        super().__init__()
        from torch_geometric.nn import DeepGCNLayer, GENConv
        self.lin = nn.Linear(IN, HIDDEN)
        self.layers = nn.ModuleList(
            DeepGCNLayer(GENConv(HIDDEN, HIDDEN), nn.LayerNorm(HIDDEN), nn.ReLU(), block="res+")
            for _ in range(layers))

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        x = self.layers[0].conv(self.lin(x), edge_index)  # as the example: layer 0's conv alone
        for layer in self.layers[1:]:
            x = layer(x, edge_index)
        return global_add_pool(self.layers[0].act(self.layers[0].norm(x)), batch)


class DGLGAT(nn.Module):
    """Pattern 4: DGL GATConv stack; each conv returns [N, heads, F]."""

    def __init__(self, heads: int = 2) -> None:
        super().__init__()
        from dgl.nn import GATConv
        self.convs = nn.ModuleList([GATConv(IN, 8, heads, allow_zero_in_degree=True),
                                    GATConv(8 * heads, 8, heads, allow_zero_in_degree=True)])

    def forward(self, g, h: Tensor) -> Tensor:
        for conv in self.convs:
            h = conv(g, h).flatten(1)
        return h


class DGLGATNdata(DGLGAT):
    """Pattern 8: a DGL model that reads its features from the graph (forward(g))."""

    def forward(self, g) -> Tensor:
        import dgl
        g.ndata["h"] = super().forward(g, g.ndata["x"])
        return dgl.sum_nodes(g, "h")


class DenseGIN(nn.Module):
    """Pattern 5: to_dense_batch + DenseGINConv, the mask passed to every conv (or not)."""

    def __init__(self, layers: int = 2, pass_mask: bool = True) -> None:
        super().__init__()
        from torch_geometric.nn import DenseGINConv
        self.convs = nn.ModuleList(DenseGINConv(mlp(IN if i == 0 else HIDDEN, HIDDEN))
                                   for i in range(layers))
        self.pass_mask = pass_mask

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        from torch_geometric.utils import to_dense_adj, to_dense_batch
        x, mask = to_dense_batch(x, batch)
        adj = to_dense_adj(edge_index, batch)
        for conv in self.convs:
            x = conv(x, adj, mask) if self.pass_mask else conv(x, adj) * mask.unsqueeze(-1)
        return x.sum(dim=1)


class GIN(nn.Module):
    """A GIN body (GraphCL style: conv -> ReLU -> BatchNorm) for the OGB pattern."""

    def __init__(self, layers: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(GINConv(mlp(HIDDEN, HIDDEN)) for _ in range(layers))
        self.bns = nn.ModuleList(nn.BatchNorm1d(HIDDEN) for _ in range(layers))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for conv, bn in zip(self.convs, self.bns):
            x = bn(conv(x, edge_index).relu())
        return x


class MolGNN(nn.Module):
    """Pattern 6: OGB's AtomEncoder beside the GNN (and a per-layer MLP list in a head)."""

    def __init__(self) -> None:
        super().__init__()
        from ogb.graphproppred.mol_encoder import AtomEncoder
        self.atom_encoder = AtomEncoder(HIDDEN)
        self.gnn = GIN()

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        return global_add_pool(self.gnn(self.atom_encoder(x), edge_index), batch)


class Cora(nn.Module):
    """Pattern 7: a node-level model called with one Data (forward(data), Cora style)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([GCNConv(IN, HIDDEN), GCNConv(HIDDEN, 3)])

    def forward(self, data: Data) -> Tensor:
        x = self.convs[0](data.x, data.edge_index).relu()
        return self.convs[1](x, data.edge_index)


# -- measuring one forward --------------------------------------------------------------------
def _module_of(model: nn.Module, target) -> tuple[nn.Module, str]:
    """The hooked module of ``target`` and ``"input"``/``"output"``, read from ga.targets."""
    name = ga.targets(model)[target] if isinstance(target, int) else target
    where = "input" if name.startswith("input of ") else "output"
    name = name.removeprefix("input of ").split(" (call")[0]
    return dict(model.named_modules())[name], where


def raw_and_transformed(model: nn.Module, target, transform, call, **attach_kwargs):
    """The activation at ``target`` as produced and as the layers above receive it (the first
    call of the module in the forward)."""
    module, where = _module_of(model, target)
    raw, new = [], []
    with ga.attach(model, target, transform, **attach_kwargs):
        # graphaug's hook runs first among the module's hooks; these two sit around it
        first, second = record(module, where, raw, True), record(module, where, new, False)
        try:
            call()
        finally:
            first.remove(), second.remove()
    return raw[0], new[0]


def selection(raw: Tensor, new: Tensor, graph: Tensor, num_graphs: int,
              valid: Tensor = None) -> tuple[int, int]:
    """``(partly, whole)``: graphs with some but not all rows changed, graphs with every row
    changed. Rows are dim 0 (any trailing shape); a row counts where it is valid and non-zero
    (dropout leaves a zero unchanged)."""
    raw, new = raw.flatten(1), new.flatten(1)
    live = raw.ne(0).any(dim=1)
    if valid is not None:
        live = live & valid
    changed = (raw != new).any(dim=1)[live].float()
    rows = torch.zeros(num_graphs).index_add_(0, graph[live], torch.ones_like(changed))
    hit = torch.zeros(num_graphs).index_add_(0, graph[live], changed)
    return int(((hit > 0) & (hit < rows)).sum()), int(((hit == rows) & (rows > 0)).sum())


def assert_whole_graphs(raw, new, graph, num_graphs=GRAPHS, valid=None):
    partly, whole = selection(raw, new, graph, num_graphs, valid)
    assert partly == 0, f"{partly} of {num_graphs} graphs partly transformed"
    assert 0 < whole < num_graphs, f"{whole} of {num_graphs} graphs transformed"


def dropout(seed: int = 0, **kwargs) -> ga.ActivationDropout:
    return ga.ActivationDropout(0.5, apply_prob=kwargs.pop("apply_prob", 0.5), seed=seed, **kwargs)


def batch_call(model: nn.Module, b: Batch):
    return lambda: model(b.x, b.edge_index, b.batch)


# -- 1-3: ModuleLists of blocks that hold message passing -------------------------------------
@pytest.mark.parametrize("make,targets", [
    pytest.param(BlockGNN, {0: "input of layers.0", 1: "layers.0", 2: "layers.1",
                            3: "layers.2"}, id="1-user-blocks"),
    pytest.param(SequentialGNN, {0: "input of layers.0", 1: "layers.0", 2: "layers.1",
                                 3: "layers.2"}, id="1-pyg-Sequential-blocks"),
    pytest.param(GPS, {0: "input of convs.0", 1: "convs.0", 2: "convs.1"}, id="2-GPSConv"),
    pytest.param(DeepGCN, {0: "input of layers.0", 1: "layers.0", 2: "layers.1",
                           3: "layers.2"}, id="3-DeepGCNLayer"),
])
def test_blocks_with_message_passing_select_whole_graphs(make, targets):
    b = graph_batch()
    torch.manual_seed(0)
    model = make().train()
    assert ga.targets(model) == targets  # a GNN layout addressed by index
    for target in [t for t in targets if t >= 2]:  # DeepGCN's example calls layers[0].conv
        raw, new = raw_and_transformed(model, target, dropout(), batch_call(model, b))
        assert_whole_graphs(raw, new, b.batch)
        pca = ga.ActivationPCA(k=1, q=2, apply_prob=0.5, seed=1)
        raw, new = raw_and_transformed(model, target, pca, batch_call(model, b))
        assert_whole_graphs(raw, new, b.batch)


def test_blocks_without_any_grouping_raise():
    b = graph_batch()
    model = BlockGNN().train()
    with ga.attach(model, 2, dropout()):
        with pytest.raises(ValueError, match=r"'layers.1' produces node-level rows \[\d+, 16\] "
                                             "but no call passed a grouping"):
            model(b.x, b.edge_index)  # batch=None: no grouping anywhere


# -- 4: DGL GATConv, [N, heads, F] -------------------------------------------------------------
def test_dgl_gat_heads_select_whole_graphs():
    from graphaug.convert import to_dgl
    b = graph_batch()
    torch.manual_seed(0)
    model = DGLGAT().train()
    g = to_dgl(b)
    raw, new = raw_and_transformed(model, 1, dropout(), lambda: model(g, b.x))
    assert raw.shape == (b.num_nodes, 2, 8)
    assert_whole_graphs(raw, new, b.batch)
    # PCA rows are the nodes: [N, heads * F], as a direct call on the flattened rows gives
    pca = ga.ActivationPCA(k=1, q=2, apply_prob=1.0)
    raw, new = raw_and_transformed(model, 1, pca, lambda: model(g, b.x))
    expected = pca(raw.flatten(1), batch=b.batch, training=True).view(raw.shape)
    torch.testing.assert_close(new, expected)


# -- 5: dense padded batches -----------------------------------------------------------------
@pytest.mark.parametrize("pass_mask", [True, False], ids=["conv-mask", "to_dense_batch-in-call"])
def test_dense_batches_keep_padding_out(pass_mask):
    from torch_geometric.utils import to_dense_batch
    b = graph_batch()
    torch.manual_seed(0)
    model = DenseGIN(pass_mask=pass_mask).train()
    mask = to_dense_batch(b.x, b.batch)[1]
    padding = ~mask
    assert int(padding.sum()) > 0
    graph = torch.arange(GRAPHS).repeat_interleave(mask.size(1))
    raw, new = raw_and_transformed(model, 1, dropout(), batch_call(model, b))
    assert_whole_graphs(raw.flatten(0, 1), new.flatten(0, 1), graph, valid=mask.flatten())
    # PCA: the statistics are those of the real nodes; padding rows are never transformed
    pca = ga.ActivationPCA(k=1, q=2, apply_prob=1.0)
    raw, new = raw_and_transformed(model, 1, pca, batch_call(model, b))
    assert torch.equal(new[padding], raw[padding])
    if not pass_mask:  # the conv output's padding rows are not zero: a transform would move them
        assert bool(raw[padding].ne(0).any())
    rows = raw[mask]
    mean, v = pca.directions(rows)
    basis = pca.removed_directions(v)
    torch.testing.assert_close(new[mask], rows - ((rows - mean) @ basis) @ basis.T)
    mean_all, v_all = pca.directions(raw.flatten(0, 1))  # what counting padding would give
    basis_all = pca.removed_directions(v_all)
    assert not torch.allclose(new[mask], rows - ((rows - mean_all) @ basis_all) @ basis_all.T)


# -- 6: OGB's AtomEncoder beside the GNN -----------------------------------------------------
class MolWithHeads(MolGNN):
    """Pattern 6 with a list of repeated MLP blocks in a separate head module as well."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Module()
        self.head.mlps = nn.ModuleList(nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
                                       for _ in range(3))


def test_atom_encoder_is_never_the_encoder():
    pytest.importorskip("ogb")
    b = mol_batch()
    torch.manual_seed(0)
    for model in (MolGNN().train(), MolWithHeads().train()):
        assert ga.targets(model) == {0: "input of gnn.convs.0", 1: "gnn.bns.0", 2: "gnn.bns.1"}
        for target in (1, "atom_encoder"):  # the embedding by name: whole graphs as well
            raw, new = raw_and_transformed(model, target, dropout(), batch_call(model, b))
            assert_whole_graphs(raw, new, b.batch)
    with pytest.raises(ValueError, match="'atom_embedding_list' holds embedding tables only"):
        ga.targets(model.atom_encoder)


class TwoGNNsAndMLPs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlps = nn.Module()
        self.mlps.blocks = nn.ModuleList(nn.Sequential(nn.Linear(4, 4), nn.ReLU())
                                         for _ in range(3))
        self.student, self.teacher = GIN(), GIN()


def test_several_encoders_name_the_one_with_message_passing():
    with pytest.raises(ValueError, match=r"several encoders: 'mlps' \(transformer\), 'student' "
                                         r"\(gnn\), 'teacher' \(gnn\); attach to one of them "
                                         r"\(e.g. ga.attach\(model.student, ...\)\)"):
        ga.targets(TwoGNNsAndMLPs())


# -- 7: one graph in the call ----------------------------------------------------------------
def one_graph(nodes: int = 40) -> Data:
    ring = torch.stack([torch.arange(nodes), (torch.arange(nodes) + 1) % nodes])
    return Data(x=torch.randn(nodes, IN, generator=torch.Generator().manual_seed(0)),
                edge_index=to_undirected(ring))


ONE_GRAPH_ERROR = (r"'convs.0': the call of <model> passed one graph, not a batch, so its 40 node "
                   r"rows are either the samples of a node-level task or one sample, and graphaug "
                   r"will not guess. Pass batch='rows' to ga.attach for a node-level task \(each "
                   r"node is a sample, e.g. Cora\), or batch='graph' to treat the graph as one "
                   r"sample \(all of its rows or none\)")


def test_one_graph_asks_rows_or_graph():
    data = one_graph()
    torch.manual_seed(0)
    model = Cora().train()
    with ga.attach(model, 1, dropout()):
        with pytest.raises(ValueError, match=ONE_GRAPH_ERROR):
            model(data)
    # batch="rows": a node-level task, every node is a sample
    raw, new = raw_and_transformed(model, 1, dropout(), lambda: model(data), batch="rows")
    nodes = torch.arange(data.num_nodes)
    assert_whole_graphs(raw, new, nodes, data.num_nodes)
    # batch="graph": the graph is one sample, all of its rows or none at every forward
    transform, outcomes = dropout(seed=3), set()
    for _ in range(8):
        raw, new = raw_and_transformed(model, 1, transform, lambda: model(data), batch="graph")
        partly, whole = selection(raw, new, torch.zeros_like(nodes), 1)
        assert partly == 0
        outcomes.add(whole)
    assert outcomes == {0, 1}
    with pytest.raises(ValueError, match="'rows', 'graph' or None"):
        ga.attach(model, 1, dropout(), batch="graphs")


def test_one_dgl_graph_asks_rows_or_graph_a_batch_of_one_does_not():
    import dgl
    data = one_graph()
    model = DGLGAT().train()
    g = dgl.graph(tuple(data.edge_index), num_nodes=data.num_nodes)
    with ga.attach(model, 1, dropout()):
        with pytest.raises(ValueError, match="passed one graph, not a batch"):
            model(g, data.x)
        model(dgl.batch([g]), data.x)  # a batch of one graph: one sample, no question
    raw, new = raw_and_transformed(model, 1, dropout(), lambda: model(g, data.x), batch="rows")
    assert_whole_graphs(raw, new, torch.arange(data.num_nodes), data.num_nodes)


# -- 8: GraphCL on a DGL model called forward(g) ---------------------------------------------
def test_graphcl_dgl_model_needs_call():
    from graphaug.contrastive import concat_batches
    from graphaug.convert import to_dgl
    b = graph_batch()
    torch.manual_seed(0)
    encoder = DGLGATNdata().train()
    with pytest.raises(ValueError, match=r"GraphCL calls a DGL model as encoder\(g, x\) with g = "
                                         r"to_dgl\(batch\) and x = batch.x, but DGLGATNdata."
                                         r"forward\(g\) does not take that. Say how to call it "
                                         r"with call=, e.g. GraphCL\(model, ..., call=lambda enc, "
                                         r"batch: enc\(to_dgl\(batch\)\)\)"):
        ga.GraphCL(encoder, ga.DeepAug(1, dropout()), input_aug=None, head=nn.Linear(16, 16))
    model = ga.GraphCL(encoder, ga.DeepAug(1, dropout()), input_aug=None,
                       head=nn.Linear(16, 16), call=lambda enc, batch: enc(to_dgl(batch)))
    conv, raw, new = encoder.convs[0], [], []
    hook = record(conv, "output", raw, False)
    encoder(to_dgl(concat_batches(b, b)))  # the two stacked views, nothing attached
    hook.remove()
    hook = record(conv, "output", new, False)
    loss = model(b)
    hook.remove()
    assert torch.isfinite(loss)
    stacked = torch.cat([b.batch, b.batch + GRAPHS])
    assert_whole_graphs(raw[0], new[0], stacked, 2 * GRAPHS)


# -- node-level contrastive code: PyGCL's GRACE example --------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("GCL") is None, reason="PyGCL (GCL) not installed")
def test_pygcl_grace_node_level_with_rows():
    import GCL.augmentors as A
    import GCL.losses as L
    from GCL.models import DualBranchContrast

    class GConv(nn.Module):  # PyGCL's examples/GRACE.py, unchanged
        def __init__(self, input_dim, hidden_dim, activation, num_layers):
            super().__init__()
            self.activation = activation()
            self.layers = nn.ModuleList()
            self.layers.append(GCNConv(input_dim, hidden_dim, cached=False))
            for _ in range(num_layers - 1):
                self.layers.append(GCNConv(hidden_dim, hidden_dim, cached=False))

        def forward(self, x, edge_index, edge_weight=None):
            z = x
            for conv in self.layers:
                z = self.activation(conv(z, edge_index, edge_weight))
            return z

    class Encoder(nn.Module):
        def __init__(self, encoder, augmentor, hidden_dim, proj_dim):
            super().__init__()
            self.encoder, self.augmentor = encoder, augmentor
            self.fc1 = nn.Linear(hidden_dim, proj_dim)
            self.fc2 = nn.Linear(proj_dim, hidden_dim)

        def forward(self, x, edge_index, edge_weight=None):
            aug1, aug2 = self.augmentor
            x1, edge_index1, edge_weight1 = aug1(x, edge_index, edge_weight)
            x2, edge_index2, edge_weight2 = aug2(x, edge_index, edge_weight)
            z = self.encoder(x, edge_index, edge_weight)
            z1 = self.encoder(x1, edge_index1, edge_weight1)
            z2 = self.encoder(x2, edge_index2, edge_weight2)
            return z, z1, z2

        def project(self, z):
            return self.fc2(torch.nn.functional.elu(self.fc1(z)))

    torch.manual_seed(0)
    data = one_graph()
    aug1 = A.Compose([A.EdgeRemoving(pe=0.3), A.FeatureMasking(pf=0.3)])
    aug2 = A.Compose([A.EdgeRemoving(pe=0.3), A.FeatureMasking(pf=0.3)])
    gconv = GConv(input_dim=IN, hidden_dim=32, activation=nn.ReLU, num_layers=2)
    encoder_model = Encoder(encoder=gconv, augmentor=(aug1, aug2), hidden_dim=32, proj_dim=32)
    contrast_model = DualBranchContrast(loss=L.InfoNCE(tau=0.2), mode="L2L", intraview_negs=True)
    optimizer = torch.optim.Adam(encoder_model.parameters(), lr=0.01)

    def train():
        encoder_model.train()
        optimizer.zero_grad()
        z, z1, z2 = encoder_model(data.x, data.edge_index, data.edge_attr)
        h1, h2 = [encoder_model.project(x) for x in [z1, z2]]
        loss = contrast_model(h1, h2)
        loss.backward()
        optimizer.step()
        return loss.item()

    with ga.attach(encoder_model, 1, ga.ActivationDropout(0.25)):  # no grouping: asks
        with pytest.raises(ValueError, match="no call passed a grouping.*batch='rows'"):
            train()
    # the two lines Deep Augmentation adds to the example: each node is a sample
    with ga.attach(encoder_model, 1, ga.ActivationDropout(0.25), batch="rows"):
        losses = [train() for _ in range(3)]
    assert all(map(lambda v: v == v and abs(v) < 1e6, losses))
    raw, new = raw_and_transformed(encoder_model, 1, dropout(), lambda: train(), batch="rows")
    nodes = torch.arange(data.num_nodes)
    assert_whole_graphs(raw, new, nodes, data.num_nodes)


def test_a_target_that_never_runs_is_an_error():
    b = graph_batch()
    model = DeepGCN().train()  # the example calls layers[0].conv, never layers[0] itself
    with ga.attach(model, 1, dropout()):
        with pytest.raises(RuntimeError, match=r"'layers.0' ran 0 time\(s\) during the forward "
                                               "of '<model>', so the transform was never "
                                               "applied"):
            model(b.x, b.edge_index, b.batch)
        model.eval()
        model(b.x, b.edge_index, b.batch)  # eval mode: nothing to apply, nothing to report
    with ga.attach(model.train(), "layers.0.conv", dropout()):  # by name: whole graphs
        model(b.x, b.edge_index, b.batch)
