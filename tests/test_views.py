import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from conftest import load_benchmark
from graphaug.views import ViewAugmentation


def tagged_batch(mutag, n=64):
    """MUTAG graphs whose last feature column is the global node id and whose edge_attr is the
    global edge id, so that every output row can be traced back to its source."""
    graphs = []
    for g in mutag.graphs[:n]:
        graphs.append(Data(x=g.x.clone(), edge_index=g.edge_index.clone(), y=g.y))
    batch = next(iter(DataLoader(graphs, batch_size=n)))
    batch.x = torch.cat([batch.x, torch.arange(batch.num_nodes).float().unsqueeze(1)], dim=1)
    batch.edge_attr = torch.arange(batch.edge_index.size(1)).float().unsqueeze(1)
    return batch


def counts(batch, num_graphs):
    nodes = torch.bincount(batch.batch, minlength=num_graphs)
    edges = torch.bincount(batch.batch[batch.edge_index[0]], minlength=num_graphs)
    return nodes, edges


def check_consistent(original, out):
    """Edges stay inside graphs, x rows trace back to their own graph, y unchanged."""
    assert out.num_graphs == original.num_graphs
    assert torch.equal(out.y, original.y)
    src, dst = out.edge_index
    assert (out.batch[src] == out.batch[dst]).all()
    source_ids = out.x[:, -1].long()
    assert torch.equal(original.batch[source_ids], out.batch)
    assert out.edge_index.max() < out.num_nodes
    return source_ids


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_drop_nodes_exact_per_graph(mutag):
    b = tagged_batch(mutag)
    before = b.x.clone(), b.edge_index.clone()
    out = ViewAugmentation("dnodes", 0.1, generator=gen())(b)
    assert torch.equal(b.x, before[0]) and torch.equal(b.edge_index, before[1])  # not mutated
    n0, _ = counts(b, 64)
    n1, _ = counts(out, 64)
    assert torch.equal(n0 - n1, (n0.float() * 0.1).long())
    ids = check_consistent(b, out)
    assert torch.equal(out.x[:, :-1], b.x[ids, :-1])
    # surviving edges are exactly the original edges between surviving nodes
    kept = torch.zeros(b.num_nodes, dtype=torch.bool)
    kept[ids] = True
    expected = int((kept[b.edge_index[0]] & kept[b.edge_index[1]]).sum())
    assert out.edge_index.size(1) == expected
    mapped = ids[out.edge_index]
    original = set(map(tuple, b.edge_index.T.tolist()))
    assert set(map(tuple, mapped.T.tolist())) <= original
    # edge attributes follow their edges
    assert torch.equal(b.edge_index[:, out.edge_attr.view(-1).long()], mapped)


@pytest.mark.parametrize("add_edges", [True, False])
def test_perturb_edges_exact_per_graph(mutag, add_edges):
    b = tagged_batch(mutag)
    out = ViewAugmentation("pedges", 0.1, generator=gen(1), add_edges=add_edges)(b)
    _, e0 = counts(b, 64)
    _, e1 = counts(out, 64)
    k = (e0.float() * 0.1).long()
    assert torch.equal(e1, e0 if add_edges else e0 - k)
    check_consistent(b, out)
    original = set(map(tuple, b.edge_index.T.tolist()))
    kept = [e for e in map(tuple, out.edge_index.T.tolist()) if e in original]
    assert len(kept) >= int((e0 - k).sum())


def test_mask_attributes_exact_per_graph(mutag):
    b = tagged_batch(mutag)
    out = ViewAugmentation("mask_nodes", 0.1, generator=gen(2))(b)
    changed = (out.x[:, :-1] != b.x[:, :-1]).any(dim=1)
    per_graph = torch.bincount(b.batch[changed], minlength=64)
    n0, _ = counts(b, 64)
    assert torch.equal(per_graph, (n0.float() * 0.1).long())
    assert torch.equal(out.edge_index, b.edge_index)


def test_subgraph_is_connected_and_sized(mutag):
    b = tagged_batch(mutag)
    out = ViewAugmentation("subgraph", generator=gen(3))(b)
    ids = check_consistent(b, out)
    n0, _ = counts(b, 64)
    n1, _ = counts(out, 64)
    target = (n0.float() * 0.2).long().clamp_min(1)
    assert (n1 <= target).all() and (n1 >= 1).all()
    full = nx.Graph(b.edge_index.T.tolist())
    for g in range(64):
        nodes = ids[out.batch == g].tolist()
        sub = full.subgraph(nodes)
        assert nx.is_connected(sub) if len(nodes) > 1 else True
        component = nx.node_connected_component(full, nodes[0]) if nodes[0] in full else {nodes[0]}
        assert len(nodes) == min(int(target[g]), len(component))


def test_subgraph_official_quirk_stays_in_first_neighbourhood(mutag):
    b = tagged_batch(mutag)
    out = ViewAugmentation("subgraph", generator=gen(4), subgraph_quirk=True)(b)
    ids = check_consistent(b, out)
    full = nx.Graph(b.edge_index.T.tolist())
    for g in range(64):
        nodes = ids[out.batch == g].tolist()
        # some node is adjacent to (or is) every kept node: the start node's star
        assert any(all(n == c or full.has_edge(c, n) for n in nodes) for c in nodes)


def test_random_pools_choose_one_augmentation_per_graph(mutag):
    b = tagged_batch(mutag)
    out = ViewAugmentation("random2", generator=gen(5))(b)
    n0, _ = counts(b, 64)
    n1, _ = counts(out, 64)
    dropped = n0 - (n0.float() * 0.1).long()
    sub = (n0.float() * 0.2).long().clamp_min(1)
    is_drop = n1 == dropped
    assert (is_drop | (n1 <= sub)).all()
    assert 0 < is_drop.sum() < 64
    out4 = ViewAugmentation("random4", generator=gen(6))(b)  # masking rewrites the id column
    assert out4.num_graphs == 64 and torch.equal(out4.y, b.y)
    assert (out4.batch[out4.edge_index[0]] == out4.batch[out4.edge_index[1]]).all()


def test_unknown_augmentation_and_bad_ratio():
    with pytest.raises(ValueError, match="unknown augmentation"):
        ViewAugmentation("shuffle")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ViewAugmentation("dnodes", 1.2)


def test_graph_without_edges_survives_every_augmentation():
    graphs = [Data(x=torch.randn(5, 3), edge_index=torch.empty(2, 0, dtype=torch.long),
                   y=torch.tensor([0])) for _ in range(3)]
    b = Batch.from_data_list(graphs)
    for name in ("dnodes", "pedges", "mask_nodes", "subgraph", "random4"):
        out = ViewAugmentation(name, generator=gen())(b)
        assert out.num_graphs == 3 and torch.bincount(out.batch, minlength=3).min() >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_views_on_gpu(mutag):
    b = tagged_batch(mutag).to("cuda")
    out = ViewAugmentation("random4", generator=torch.Generator("cuda").manual_seed(0))(b)
    assert out.x.is_cuda and out.edge_index.is_cuda
    check_consistent(b, out)


def categorical_batch(n_graphs=8, cols=2):
    """Graphs with integer (OGB-style categorical) node features."""
    graphs = []
    for i in range(n_graphs):
        n = 10 + i
        x = torch.randint(0, 5, (n, cols))
        ring = torch.arange(n)
        edge_index = torch.stack([ring, (ring + 1) % n])
        graphs.append(Data(x=x, edge_index=edge_index, y=torch.tensor([i % 2])))
    return Batch.from_data_list(graphs)


def test_mask_nodes_on_integer_features_needs_a_token():
    b = categorical_batch()
    with pytest.raises(ValueError, match="mask_token"):
        ViewAugmentation("mask_nodes", generator=gen())(b)
    with pytest.raises(ValueError, match="mask_token"):  # also when drawn from a pool
        ViewAugmentation("random4", generator=gen())(b)
    with pytest.raises(ValueError, match="one per feature column"):
        ViewAugmentation("mask_nodes", mask_token=torch.tensor([7, 8, 9]), generator=gen())(b)
    with pytest.raises(ValueError, match="integral"):
        ViewAugmentation("mask_nodes", mask_token=0.5, generator=gen())(b)


@pytest.mark.parametrize("token", [7, torch.tensor([7, 9])])
def test_mask_nodes_writes_the_token_into_integer_features(token):
    b = categorical_batch()
    before = b.x.clone()
    out = ViewAugmentation("mask_nodes", 0.2, mask_token=token, generator=gen(7))(b)
    assert torch.equal(b.x, before) and out.x.dtype == b.x.dtype
    expected = torch.as_tensor(token).expand_as(b.x)
    masked = (out.x == expected).all(dim=1) & (b.x != expected).any(dim=1)  # inputs are < 5
    changed = (out.x != b.x).any(dim=1)
    assert torch.equal(masked, changed)
    n0, _ = counts(b, b.num_graphs)
    assert torch.equal(torch.bincount(b.batch[masked], minlength=b.num_graphs),
                       (n0.double() * 0.2).long())
    assert torch.equal(out.edge_index, b.edge_index)


def test_mask_token_on_float_features_replaces_the_noise(mutag):
    b = tagged_batch(mutag)
    out = ViewAugmentation("mask_nodes", 0.1, mask_token=-1.0, generator=gen(8))(b)
    changed = (out.x != b.x).any(dim=1)
    assert (out.x[changed] == -1).all()
    n0, _ = counts(b, 64)
    assert torch.equal(torch.bincount(b.batch[changed], minlength=64), (n0.float() * 0.1).long())


@pytest.mark.parametrize("sizes", [[0, 1, 3, 7, 40], [0, 2, 900, 2500, 3000]])
def test_sample_is_exact_and_uniform_per_group(sizes):
    """Both sampling paths (sort for few elements, distinct draws for many) pick exactly
    min(count, size) distinct positions of each group, uniformly."""
    from graphaug.views import _sample

    sizes = torch.tensor(sizes)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(sizes, 0)])
    g = gen(9)
    for counts in (torch.tensor([1, 0, 1, 3, 30]), torch.tensor([2, 5, 2, 600, 2900]),
                   torch.tensor([0, 1, 1, 1, 1])):
        hits = torch.zeros(int(ptr[-1]), dtype=torch.float64)
        trials = 100
        for _ in range(trials):
            pos, group = _sample(ptr, counts, g)
            assert pos.unique().numel() == pos.numel()
            assert ((pos >= ptr[group]) & (pos < ptr[group + 1])).all()
            assert torch.equal(torch.bincount(group, minlength=5), torch.minimum(counts, sizes))
            hits[pos] += 1
        # every position of group j is hit with probability min(count, size) / size
        for j in range(5):
            if sizes[j] == 0:
                continue
            p = min(int(counts[j]), int(sizes[j])) / int(sizes[j])
            mean, sigma = trials * p, (trials * p * (1 - p)) ** 0.5
            assert (hits[ptr[j]:ptr[j + 1]] - mean).abs().max() <= 6 * sigma + 3


@pytest.mark.parametrize("style", ["official", "numpy"])
def test_per_graph_references_make_graphaugs_default_views(mutag, style):
    """Both speed references do graphaug's work: exact counts, nodes removed with their induced
    edges, as many edges added as dropped, connected subgraphs; inputs untouched."""
    ref = load_benchmark("reference_views")
    augment = ref.augment_list_official if style == "official" else ref.augment_list
    graphs = [Data(x=torch.cat([g.x, torch.arange(g.num_nodes).float().unsqueeze(1)], 1),
                   edge_index=g.edge_index.clone(), y=g.y) for g in mutag.graphs[:32]]
    before = [(g.x.clone(), g.edge_index.clone()) for g in graphs]
    for name in ("dnodes", "pedges", "mask_nodes", "subgraph"):
        out = augment(graphs, name, 0.1)
        assert out.num_graphs == 32
        for g, view in zip(graphs, out.to_data_list()):
            n, e = g.num_nodes, g.edge_index.size(1)
            if name == "pedges":
                assert view.edge_index.size(1) == e and torch.equal(view.x, g.x)
                assert int(view.edge_index.max()) < n
                continue
            if name == "mask_nodes":
                assert int((view.x != g.x).any(1).sum()) == int(n * 0.1)
                continue
            ids = view.x[:, -1].long()
            if name == "dnodes":
                assert view.num_nodes == n - int(n * 0.1)
            else:
                sub = nx.Graph(g.edge_index.T.tolist())
                sub.add_nodes_from(range(n))
                assert 1 <= view.num_nodes <= max(1, int(n * 0.2))
                assert nx.is_connected(sub.subgraph(ids.tolist()))
            kept = set(ids.tolist())
            induced = {(a, b) for a, b in g.edge_index.T.tolist() if a in kept and b in kept}
            assert set(map(tuple, ids[view.edge_index].T.tolist())) == induced
    for g, (x, edge_index) in zip(graphs, before):
        assert torch.equal(g.x, x) and torch.equal(g.edge_index, edge_index)
    # subgraph grows from the whole subgraph (GraphCL's quirk keeps the start node's star): on
    # a path of 20 nodes (with self-loops) it reaches 4 nodes, the star has 3 at the most
    ring = torch.arange(20)
    path = torch.cat([torch.stack([ring[:-1], ring[1:]]), torch.stack([ring[1:], ring[:-1]]),
                      torch.stack([ring, ring])], 1)
    out = augment([Data(x=torch.zeros(20, 1), edge_index=path)] * 32, "subgraph")
    sizes = torch.bincount(out.batch, minlength=32)
    assert sizes.max() == 4 and int((sizes == 4).sum()) >= 30


def test_strip_self_loops_option_matches_the_official_view(mutag_batch):
    from torch_geometric.utils import add_remaining_self_loops
    from graphaug.views import ViewAugmentation
    b = mutag_batch.clone()
    b.edge_attr = None  # the loops added here have no bond features
    b.edge_index, _ = add_remaining_self_loops(b.edge_index, num_nodes=b.num_nodes)
    for name in ("dnodes", "subgraph", "random4", "pedges"):
        kept = ViewAugmentation(name, generator=torch.Generator().manual_seed(0))(b)
        stripped = ViewAugmentation(name, strip_self_loops=True,
                                    generator=torch.Generator().manual_seed(0))(b)
        loops = lambda v: v.edge_index[0] == v.edge_index[1]  # noqa: E731
        assert int(loops(kept).sum()) > 0
        if name in ("dnodes", "subgraph"):
            assert int(loops(stripped).sum()) == 0
        if name == "pedges":  # not a node-dropping view: unchanged
            assert torch.equal(stripped.edge_index, kept.edge_index)
        if name == "random4":  # only the graphs that drew dnodes/subgraph lose their loops
            assert 0 < int(loops(stripped).sum()) < int(loops(kept).sum())
        assert torch.equal(stripped.edge_index[:, ~loops(stripped)],
                           kept.edge_index[:, ~loops(kept)])
