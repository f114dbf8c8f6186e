"""Side by side with PyGCL (``GCL``): its GraphCL setup, then the same with Deep Augmentation.

PyGCL is a peer for comparisons, never a dependency: this module skips where it is not
installed (see ../shared/peer/README.md for the peer environment). The model mirrors PyGCL's
GraphCL example as graphaug.experiments.speed writes it out for its speed comparison: a user
``GConv`` (GIN layers, each followed by ReLU and a BatchNorm, sum readout of every layer), an
``Encoder`` wrapping it with a pair of PyGCL augmentors that calls the GConv once per view, and
``DualBranchContrast(InfoNCE(tau=0.2), mode="G2G")``. Deep Augmentation is added to that
unchanged code with one ``ga.attach`` line.

PyGCL's ``RWSampling`` is left out of the view augmentors: on this stack it crashes the
interpreter (``torch_sparse``'s random walk needs ``torch_cluster``, which has no build here).
"""
from __future__ import annotations

import importlib.util

import pytest
import torch
from conftest import load_benchmark

import graphaug  # noqa: F401  (installs the import hook that lets PyGCL's `import dgl` work)

if importlib.util.find_spec("GCL") is None:  # not pytest.importorskip: a broken import must fail
    pytest.skip("PyGCL (GCL) is not installed; it is a peer for comparisons only",
                allow_module_level=True)

import GCL.augmentors as A  # noqa: E402
from torch_geometric.data import Data  # noqa: E402
from torch_geometric.loader import DataLoader  # noqa: E402
from torch_geometric.utils import to_undirected  # noqa: E402

IN_DIM, HIDDEN, NUM_LAYERS = 3, 16, 3


# -- PyGCL's GraphCL example, as graphaug.experiments.speed writes it out ---------------------------
def build(augmentor=None):
    """``(encoder_model, contrast_model)``: the example's GConv (GIN layers, each followed by
    ReLU and a BatchNorm; ``project`` is its head) inside its view ``Encoder``."""
    return load_benchmark("speed").pygcl_graphcl(IN_DIM, HIDDEN, NUM_LAYERS, views=augmentor)


def small_graphs(count: int = 8, seed: int = 0) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(count):
        n = int(torch.randint(5, 10, (1,), generator=gen))
        ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])  # connected
        extra = torch.randint(0, n, (2, n), generator=gen)
        extra = extra[:, extra[0] != extra[1]]
        edge_index = to_undirected(torch.cat([ring, extra], dim=1), num_nodes=n)
        graphs.append(Data(x=torch.randn(n, IN_DIM, generator=gen), edge_index=edge_index))
    return graphs


def one_batch():
    batch = next(iter(DataLoader(small_graphs(), batch_size=8, shuffle=False)))
    assert batch.num_graphs == 8
    return batch


def train_step(encoder_model, contrast_model, data):
    """One optimisation step of PyGCL's GraphCL loop; returns the loss and the gradients."""
    optimizer = torch.optim.Adam(encoder_model.parameters(), lr=0.01)
    encoder_model.train()
    optimizer.zero_grad()
    _, _, _, _, g1, g2 = encoder_model(data.x, data.edge_index, data.batch)
    g1, g2 = [encoder_model.encoder.project(g) for g in (g1, g2)]
    loss = contrast_model(g1=g1, g2=g2, batch=data.batch)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in encoder_model.named_parameters()
             if p.grad is not None}
    optimizer.step()
    return loss.detach(), grads


def assert_trained(encoder_model, loss, grads):
    assert torch.isfinite(loss), loss
    layer_params = [n for n, _ in encoder_model.named_parameters() if ".layers." in n]
    assert layer_params and all(n in grads for n in layer_params), sorted(grads)
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if ".layers.0." in n)


def layer_slice(z: torch.Tensor, layer: int) -> torch.Tensor:
    """Columns of GConv's node output that hold layer ``layer`` (1-based)."""
    return z[:, (layer - 1) * HIDDEN:layer * HIDDEN]


# -- tests ------------------------------------------------------------------------------------
def test_pygcl_graphcl_step():
    torch.manual_seed(0)
    data = one_batch()
    encoder_model, contrast_model = build()
    loss, grads = train_step(encoder_model, contrast_model, data)
    assert_trained(encoder_model, loss, grads)


def test_pygcl_graphcl_step_with_deep_augmentation():
    torch.manual_seed(0)
    data = one_batch()
    encoder_model, contrast_model = build()

    import graphaug as ga
    handle = ga.attach(encoder_model, 2, ga.ActivationDropout(0.25))

    loss, grads = train_step(encoder_model, contrast_model, data)
    assert_trained(encoder_model, loss, grads)
    handle.remove()


def test_deep_augmentation_changes_every_graph_at_layer_2_and_eval_is_a_no_op():
    import graphaug as ga

    torch.manual_seed(0)
    data = one_batch()
    # Identity views: the three GConv calls see the same graph, so every difference below
    # comes from Deep Augmentation.
    encoder_model, _ = build(augmentor=(A.Identity(), A.Identity()))
    args = (data.x, data.edge_index, data.batch)

    encoder_model.train()
    with torch.no_grad():
        plain = encoder_model(*args)
    handle = ga.attach(encoder_model, 2, ga.ActivationDropout(0.5, apply_prob=1.0))
    with torch.no_grad():
        augmented = encoder_model(*args)
    for index in (0, 2, 3):  # node outputs z, z1, z2 of the three GConv calls
        z_plain, z_aug = plain[index], augmented[index]
        # layer 1 comes before the target and is untouched; layer 2 is the target
        assert torch.allclose(layer_slice(z_aug, 1), layer_slice(z_plain, 1))
        changed = (layer_slice(z_aug, 2) != layer_slice(z_plain, 2)).any(dim=1)
        per_graph = torch.zeros(data.num_graphs, dtype=torch.bool).index_put_(
            (data.batch,), changed, accumulate=True)
        assert per_graph.all(), per_graph

    encoder_model.eval()
    with torch.no_grad():
        attached_eval = encoder_model(*args)
    handle.remove()
    with torch.no_grad():
        detached_eval = encoder_model(*args)
    for a, b in zip(attached_eval, detached_eval):
        assert torch.equal(a, b)
