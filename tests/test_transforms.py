import pytest
import torch
from torch import nn

import graphaug as ga


def grouped_ones(num_graphs=400, nodes=5, d=16):
    batch = torch.arange(num_graphs).repeat_interleave(nodes)
    return torch.ones(num_graphs * nodes, d), batch


def test_dropout_rescales_and_matches_rate():
    x = torch.ones(4000, 64)
    out = ga.ActivationDropout(p=0.25, apply_prob=1.0, seed=0).train()(x)
    values = out.unique()
    assert values.numel() == 2 and values[0] == 0
    assert values[1].item() == pytest.approx(1 / 0.75)
    assert abs((out == 0).float().mean().item() - 0.25) < 0.01
    assert abs(out.mean().item() - 1.0) < 0.01  # inverted dropout keeps the expectation


def test_dropout_selects_whole_graphs_with_apply_prob():
    x, batch = grouped_ones()
    out = ga.ActivationDropout(p=0.5, apply_prob=0.5, seed=1).train()(x, batch=batch)
    changed_rows = (out != x).any(dim=1)
    per_graph = torch.zeros(400).index_add_(0, batch, changed_rows.float())
    # every graph is either untouched or has all of its rows transformed
    assert set(per_graph.unique().tolist()) <= {0.0, 5.0}
    assert 0.4 < (per_graph == 5).float().mean().item() < 0.6
    untouched = (per_graph == 0)[batch]
    assert torch.equal(out[untouched], x[untouched])


def test_apply_prob_zero_and_one():
    x, batch = grouped_ones(50)
    none = ga.ActivationDropout(0.5, apply_prob=0.0).train()(x, batch=batch)
    assert none is x
    all_ = ga.ActivationDropout(0.5, apply_prob=1.0, seed=0).train()(x, batch=batch)
    assert (all_ != x).any(dim=1).all()


def test_eval_mode_is_noop_unless_forced():
    x = torch.randn(20, 8)
    aug = ga.ActivationDropout(0.5, apply_prob=1.0).eval()
    assert aug(x) is x
    forced = ga.ActivationDropout(0.5, apply_prob=1.0, force=True).eval()
    assert not torch.equal(forced(x), x)
    pca = ga.ActivationPCA(k=1, apply_prob=1.0).eval()
    assert pca(x) is x


def test_seeded_transforms_are_reproducible():
    x, batch = torch.randn(300, 12), torch.arange(60).repeat_interleave(5)
    a = ga.ActivationDropout(0.25, seed=3).train()(x, batch=batch)
    b = ga.ActivationDropout(0.25, seed=3).train()(x, batch=batch)
    c = ga.ActivationDropout(0.25, seed=4).train()(x, batch=batch)
    assert torch.equal(a, b) and not torch.equal(a, c)
    p1 = ga.ActivationPCA(k=1, method="lowrank", seed=3).train()(x, batch=batch)
    p2 = ga.ActivationPCA(k=1, method="lowrank", seed=3).train()(x, batch=batch)
    assert torch.equal(p1, p2)


def anisotropic(n=500, d=10, seed=0, scales=None):
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(5.0, 0.5, d) if scales is None else scales
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    return (torch.randn(n, d, generator=g) * scales) @ basis.T + 3.0, basis


def reference_directions(x):
    centred = x.double() - x.double().mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh.T.float()  # [d, d], descending


@pytest.mark.parametrize("k,column", [(1, [0]), (2, [0, 1]), (-1, [5]), (-2, [4, 5])])
def test_pca_projects_out_exactly_the_chosen_directions(k, column):
    x, _ = anisotropic()
    batch = torch.arange(100).repeat_interleave(5)
    aug = ga.ActivationPCA(k=k, q=6, method="exact", apply_prob=0.5, seed=0).train()
    out = aug(x, batch=batch)
    v = reference_directions(x)
    mean = x.mean(0)
    selected = (out != x).any(dim=1)
    assert 0 < selected.sum() < x.size(0)
    removed = (out[selected] - mean) @ v[:, column]
    assert removed.abs().max() < 1e-3
    kept = [c for c in range(10) if c not in column]
    before = (x[selected] - mean) @ v[:, kept]
    after = (out[selected] - mean) @ v[:, kept]
    assert torch.allclose(before, after, atol=1e-3)  # no rescaling, other directions intact
    assert torch.equal(out[~selected], x[~selected])  # unselected rows bit-identical


def test_pca_lowrank_path_agrees_with_exact_on_separated_spectrum():
    x, _ = anisotropic(n=800, d=10, scales=torch.tensor([20.0, 4.0] + [1.0] * 8))
    exact = ga.ActivationPCA(k=1, method="exact", apply_prob=1.0).train()(x)
    low = ga.ActivationPCA(k=1, method="lowrank", apply_prob=1.0, seed=0).train()(x)
    assert torch.allclose(exact, low, atol=1e-2)


def test_pca_computes_in_float32_and_keeps_dtype():
    x, _ = anisotropic()
    out = ga.ActivationPCA(k=1, apply_prob=1.0).train()(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    out64 = ga.ActivationPCA(k=1, apply_prob=1.0).train()(x.double())
    assert out64.dtype == torch.float64


def skewed_one_hot(n=24255, d=89, k=18, power=1.4, seed=47):
    """One-hot rows over ``k`` of ``d`` features with skewed frequencies (DD-like input): on
    this machine's float32 LAPACK, ``eigh`` of their covariance fails to converge."""
    gen = torch.Generator().manual_seed(seed)
    probs = 1.0 / torch.arange(1, k + 1).float() ** power
    labels = torch.multinomial(probs, n, replacement=True, generator=gen)
    columns = torch.randperm(d, generator=gen)[:k]
    x = torch.zeros(n, d)
    x[torch.arange(n), columns[labels]] = 1.0
    return torch.cat([x, x])


def test_pca_survives_float32_eigh_failure_on_one_hot_input(monkeypatch):
    x = skewed_one_hot()
    out = ga.ActivationPCA(k=1, method="exact", apply_prob=1.0).train()(x)
    v = reference_directions(x)[:, :1].double()
    centred = x.double() - x.double().mean(0)
    expected = x.double() - centred @ v @ v.T
    assert torch.allclose(out.double(), expected, atol=1e-4)
    # the fallback path whatever LAPACK does here: float32 fails, float64 answers
    eigh, failure = torch.linalg.eigh, {"mode": "raise"}

    def failing_float32(a, *args, **kwargs):
        if a.dtype != torch.float32:
            return eigh(a, *args, **kwargs)
        if failure["mode"] == "raise":
            raise torch.linalg.LinAlgError("forced")
        w, v = eigh(a, *args, **kwargs)  # what LAPACK also does on DD: NaN, no error
        return w, torch.full_like(v, float("nan"))
    y, _ = anisotropic()
    plain = ga.ActivationPCA(k=-1, q=6, method="exact", apply_prob=1.0).train()(y)
    monkeypatch.setattr(torch.linalg, "eigh", failing_float32)
    for mode in ("raise", "nan"):
        failure["mode"] = mode
        fallback = ga.ActivationPCA(k=-1, q=6, method="exact", apply_prob=1.0).train()(y)
        assert fallback.dtype == torch.float32 and torch.allclose(fallback, plain, atol=1e-4)
    from graphaug.utils import eigh_vectors
    with pytest.raises(ValueError, match="non-finite"):
        eigh_vectors(torch.full((3, 3), float("nan")))


def test_pca_token_mask_excludes_padding():
    x = torch.randn(8, 12, 16)
    mask = torch.ones(8, 12, dtype=torch.bool)
    mask[:, 9:] = False
    x[~mask] = 1000.0  # padding would dominate the statistics if it entered them
    out = ga.ActivationPCA(k=1, apply_prob=1.0).train()(x, mask=mask)
    assert torch.equal(out[~mask], x[~mask])
    valid = x[mask]
    direct = ga.ActivationPCA(k=1, apply_prob=1.0).train()(valid)
    assert torch.allclose(out[mask], direct, atol=1e-5)


def test_pca_on_feature_maps_by_sample_and_position():
    x = torch.randn(16, 4, 5, 5)
    by_sample = ga.ActivationPCA(k=1, apply_prob=1.0).train()(x)
    flat = ga.ActivationPCA(k=1, apply_prob=1.0).train()(x.reshape(16, -1)).reshape(x.shape)
    assert torch.allclose(by_sample, flat, atol=1e-5)
    by_pos = ga.ActivationPCA(k=1, q=3, apply_prob=1.0, pca_rows="position").train()(x)
    rows = x.permute(0, 2, 3, 1).reshape(-1, 4)
    direct = ga.ActivationPCA(k=1, q=3, apply_prob=1.0).train()(rows)
    assert torch.allclose(by_pos, direct.reshape(16, 5, 5, 4).permute(0, 3, 1, 2), atol=1e-5)


class TwoLayer(nn.Module):
    def __init__(self, transform):
        super().__init__()
        self.lower, self.upper, self.transform = nn.Linear(4, 6), nn.Linear(6, 3), transform

    def forward(self, x, batch):
        return self.upper(self.transform(self.lower(x), batch=batch))


@pytest.mark.parametrize("make", [lambda **kw: ga.ActivationDropout(0.5, **kw),
                                  lambda **kw: ga.ActivationPCA(k=1, q=2, **kw)])
def test_stop_grad_blocks_gradient_of_transformed_rows_only(make):
    x = torch.randn(40, 4, requires_grad=True)
    batch = torch.arange(8).repeat_interleave(5)
    model = TwoLayer(make(apply_prob=0.5, seed=2)).train()
    out = model(x, batch)
    out.sum().backward()
    selected = torch.zeros(40, dtype=torch.bool)
    with torch.no_grad():
        plain = model.upper(model.lower(x))
        selected = (out != plain).any(dim=1)
    assert 0 < selected.sum() < 40
    assert x.grad[selected].abs().max() == 0  # nothing flows below the target
    assert (x.grad[~selected].abs().sum(dim=1) > 0).all()  # untransformed rows still learn
    assert model.upper.weight.grad.abs().sum() > 0  # transformed rows still reach the layers above

    x.grad = None
    model = TwoLayer(make(apply_prob=1.0, seed=2, stop_grad=False)).train()
    model(x, batch).sum().backward()
    assert (x.grad.abs().sum(dim=1) > 0).any()


def test_all_rows_selected_with_stop_grad_gives_no_lower_gradient():
    model = TwoLayer(ga.ActivationDropout(0.25, apply_prob=1.0)).train()
    model(torch.randn(10, 4), torch.arange(10)).sum().backward()
    assert model.lower.weight.grad is None or model.lower.weight.grad.abs().max() == 0


def test_bad_arguments_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="p must lie"):
        ga.ActivationDropout(p=1.0)
    with pytest.raises(ValueError, match="apply_prob"):
        ga.ActivationDropout(p=0.1, apply_prob=1.5)
    with pytest.raises(ValueError, match="non-zero"):
        ga.ActivationPCA(k=0)
    with pytest.raises(ValueError, match=r"\|k\| <= q"):
        ga.ActivationPCA(k=-7, q=6)
    with pytest.raises(ValueError, match="method"):
        ga.ActivationPCA(method="svd")
    with pytest.raises(ValueError, match="needs at least 6 rows"):
        ga.ActivationPCA(k=1, apply_prob=1.0).train()(torch.randn(4, 16))
    bad = torch.randn(10, 4)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ga.ActivationDropout(0.1, apply_prob=1.0).train()(bad)
    with pytest.raises(ValueError, match="empty"):
        ga.ActivationDropout(0.1).train()(torch.zeros(0, 4), batch=torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="batch must be"):
        ga.ActivationDropout(0.1).train()(torch.randn(5, 4), batch=torch.zeros(3, dtype=torch.long))


def test_repr_is_short():
    assert repr(ga.ActivationDropout(0.25)) == \
        "ActivationDropout(p=0.25, apply_prob=0.5, stop_grad=True)"
    assert "k=-1" in repr(ga.ActivationPCA(k=-1))
