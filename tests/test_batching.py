"""PreCollatedGraphs: batches identical to PyG's collation; graph_batches on both paths."""
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from graphaug.batching import PreCollatedGraphs
from graphaug.contrastive import train
from graphaug.contrastive.pipeline import graph_batches
from graphaug.utils import all_finite, finite_hint


def graphs(count: int = 9, seed: int = 0, edge_attr: bool = True) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        n = int(torch.randint(1, 7, (1,), generator=gen))
        e = int(torch.randint(0, 3 * n, (1,), generator=gen))
        data = Data(x=torch.randn(n, 3, generator=gen),
                    edge_index=torch.randint(0, n, (2, e), generator=gen),
                    y=torch.randint(0, 2, (1,), generator=gen), node_index=torch.arange(n))
        if edge_attr:
            data.edge_attr = torch.randn(e, 2, generator=gen)
        out.append(data)
    return out


def assert_same_batch(a, b) -> None:
    assert type(a) is type(b) and list(a.keys()) == list(b.keys())
    for key in a.keys():
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    assert a.num_graphs == b.num_graphs
    for name in ("_slice_dict", "_inc_dict"):
        da, db = getattr(a, name), getattr(b, name)
        assert list(da) == list(db)
        assert all(torch.equal(da[k], db[k]) and da[k].dtype == db[k].dtype for k in da), name


@pytest.mark.parametrize("index", [[0], [3, 0, 8, 8], list(range(9))[::-1]])
def test_batch_equals_pyg_collation(index):
    data = graphs()
    batch = PreCollatedGraphs(data).batch(index)
    assert_same_batch(batch, Batch.from_data_list([data[i] for i in index]))
    assert torch.equal(batch.get_example(1 if len(index) > 1 else 0).edge_index,
                       data[index[1 if len(index) > 1 else 0]].edge_index)


def test_unsupported_datasets_are_named_and_bad_ids_refused():
    mixed = graphs(3)
    del mixed[1].edge_attr
    assert "differ" in PreCollatedGraphs.unsupported(mixed)
    assert not PreCollatedGraphs.supports([Data(edge_index=torch.zeros(2, 0, dtype=torch.long),
                                                num_nodes=3)])
    with pytest.raises(ValueError, match="cannot slice"):
        PreCollatedGraphs(mixed)
    with pytest.raises(IndexError):
        PreCollatedGraphs(graphs(3)).batch([3])


class OwnData(Data):
    """A Data subclass may batch its own way: graph_batches falls back to PyG's loader."""


@pytest.mark.parametrize("sliced", [True, False])
def test_graph_batches_match_pyg_loader_for_a_seed(sliced):
    data = graphs(11)
    if not sliced:
        data = [OwnData(**dict(g)) for g in data]
        assert not PreCollatedGraphs.supports(data)
    torch.manual_seed(5)
    ours = list(graph_batches(data, 4, torch.device("cpu"))(0))
    after_ours = torch.rand(1)
    torch.manual_seed(5)
    theirs = list(DataLoader(data, batch_size=4, shuffle=True))
    after_theirs = torch.rand(1)
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        assert_same_batch(a, b)
    assert torch.equal(after_ours, after_theirs)  # the same global-RNG consumption


def test_finite_checks_are_exact():
    x = torch.randn(50, 4)
    assert bool(finite_hint(x)) and all_finite(x)
    big = torch.full((4, 4), 3e38)  # the sum overflows, every element is finite
    assert not bool(finite_hint(big)) and all_finite(big)
    for bad in (float("nan"), float("inf"), -float("inf")):
        y = x.clone()
        y[7, 2] = bad
        assert not all_finite(y)


def test_non_finite_loss_names_the_step():
    weight = torch.nn.Parameter(torch.ones(()))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = weight

        def forward(self, value):
            return self.weight * value

    with pytest.raises(ValueError, match=r"non-finite loss nan at epoch 0, step 2"):
        train(Model(), lambda epoch: [torch.tensor(1.0), torch.tensor(2.0),
                                      torch.tensor(float("nan"))],
              torch.optim.SGD([weight], lr=0.0), 1, progress=False)
