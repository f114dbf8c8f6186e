import pytest
import torch
from torch_geometric.data import Batch, Data

import graphaug as ga
from graphaug.nn import GraphCLEncoder
from graphaug.nn.pyg import CSRAdjacency, GINConv, csr_adjacency


def test_encoder_shapes_and_targets(mutag_batch):
    enc = GraphCLEncoder(7, hidden=32, num_layers=3)
    b = mutag_batch
    assert enc(b.x, b.edge_index, b.batch).shape == (b.num_graphs, 96)
    assert enc(b.x, b.edge_index, b.batch, project=True).shape == (b.num_graphs, 96)
    assert enc.num_targets == 5 and enc.target_name(4) == "taps.4"
    assert GraphCLEncoder(7, proj_head=False).num_targets == 4
    with pytest.raises(ValueError, match=r"valid targets are 0..4"):
        ga.attach(enc, 5, ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="no submodule named '2'"):
        ga.attach(enc, "2", ga.ActivationDropout(0.1))
    assert ga.targets(enc) == {i: f"taps.{i}" for i in range(5)}


@pytest.mark.parametrize("conv", ["gin", "gcn"])
@pytest.mark.parametrize("target", [0, 1, 2, 3])
def test_target_changes_only_layers_at_and_above_it(mutag_batch, conv, target):
    b = mutag_batch
    enc = GraphCLEncoder(7, hidden=16, num_layers=3, conv=conv).train()
    torch.manual_seed(0)
    plain = enc(b.x, b.edge_index, b.batch)
    ga.attach(enc, target, ga.ActivationDropout(0.5, apply_prob=1.0, seed=0))
    augmented = enc(b.x, b.edge_index, b.batch)
    per_layer = [(plain[:, 16 * i:16 * (i + 1)] - augmented[:, 16 * i:16 * (i + 1)]).abs().max()
                 for i in range(3)]
    for layer in range(1, 4):  # readout block of layer `layer`
        changed = per_layer[layer - 1] > 1e-6
        assert changed == (layer >= target), (layer, target, per_layer)


def test_projection_head_target(mutag_batch):
    b = mutag_batch
    enc = GraphCLEncoder(7).train()
    readout = enc(b.x, b.edge_index, b.batch)
    ga.attach(enc, 4, ga.ActivationDropout(0.5, apply_prob=1.0, seed=0))
    assert torch.allclose(enc(b.x, b.edge_index, b.batch), readout)  # readout untouched
    projected = enc(b.x, b.edge_index, b.batch, project=True)
    assert ((projected == 0).float().mean() > 0.3)


def test_stop_grad_through_encoder(mutag_batch):
    b = mutag_batch
    enc = GraphCLEncoder(7, hidden=16, num_layers=3).train()
    ga.attach(enc, 2, ga.ActivationDropout(0.25, apply_prob=1.0, seed=0))
    z = enc(b.x, b.edge_index, b.batch)
    z[:, 16:].sum().backward()  # readout of layers 2 and 3 only
    for i in (0, 1):
        assert all(p.grad is None or p.grad.abs().max() == 0 for p in enc.convs[i].parameters())
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in enc.convs[2].parameters())


def test_eval_mode_encoder_ignores_transform(mutag_batch):
    b = mutag_batch
    enc = GraphCLEncoder(7).eval()
    plain = enc(b.x, b.edge_index, b.batch)
    ga.attach(enc, 1, ga.ActivationPCA(k=1, apply_prob=1.0))
    assert torch.equal(enc(b.x, b.edge_index, b.batch), plain)


def line_graph(n, edges=True):
    if edges and n > 1:
        src = torch.arange(n - 1)
        edge_index = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
    else:
        edge_index = torch.empty(2, 0, dtype=torch.long)
    return Data(x=torch.randn(n, 7), edge_index=edge_index)


def test_graph_without_edges_and_batch_of_one():
    """Without edges no node sees another: in eval mode (fixed BatchNorm) the sum readout of a
    5-node edgeless graph is the sum of the readouts of its nodes split into two graphs. A
    batch of one graph gives that graph's row of a larger batch; in training mode with an
    activation transform attached it is transformed (its one graph selected) and finite."""
    enc = GraphCLEncoder(7).eval()
    graph = line_graph(5, edges=False)
    whole = Batch.from_data_list([graph])
    parts = Batch.from_data_list([Data(x=graph.x[:2], edge_index=graph.edge_index),
                                  Data(x=graph.x[2:], edge_index=graph.edge_index)])
    out = enc(whole.x, whole.edge_index, whole.batch)
    assert out.shape == (1, 96)
    assert torch.allclose(out[0], enc(parts.x, parts.edge_index, parts.batch).sum(0), atol=1e-5)
    single = Batch.from_data_list([line_graph(6)])
    pair = Batch.from_data_list([single.get_example(0), line_graph(4)])
    alone = enc(single.x, single.edge_index, single.batch)
    assert torch.allclose(alone[0], enc(pair.x, pair.edge_index, pair.batch)[0], atol=1e-5)
    enc.train()
    plain = enc(whole.x, whole.edge_index, whole.batch, project=True)
    ga.attach(enc, 2, ga.ActivationDropout(0.25, apply_prob=1.0))
    out = enc(whole.x, whole.edge_index, whole.batch, project=True)
    assert out.shape == (1, 96) and torch.isfinite(out).all() and not torch.equal(out, plain)


def test_bad_graph_input_raises_clear_errors():
    enc = GraphCLEncoder(7).train()
    with pytest.raises(ValueError, match="no nodes"):
        enc(torch.zeros(0, 7), torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"graph\(s\) \[1\]"):
        enc(torch.randn(4, 7), torch.empty(2, 0, dtype=torch.long),
            torch.tensor([0, 0, 2, 2]))
    x = torch.randn(4, 7)
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        enc(x, torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 nodes"):
        enc(torch.randn(1, 7), torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="conv must be"):
        GraphCLEncoder(7, conv="gat")


def test_graphcl_init_option():
    enc = GraphCLEncoder(7, hidden=16, init="graphcl")
    linears = [m for m in enc.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(float(m.bias.abs().max()) == 0.0 for m in linears)
    bound = (6.0 / (7 + 16)) ** 0.5  # xavier-uniform bound of the first Linear
    assert float(linears[0].weight.abs().max()) <= bound
    enc.reset_parameters()
    assert all(float(m.bias.abs().max()) == 0.0 for m in linears)
    assert any(float(m.bias.abs().max()) > 0 for m in GraphCLEncoder(7).modules()
               if isinstance(m, torch.nn.Linear))
    with pytest.raises(ValueError, match="init must be"):
        GraphCLEncoder(7, init="he")


def test_csr_adjacency_sum_and_gradient_unsorted_edges():
    """csr_adjacency on edges in random order (augmented views): the sum equals a dense
    product, the backward equals autograd's through the dense matrix, repeated edges count."""
    torch.manual_seed(0)
    edge_index = torch.randint(0, 30, (2, 200))  # unsorted, with repeats and self-loops
    adjacency = csr_adjacency(edge_index, 30)
    dense = torch.zeros(30, 30).index_put_((edge_index[1], edge_index[0]), torch.ones(200),
                                           accumulate=True)
    x = torch.randn(30, 5, requires_grad=True)
    out = adjacency.aggregate(x)
    assert torch.allclose(out, dense @ x, atol=1e-5)
    grad = torch.randn(30, 5)
    (got,) = torch.autograd.grad(out, x, grad)
    assert torch.allclose(got, dense.t() @ grad, atol=1e-5)
    conv = GINConv(torch.nn.Linear(5, 4))
    assert torch.allclose(conv(x, adjacency), conv(x, edge_index), atol=1e-5)
    # on one CPU thread each row is summed in edge order on both paths: the same bits as PyG's
    # gather + scatter, forward and backward (why `auto` reproduces the scatter-path tables)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outs, out_grad = [], torch.randn(30, 4)
        for graph in (adjacency, edge_index):
            leaf = x.detach().clone().requires_grad_()
            out = conv(leaf, graph)
            outs.append((out, torch.autograd.grad(out, leaf, out_grad)[0]))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("duplicate_at", [None, 0, 2])
def test_gin_sparse_aggregation_equals_pyg_edge_index_path(mutag_batch, duplicate_at):
    """The CSR adjacency GraphCLEncoder builds per forward gives PyG's gather + scatter sums
    (repeated edges counted twice), outputs and gradients, on the shared-trunk path too."""
    torch.manual_seed(0)
    enc = GraphCLEncoder(mutag_batch.num_features, hidden=16, num_layers=3,
                         aggregation="csr").eval()
    b = mutag_batch
    edge_index = torch.cat([b.edge_index, b.edge_index[:, :7]], dim=1)  # 7 repeated edges
    adjacency = enc.conv_input(edge_index, b.num_nodes)
    assert isinstance(adjacency, CSRAdjacency)
    for matrix, (rows, cols) in ((adjacency.matrix, edge_index.flip(0)),
                                 (adjacency.transpose, edge_index)):
        dense = torch.zeros(b.num_nodes, b.num_nodes).index_put_((rows, cols), torch.ones(
            rows.numel()), accumulate=True)
        assert matrix.layout == torch.sparse_csr and torch.equal(matrix.to_dense(), dense)

    def run(aggregation):
        x = b.x.clone().requires_grad_()
        enc.aggregation = aggregation
        out = enc(x, edge_index, b.batch, num_graphs=int(b.num_graphs),
                  duplicate_at=duplicate_at)
        grads = torch.autograd.grad(out.pow(2).sum(), [x, *enc.parameters()],
                                    allow_unused=True)
        return out, grads

    (fast, fast_grads), (ref, ref_grads) = run("csr"), run("scatter")
    assert torch.allclose(fast, ref, atol=1e-5, rtol=1e-5)
    for g, h in zip(fast_grads, ref_grads):
        assert (g is None) == (h is None) and (g is None or torch.allclose(g, h, atol=1e-4))
    gcn = GraphCLEncoder(mutag_batch.num_features, conv="gcn")
    assert gcn.conv_input(edge_index, b.num_nodes) is edge_index  # per-edge norm: unchanged
    assert enc.conv_input(edge_index, b.num_nodes) is edge_index  # aggregation="scatter"
    with pytest.raises(ValueError, match="aggregation must be one of"):
        GraphCLEncoder(3, aggregation="dense")
    from graphaug.contrastive import MethodConfig
    from graphaug.contrastive.pipeline import build_encoder
    assert build_encoder(MethodConfig(aggregation="scatter"), 3).aggregation == "scatter"
    auto = GraphCLEncoder(3)
    assert auto.aggregation == "auto" and auto.conv_input(edge_index, b.num_nodes) is edge_index
    import graphaug.nn.pyg as pyg
    big = torch.randint(0, 100, (2, pyg.CSR_MIN_EDGES))
    assert isinstance(auto.conv_input(big, 100), CSRAdjacency)  # large batches: CSR
    with pytest.raises(ValueError, match="aggregation must be one of"):
        MethodConfig(aggregation="dense")
