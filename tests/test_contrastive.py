import copy
import json

import pytest
import torch

import graphaug as ga
from conftest import as_molecules, assert_same_loss_and_grads
from graphaug.contrastive import (DeepAug, GraphCL, MethodConfig, graphcl_nt_xent, info_nce,
                                  pretrain)
from graphaug.nn import GraphCLEncoder
from graphaug.utils import atomic_write_json


def loop_graphcl(z1, z2, t):
    total = 0.0
    for i in range(len(z1)):
        sims = [torch.nn.functional.cosine_similarity(z1[i], z2[j], dim=0) / t
                for j in range(len(z2))]
        negatives = sum(torch.exp(s) for j, s in enumerate(sims) if j != i)
        total += -torch.log(torch.exp(sims[i]) / negatives)
    return total / len(z1)


def loop_infonce(z1, z2, t):
    def one_way(a, b):
        total = 0.0
        for i in range(len(a)):
            sims = [torch.nn.functional.cosine_similarity(a[i], b[j], dim=0) / t
                    for j in range(len(b))]
            total += -torch.log(torch.exp(sims[i]) / sum(torch.exp(s) for s in sims))
        return total / len(a)
    return 0.5 * (one_way(z1, z2) + one_way(z2, z1))


def test_losses_match_direct_loops():
    z1, z2 = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    assert torch.allclose(graphcl_nt_xent(z1, z2, 0.2), loop_graphcl(z1, z2, 0.2))
    assert torch.allclose(info_nce(z1, z2, 0.5), loop_infonce(z1, z2, 0.5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        graphcl_nt_xent(z1[:1], z2[:1])
    with pytest.raises(ValueError, match="temperature"):
        info_nce(z1, z2, 0.0)


def grads(model):
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("target,make", [
    (0, lambda g: ga.ActivationDropout(0.25, generator=g)),
    (2, lambda g: ga.ActivationPCA(k=-1, generator=g)),
    (3, lambda g: ga.ActivationDropout(0.5, generator=g, stop_grad=False)),
    (4, lambda g: ga.ActivationPCA(k=1, generator=g)),
])
@pytest.mark.parametrize("bn_per_view", [False, True])
def test_shared_trunk_gives_two_pass_gradients(mutag_batch, target, make, bn_per_view):
    # float64, so that BatchNorm's reduction order over N vs 2N rows cannot hide a real error
    batch = mutag_batch.clone()
    batch.x = batch.x.double()
    results = []
    for share in (True, False):
        torch.manual_seed(0)
        enc = GraphCLEncoder(7, hidden=16, num_layers=3).double()
        model = GraphCL(enc, DeepAug(target, make(torch.Generator().manual_seed(1))),
                        input_aug=None, share_trunk=share, bn_per_view=bn_per_view).train()
        loss = model(batch)
        loss.backward()
        results.append((loss.detach(), grads(model)))
    assert_same_loss_and_grads(*results)


class UserGIN(torch.nn.Module):
    """A user's own PyG GIN with GraphCLEncoder's layers and readout, no taps, no head."""

    def __init__(self, hidden=16, layers=3):
        super().__init__()
        from torch_geometric.nn import GINConv
        from graphaug.nn import gin_mlp
        self.convs = torch.nn.ModuleList(GINConv(gin_mlp(7 if i == 0 else hidden, hidden))
                                         for i in range(layers))
        self.bns = torch.nn.ModuleList(torch.nn.BatchNorm1d(hidden) for _ in range(layers))

    def forward(self, x, edge_index, batch):
        from graphaug.nn import sum_pool
        pooled = []
        for conv, bn in zip(self.convs, self.bns):
            x = bn(torch.relu(conv(x, edge_index)))
            pooled.append(sum_pool(x, batch, int(batch.max()) + 1))
        return torch.cat(pooled, dim=-1)


@pytest.mark.parametrize("target", [0, 2, 3, 4])
@pytest.mark.parametrize("input_aug", [None, "dnodes"])
def test_user_encoder_gives_the_native_loss_and_gradients(mutag_batch, target, input_aug):
    """A user's GNN (two views stacked in one call, GraphCL's head) = graphaug's encoder
    (shared trunk where it applies): same loss, same gradients."""
    batch = mutag_batch.clone()
    batch.x = batch.x.double()
    torch.manual_seed(0)
    enc = GraphCLEncoder(7, hidden=16, num_layers=3).double()
    user = UserGIN().double()
    user.load_state_dict({k: v for k, v in enc.state_dict().items()
                          if not k.startswith("proj_head")})
    head = copy.deepcopy(enc.proj_head)
    results = []
    for model in (GraphCL(enc, DeepAug(target, ga.ActivationPCA(k=1, seed=1)), input_aug,
                          generator=torch.Generator().manual_seed(2)),
                  GraphCL(user, DeepAug(target, ga.ActivationPCA(k=1, seed=1)), input_aug,
                          head=head, generator=torch.Generator().manual_seed(2))):
        model.train()
        loss = model(batch)
        loss.backward()
        results.append((loss.detach(), {k.replace("encoder.proj_head", "head"): v
                                        for k, v in grads(model).items()}))
    assert_same_loss_and_grads(*results)
    assert not any(m._forward_hooks for m in user.modules())  # attached per forward only


def test_user_encoder_output_must_be_graph_embeddings(mutag_batch):
    class Pair(UserGIN):
        def forward(self, x, edge_index, batch):
            return x, super().forward(x, edge_index, batch)
    with pytest.raises(ValueError, match="call=lambda"):
        GraphCL(Pair(), DeepAug(2, ga.ActivationDropout(0.25)), None)(mutag_batch)
    pair = Pair()
    model = GraphCL(pair, DeepAug(2, ga.ActivationDropout(0.25, seed=3)), None,
                    call=lambda enc, b, **kw: enc(b.x, b.edge_index, b.batch)[1])
    # call= picks the graph embeddings: the loss of the same weights returning them directly
    plain = UserGIN()
    plain.load_state_dict(pair.state_dict())
    reference = GraphCL(plain, DeepAug(2, ga.ActivationDropout(0.25, seed=3)), None)
    assert torch.allclose(model.train()(mutag_batch), reference.train()(mutag_batch))


def test_graphcl_model_combinations_and_errors(mutag_batch):
    """Input views, activation views or both: two different views, the loss is NT-Xent on
    them (recomputed by hand with the same draws) and its gradient reaches the first layer."""
    enc = GraphCLEncoder(7)
    for deep, inp in [(None, "random2"), (DeepAug(2, ga.ActivationDropout(0.25)), None),
                      (DeepAug(1, ga.ActivationPCA(k=1)), "dnodes")]:
        gen = torch.Generator()
        model = GraphCL(GraphCLEncoder(7), deep_aug=deep, input_aug=inp, generator=gen).train()
        gen.manual_seed(0), torch.manual_seed(0)  # input views; transforms use the global RNG
        z1, z2 = model.views(mutag_batch)
        gen.manual_seed(0), torch.manual_seed(0)
        loss = model(mutag_batch)
        assert not torch.allclose(z1, z2)
        assert torch.allclose(loss, loop_graphcl(z1, z2, 0.2), atol=1e-5)
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().max() > 0
                   for p in model.encoder.convs[0].parameters())
    with pytest.raises(ValueError, match="input_aug, deep_aug or both"):
        GraphCL(enc, None, None)
    with pytest.raises(ValueError, match="projection head"):
        GraphCL(GraphCLEncoder(7, proj_head=False), None, "random2")
    with pytest.raises(ValueError, match="out of range"):
        GraphCL(enc, DeepAug(9, ga.ActivationDropout(0.1)), None)
    from torch_geometric.data import Batch
    one = Batch.from_data_list([mutag_batch.get_example(0)])
    with pytest.raises(ValueError, match="at least 2 graphs"):
        GraphCL(GraphCLEncoder(7), None, "random2").train()(one)
    deep = DeepAug(2, ga.ActivationDropout(0.25), apply_prob=1.0)
    built = GraphCL(GraphCLEncoder(7), deep, None).transform
    assert built.apply_prob == 1.0 and deep.transform.apply_prob == 0.5  # caller's object kept


def test_pretrain_resumes_exactly(mutag, tmp_path):
    cfg = MethodConfig("graphcl+deepaug", transform="pca", rate=-1, target=2, epochs=4,
                       batch_size=64, hidden=16)
    full, full_hist = pretrain(mutag.graphs, 7, cfg, seed=3)
    ckpt = tmp_path / "run.pt"
    _, first = pretrain(mutag.graphs, 7, cfg, seed=3, checkpoint=ckpt, stop_after=2)
    assert len(first) == 2 and ckpt.exists()
    resumed, hist = pretrain(mutag.graphs, 7, cfg, seed=3, checkpoint=ckpt)
    assert hist == full_hist
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="epochs"):
        pretrain(mutag.graphs, 7, MethodConfig(epochs=5, batch_size=64, hidden=16), seed=3,
                 checkpoint=ckpt)


def test_method_config_validation():
    with pytest.raises(ValueError, match="unknown method"):
        MethodConfig("simclr")
    with pytest.raises(ValueError, match="PCA rate"):
        from graphaug.contrastive import build_transform
        build_transform("pca", 0.5)
    assert MethodConfig("deepaug", transform="pca", rate=-1, target=3).label() == \
        "deepaug pca:-1@3"


def test_method_config_with_method_resets_only_what_graphcl_ignores():
    cfg = MethodConfig("deepaug", transform="pca", rate=-1, target=3, apply_prob=1.0,
                       stop_grad=False, epochs=7, hidden=16, input_aug="dnodes")
    graphcl = cfg.with_method("graphcl")
    # the deep-aug fields are back at their defaults, everything else is kept
    assert graphcl == MethodConfig("graphcl", epochs=7, hidden=16, input_aug="dnodes")
    assert graphcl.to_dict() == cfg.with_method("deepaug").with_method("graphcl").to_dict()
    both = cfg.with_method("graphcl+deepaug")
    assert (both.method, both.transform, both.rate, both.target) == \
        ("graphcl+deepaug", "pca", -1, 3)
    assert cfg.method == "deepaug"  # a copy: the original is unchanged
    with pytest.raises(ValueError, match="unknown method"):
        cfg.with_method("simclr")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"a": 1})

    class Boom:
        pass
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": Boom()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_atomic_write_leaves_the_permissions_of_a_plain_write(tmp_path, monkeypatch):
    import stat

    import graphaug.utils

    monkeypatch.setattr(graphaug.utils, "_UMASK", 0o022)  # read once at import
    fresh = atomic_write_json(tmp_path / "new.json", {"a": 1})
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o640)
    atomic_write_json(kept, {"a": 2})
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not mkstemp's private 0o600
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640  # a replaced file keeps its mode


class _DropFirstNodeEdges:
    """A deterministic input view: removes every edge touching each graph's first node."""

    __name__ = "drop_first_edges"

    def __call__(self, batch):
        out = batch.clone()
        first = batch.ptr[:-1]
        keep = ~(torch.isin(batch.edge_index[0], first) | torch.isin(batch.edge_index[1], first))
        out.edge_index = batch.edge_index[:, keep]
        return out


@pytest.mark.parametrize("target", [0, 2, 4])
def test_bn_per_view_equals_one_forward_per_view(mutag_batch, target):
    """bn_per_view = the official code's two encoder calls (per-view BatchNorm statistics and
    running statistics), on the stacked path and on the shared trunk."""
    from graphaug.contrastive.losses import graphcl_nt_xent
    from graphaug.nn.pyg import encode_batch
    batch = mutag_batch.clone()
    batch.x = batch.x.double()
    results, stats = [], []
    for mode in ("official", "stacked", "trunk"):
        torch.manual_seed(0)
        enc = GraphCLEncoder(7, hidden=16, num_layers=3).double().train()
        view = _DropFirstNodeEdges() if mode != "trunk" else None
        if mode == "official":
            loss = graphcl_nt_xent(encode_batch(enc, batch, project=True),
                                   encode_batch(enc, view(batch), project=True), 0.2)
            model = enc
        else:
            model = GraphCL(enc, None if mode != "trunk" else DeepAug(target, ga.ActivationPCA(
                k=1, apply_prob=0.0)), view, bn_per_view=True).train()
            loss = model(batch)
        loss.backward()
        results.append((loss.detach(), {k.replace("encoder.", ""): v
                                        for k, v in grads(model).items()}))
        stats.append(torch.cat([bn.running_mean for bn in enc.bns]))
    assert_same_loss_and_grads(results[0], results[1])
    assert torch.allclose(stats[0], stats[1])
    # shared trunk (views identical: apply_prob 0) = official with two identical views
    torch.manual_seed(0)
    enc = GraphCLEncoder(7, hidden=16, num_layers=3).double().train()
    loss = graphcl_nt_xent(encode_batch(enc, batch, project=True),
                           encode_batch(enc, batch, project=True), 0.2)
    loss.backward()
    official = (loss.detach(), grads(enc))
    assert_same_loss_and_grads(official, results[2])
    assert torch.allclose(torch.cat([bn.running_mean for bn in enc.bns]), stats[2])
    with pytest.raises(ValueError, match="graphaug encoder"):
        GraphCL(UserGIN(), None, "dnodes", bn_per_view=True)


# -- GraphCL's settings, each against a computation of its own --------------------------------
@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_graphcl_loss_is_nt_xent_at_its_temperature(mutag_batch, temperature):
    """The model's loss = the hand-written NT-Xent loop at the model's temperature, on the
    model's own projections (a deterministic view: both computations see the same z), for a
    GraphCL built directly and for one built from a MethodConfig."""
    batch = mutag_batch.clone()
    batch.x = batch.x.double()
    torch.manual_seed(0)
    direct = GraphCL(GraphCLEncoder(7, hidden=16).double(), None, _DropFirstNodeEdges(),
                     temperature=temperature).train()
    z1, z2 = direct.views(batch)
    assert torch.allclose(direct(batch), loop_graphcl(z1, z2, temperature))
    gen = torch.Generator()
    from graphaug.contrastive import build_model
    built = build_model(MethodConfig(input_aug="dnodes", hidden=16, temperature=temperature),
                        7, generator=gen).double().train()
    gen.manual_seed(5)
    z1, z2 = built.views(batch)
    gen.manual_seed(5)  # the same node drops again
    assert torch.allclose(built(batch), loop_graphcl(z1, z2, temperature))


def test_augment_both_makes_view_one_an_augmentation(mutag_batch):
    """augment_both=False: view 1 is the batch itself, view 2 its augmentation; True: both
    views are augmentations (GraphCL chemistry). Checked against the encoder run by hand on
    the two stacked views."""
    from graphaug.contrastive import concat_batches
    from graphaug.nn.pyg import encode_batch
    batch = mutag_batch.clone()
    batch.x = batch.x.double()
    view = _DropFirstNodeEdges()
    n = int(batch.num_graphs)
    for both in (False, True):
        torch.manual_seed(0)
        enc = GraphCLEncoder(7, hidden=16).double().train()
        z1, z2 = GraphCL(enc, None, view, augment_both=both).views(batch)
        first = view(batch) if both else batch
        expected = encode_batch(enc, concat_batches(first, view(batch)), project=True)
        assert torch.allclose(z1, expected[:n]) and torch.allclose(z2, expected[n:])
        assert torch.allclose(z1, z2) == both  # the same deterministic view on both sides


def _encoder_inputs(model, batch):
    """The node features the encoder receives in one forward of ``model`` (both views)."""
    seen = []
    hook = model.encoder.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        model.train()(batch)
    finally:
        hook.remove()
    return seen[0]


@pytest.mark.parametrize("input_aug", ["dnodes", "subgraph", "mask_nodes"])
@pytest.mark.parametrize("both", [False, True])
def test_chemistry_views_follow_the_config(mutag, input_aug, both):
    """GraphCL's chemistry preset (aug ratio 0.2, subgraph keeping 1 - 0.2, augment_both) on
    the molecule encoder: the encoder sees exactly the node counts the settings imply, counted
    here per graph: dnodes keeps n - int(0.2 n), subgraph max(1, int(0.8 n)) (MUTAG's graphs
    are connected), mask_nodes overwrites int(0.2 n) atoms with OGB's mask token."""
    pytest.importorskip("ogb")
    from torch_geometric.loader import DataLoader
    from graphaug.contrastive import build_model
    from graphaug.nn.mol import atom_mask_token
    batch = next(iter(DataLoader(as_molecules(mutag.graphs[:24]), batch_size=24)))
    sizes = torch.bincount(batch.batch).double()
    cfg = MethodConfig("graphcl", encoder="mol", hidden=8, num_layers=2, input_aug=input_aug,
                       aug_ratio=0.2, subgraph_keep=0.8, augment_both=both, temperature=0.1)
    x = _encoder_inputs(build_model(cfg, 0, torch.Generator().manual_seed(0)), batch)
    augmented = {"dnodes": sizes - (sizes * 0.2).long(),
                 "subgraph": (sizes * 0.8).long().clamp_min(1),
                 "mask_nodes": sizes}[input_aug]
    first = augmented if both else sizes
    assert x.size(0) == int(first.sum() + augmented.sum())
    if input_aug == "mask_nodes":
        masked = int((x == atom_mask_token()).all(dim=1).sum())
        per_view = int((sizes * 0.2).long().sum())
        assert masked == per_view * (2 if both else 1)
