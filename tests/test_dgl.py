import pytest
import torch
from torch_geometric.loader import DataLoader

import graphaug as ga
from graphaug.nn import GraphCLEncoder

from graphaug._dgl import import_dgl  # noqa: E402

try:
    dgl = import_dgl()
except ImportError as error:  # pragma: no cover - depends on the environment
    pytest.skip(f"DGL unavailable: {error}", allow_module_level=True)

from graphaug.convert import to_dgl  # noqa: E402
from graphaug.nn import DGLGraphCLEncoder  # noqa: E402


def test_dgl_core_loads_on_current_torch():
    """DGL's core works on this torch: graphs, batching, self-loops and a dgl.nn convolution
    compute what they should (GINConv with sum = x + the sum over in-neighbours, by hand)."""
    from dgl.nn.pytorch import GINConv
    from graphaug._dgl import graphbolt_supported
    g = dgl.graph((torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])), num_nodes=4)
    x = torch.randn(4, 3)
    expected = x + torch.stack([x[2], x[0], x[1], torch.zeros(3)])  # node 3 has no in-edge
    assert torch.allclose(GINConv(None, "sum")(g, x), expected)
    looped = dgl.add_self_loop(g)
    assert looped.num_edges() == g.num_edges() + 4
    both = dgl.batch([g, looped])
    assert both.batch_size == 2 and both.batch_num_nodes().tolist() == [4, 4]
    assert both.num_edges() == 2 * g.num_edges() + 4
    if not graphbolt_supported():  # graphaug's stand-in, so `import dgl` does not fail
        import sys
        assert "graphaug stand-in" in sys.modules["dgl.graphbolt"].__doc__


def test_to_dgl_keeps_graphs_nodes_and_edges(mutag_batch):
    b = mutag_batch
    g = to_dgl(b)
    assert g.batch_size == b.num_graphs and g.num_nodes() == b.num_nodes
    assert torch.equal(g.batch_num_nodes(), torch.bincount(b.batch))
    src, dst = g.edges()
    assert torch.equal(torch.stack([src, dst]), b.edge_index)
    assert torch.equal(g.ndata["x"], b.x)
    graphs = dgl.unbatch(g)
    assert graphs[3].num_edges() == b[3].edge_index.size(1)


def make_pair(conv, seed=0, dtype=torch.float64):
    """Same weights on both sides. float64 by default: DGL's and PyG's float32 sums run in a
    different order (and thread count), which for GCN moves BatchNorm'd readouts by ~1e-5
    relative; in float64 any real difference still shows while rounding does not."""
    torch.manual_seed(seed)
    pyg = GraphCLEncoder(7, hidden=32, num_layers=3, conv=conv).to(dtype)
    dg = DGLGraphCLEncoder(7, hidden=32, num_layers=3, conv=conv).to(dtype)
    return pyg, dg.load_pyg_weights(pyg)


@pytest.mark.parametrize("conv", ["gin", "gcn"])
def test_pyg_dgl_parity_without_augmentation(mutag, conv):
    pyg, dg = make_pair(conv)
    pyg32, dg32 = make_pair(conv, dtype=torch.float32)
    for b in DataLoader(mutag.graphs, batch_size=64):
        g = to_dgl(b)
        for train in (True, False):
            for model in (pyg, dg, pyg32, dg32):
                model.train(train)
            x = b.x.double()
            a = pyg(x, b.edge_index, b.batch, project=True)
            c = dg(g, x, project=True)
            assert torch.allclose(a, c, atol=1e-5), (a - c).abs().max()
            a = pyg32(b.x, b.edge_index, b.batch)  # float32 readout: equal up to rounding
            c = dg32(g, b.x)
            assert torch.allclose(a, c, rtol=1e-4, atol=1e-3), (a - c).abs().max()


@pytest.mark.parametrize("conv", ["gin", "gcn"])
@pytest.mark.parametrize("target,make", [
    (1, lambda: ga.ActivationDropout(0.25, apply_prob=0.5, seed=7)),
    (2, lambda: ga.ActivationPCA(k=1, apply_prob=0.5, seed=7)),
    (3, lambda: ga.ActivationPCA(k=-1, apply_prob=1.0, seed=7)),
])
def test_pyg_dgl_parity_with_augmentation(mutag, conv, target, make):
    pyg, dg = make_pair(conv)
    ga.attach(pyg, target, make())
    ga.attach(dg, target, make())
    pyg.train(), dg.train()
    b = next(iter(DataLoader(mutag.graphs, batch_size=64)))
    x = b.x.double()
    a = pyg(x, b.edge_index, b.batch, project=True)
    c = dg(to_dgl(b), x, project=True)
    assert torch.allclose(a, c, atol=1e-5), (a - c).abs().max()


def test_dgl_encoder_errors_and_edge_cases():
    enc = DGLGraphCLEncoder(7).train()
    g = dgl.batch([dgl.graph(([], []), num_nodes=4)])  # no edges
    x = torch.randn(4, 7)
    pyg = GraphCLEncoder(7).train()
    enc.load_pyg_weights(pyg)  # the same graph and weights on PyG: the same readout
    expected = pyg(x, torch.empty(2, 0, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    assert torch.allclose(enc(g, x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="rows but the graph has"):
        enc(g, torch.randn(5, 7))
    with pytest.raises(ValueError, match="pass node features"):
        enc(g)
    with pytest.raises(ValueError, match="encoders do not match"):
        DGLGraphCLEncoder(7, hidden=16).load_pyg_weights(GraphCLEncoder(7, hidden=32))


class UserDGLGIN(torch.nn.Module):
    """A DGL user's own GIN: a ModuleList of dgl.nn GINConv, called as model(g, h)."""

    def __init__(self, in_channels=7, hidden=16, layers=3):
        super().__init__()
        from dgl.nn.pytorch import GINConv
        self.layers = torch.nn.ModuleList(
            GINConv(torch.nn.Linear(in_channels if i == 0 else hidden, hidden), "sum")
            for i in range(layers))

    def forward(self, g, h):
        pooled = []
        for conv in self.layers:
            h = torch.relu(conv(g, h))
            g.ndata["h"] = h
            pooled.append(dgl.sum_nodes(g, "h"))
        return torch.cat(pooled, dim=-1)


def test_user_dgl_model_selects_whole_graphs(mutag_batch):
    b = mutag_batch
    g = to_dgl(b)
    model = UserDGLGIN().train()
    assert ga.targets(model) == {0: "input of layers.0", 1: "layers.0", 2: "layers.1",
                                 3: "layers.2"}
    keys = list(model.state_dict())
    for target in range(4):
        seen = []
        module = model.layers[max(target - 1, 0)]
        with ga.attach(model, target, ga.ActivationPCA(k=1, q=2, apply_prob=0.5, seed=1)):
            # graphaug's hook runs first; one recorder in front of it, one behind it
            if target == 0:
                hook = module.register_forward_pre_hook(
                    lambda m, a: seen.append(a[1].clone()), prepend=True)
                after = module.register_forward_pre_hook(lambda m, a: seen.append(a[1].clone()))
            else:
                hook = module.register_forward_hook(lambda m, a, o: seen.append(o.clone()),
                                                    prepend=True)
                after = module.register_forward_hook(lambda m, a, o: seen.append(o.clone()))
            model(g, b.x)
        hook.remove(), after.remove()
        changed = (seen[0] != seen[1]).any(dim=1).float()
        per_graph = torch.zeros(b.num_graphs).index_add_(0, b.batch, changed)
        counts = torch.bincount(b.batch).float()
        selected = per_graph > 0
        assert 0 < int(selected.sum()) < b.num_graphs
        assert torch.equal(per_graph[selected], counts[selected])
    assert list(model.state_dict()) == keys


def _loss_and_grads(model, batch, seed=0):
    torch.manual_seed(seed)
    model.zero_grad()
    loss = model(batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                           if p.grad is not None}


@pytest.mark.parametrize("input_aug", [None, "random2"])
@pytest.mark.parametrize("share_trunk", [True, False])
def test_graphcl_drives_the_dgl_encoder_like_the_pyg_one(mutag_batch, input_aug, share_trunk):
    pyg, dg = make_pair("gin")
    models = []
    for encoder in (pyg, dg):
        deep = ga.DeepAug(2, ga.ActivationPCA(k=1, apply_prob=0.5, seed=4))
        gen = torch.Generator().manual_seed(9)
        models.append(ga.GraphCL(encoder, deep_aug=deep, input_aug=input_aug,
                                 share_trunk=share_trunk, generator=gen).train())
    b = mutag_batch.clone()
    b.x = b.x.double()
    first, second = (_loss_and_grads(m, b) for m in models)
    assert torch.allclose(first[0], second[0], atol=1e-6)
    for name, grad in first[1].items():
        other = second[1][name.replace(".nn.", ".apply_func.")]
        assert torch.allclose(grad, other, atol=1e-5), name
