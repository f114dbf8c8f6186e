"""CKA and the layer recommendation."""
import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from graphaug.nn import GraphCLEncoder
from graphaug.select import cka, coadaptation_scores, layer_similarity, median_sigma, \
    recommend_layer


def direct_cka(x, y, kernel, unbiased=False):
    """Full Gram matrices and the textbook formulas (small n only)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def gram(a):
        if kernel == "linear":
            return a @ a.T
        d = ((a[:, None] - a[None]) ** 2).sum(-1)
        sigma2 = np.median(d[np.triu_indices(len(a), 1)][d[np.triu_indices(len(a), 1)] > 0])
        return np.exp(-d / (2 * sigma2))

    def hsic(k, l_):
        n = len(k)
        if not unbiased:
            h = np.eye(n) - 1.0 / n
            return np.trace(k @ h @ l_ @ h)
        k, l_ = k - np.diag(np.diag(k)), l_ - np.diag(np.diag(l_))
        one = np.ones(n)
        return (np.trace(k @ l_) + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * one @ k @ l_ @ one) / (n * (n - 3))

    k, l_ = gram(x), gram(y)
    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_cka_properties_and_direct_formula(kernel, unbiased):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(60, 7, generator=gen, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(7, 5, generator=gen, dtype=torch.float64)) \
        + 0.3 * torch.randn(60, 5, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(7, 7, generator=gen, dtype=torch.float64))
    assert cka(x, x, kernel, unbiased=unbiased) == pytest.approx(1.0, abs=1e-10)
    value = cka(x, y, kernel, unbiased=unbiased)
    assert value == pytest.approx(cka(y, x, kernel, unbiased=unbiased), abs=1e-12)
    assert value == pytest.approx(cka(x @ q, y, kernel, unbiased=unbiased), abs=1e-9)
    assert value == pytest.approx(cka(3.7 * x, y, kernel, unbiased=unbiased), abs=1e-9)
    assert value == pytest.approx(direct_cka(x, y, kernel, unbiased), abs=1e-9)
    assert 0.0 < value < 1.0


def test_cka_is_blockwise_and_bounded(monkeypatch):
    import graphaug.select as sel
    x, y = torch.randn(300, 4), torch.randn(300, 6)
    full, debiased = cka(x, y, "rbf"), cka(x, y, "rbf", unbiased=True)
    monkeypatch.setattr(sel, "_BLOCK", 64)  # many blocks, same answer
    assert cka(x, y, "rbf") == pytest.approx(full, abs=1e-10)
    monkeypatch.setattr(sel, "_GRAM_BUDGET", 8 * 300 * 2 * 5)  # blocks of 5 rows
    assert cka(x, y, "rbf", unbiased=True) == pytest.approx(debiased, abs=1e-10)
    assert cka(x, y, "rbf") == pytest.approx(full, abs=1e-10)
    assert median_sigma(torch.zeros(3, 2) + torch.tensor([[0.0], [1.0], [3.0]])) == \
        pytest.approx(np.sqrt(8.0))  # squared distances 2, 8, 18


def test_cka_errors():
    with pytest.raises(ValueError, match="same samples"):
        cka(torch.randn(5, 2), torch.randn(6, 2))
    with pytest.raises(ValueError, match="kernel"):
        cka(torch.randn(5, 2), torch.randn(5, 2), "poly")
    with pytest.raises(ValueError, match="constant"):
        cka(torch.ones(5, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        cka(torch.full((5, 2), float("nan")), torch.randn(5, 2))


def test_recommendation_on_a_toy_matrix():
    # layer 2's output is copied by the layers above it; layer 1's is not
    m = np.array([[1.0, 0.2, 0.2, 0.2],
                  [0.2, 1.0, 0.3, 0.3],
                  [0.2, 0.3, 1.0, 0.95],
                  [0.2, 0.3, 0.95, 1.0]])
    scores = coadaptation_scores(m, [0, 1, 2, 3])
    assert scores == pytest.approx({0: 0.2, 1: 0.3, 2: 0.95})
    assert recommend_layer(m, [0, 1, 2, 3])[0] == 2
    assert recommend_layer(m, [0, 1, 2, 3], candidates=[0, 1])[0] == 1


def test_layer_similarity_of_a_graph_encoder(mutag):
    enc = GraphCLEncoder(7, hidden=16, num_layers=3)
    batches = DataLoader(mutag.graphs[:96], batch_size=32)
    matrix, targets = layer_similarity(enc, batches)
    assert targets == [0, 1, 2, 3] and matrix.shape == (4, 4)
    assert np.allclose(np.diag(matrix), 1.0) and np.allclose(matrix, matrix.T)
    assert ((matrix > 0) & (matrix <= 1 + 1e-9)).all()
    assert not any(m._forward_hooks for m in enc.modules())  # recorders removed
    # graph readout of target 1 equals the encoder's own first readout block
    x, _ = __import__("graphaug.evaluate", fromlist=["embed_graphs"]).embed_graphs(
        enc, mutag.graphs[:96])
    direct = cka(x[:, :16], x[:, 16:32], "rbf")
    assert matrix[1, 2] == pytest.approx(direct, abs=1e-5)
    # every entry of the shared-block matrix is the pairwise cka of the two readouts
    blocks = [x[:, 16 * i:16 * (i + 1)] for i in range(3)]
    for i in range(3):
        for j in range(3):
            assert matrix[i + 1, j + 1] == pytest.approx(cka(blocks[i], blocks[j], "rbf"),
                                                         abs=1e-5)
    target, scores = recommend_layer(matrix, targets)
    assert target in (1, 2) and set(scores) == {0, 1, 2}


class _FixedConv(__import__("torch_geometric").nn.MessagePassing):
    """A "layer" with a known relation to its input: ``copy`` passes the node states on,
    otherwise a fixed random, strongly non-linear map scrambles them."""

    def __init__(self, dim: int, copy: bool, seed: int) -> None:
        super().__init__()
        self.copy = copy
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("weight", 6.0 * torch.randn(dim, dim, generator=gen))

    def forward(self, x, edge_index):
        return x.clone() if self.copy else torch.sin(x @ self.weight)


class _ToyGNN(torch.nn.Module):
    def __init__(self, copies: list[bool], dim: int = 6) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(_FixedConv(dim, c, i) for i, c in enumerate(copies))

    def forward(self, x, edge_index, batch):
        for conv in self.convs:
            x = conv(x, edge_index)
        return x


@pytest.mark.parametrize("copies, expected", [
    # layer 1 is scrambled by layer 2 and copied by layer 3: layer 2's output is what the
    # layers above copy (CKA(2, 3) = 1), layer 1's is not
    ([True, False, True], 2),
    # layer 2 copies layer 1 and layer 3 scrambles both: layer 1 is copied (CKA(1, 2) = 1)
    ([True, True, False], 1),
])
def test_recommendation_on_a_toy_model(copies, expected):
    from torch_geometric.data import Batch, Data

    gen = torch.Generator().manual_seed(0)
    graphs = [Data(x=torch.randn(int(n), 6, generator=gen),
                   edge_index=torch.zeros(2, 0, dtype=torch.long))
              for n in torch.randint(3, 9, (80,), generator=gen)]
    model = _ToyGNN(copies)
    matrix, targets = layer_similarity(model, [Batch.from_data_list(graphs[i:i + 40])
                                               for i in (0, 40)])
    assert targets == [0, 1, 2, 3]
    copied = {(i, i + 1) for i, c in enumerate(copies) if c}  # (target, target + 1) equal
    copied |= {(a, c) for a, b in copied for b2, c in copied if b == b2}
    for a, b in copied:
        assert matrix[a, b] == pytest.approx(1.0, abs=1e-9)
    for a in range(4):
        for b in range(a + 1, 4):
            if (a, b) not in copied:
                assert matrix[a, b] < 0.9  # scrambled pairs are far apart
    target, scores = recommend_layer(matrix, targets)
    assert target == expected
    assert scores[expected] == max(scores[t] for t in (1, 2))
