"""Two gloo processes on CPU against one process: same loss and gradients (float64, 1e-5).

One ``torch.multiprocessing.spawn`` of 2 ranks (free localhost port) runs every scenario and
writes its results; the tests compare them with one process on the global batch.
"""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist

import graphaug as ga
from graphaug import distributed as gad
from graphaug.contrastive import DeepAug, GraphCL, MethodConfig, pretrain
from graphaug.nn import GraphCLEncoder
from graphaug.synthetic import synthetic_graphs

WORLD, PER_RANK = 2, 8
SCENARIOS = ("graphcl", "deepaug_dropout", "deepaug_pca_exact", "deepaug_pca_lowrank",
             "graphcl+deepaug")
TOL = dict(atol=1e-5, rtol=1e-5)


def feature_view(batch):
    """A deterministic input augmentation (per graph, independent of the batch it is in):
    scale every third node's features, drop the edges whose local end indices sum to 1 mod 4."""
    out = batch.clone()
    local = torch.arange(batch.num_nodes) - batch.ptr[batch.batch]
    out.x = batch.x * (1.0 + 0.5 * (local % 3 == 0).to(batch.x.dtype)).unsqueeze(-1)
    keep = (local[batch.edge_index[0]] + local[batch.edge_index[1]]) % 4 != 1
    out.edge_index = batch.edge_index[:, keep]
    return out


def graphs(n: int = WORLD * PER_RANK):
    out = []
    for g in synthetic_graphs(max(n, 20), seed=3).graphs[:n]:
        g = g.clone()
        g.x = g.x.double()
        out.append(g)
    return out


def build(name: str) -> GraphCL:
    torch.manual_seed(0)
    encoder = gad.convert_sync_batchnorm(GraphCLEncoder(7, hidden=16, num_layers=3).double())
    gen = torch.Generator().manual_seed(1)  # the same on every rank: global draws
    transform, target = None, 2
    if name in ("deepaug_dropout", "graphcl+deepaug"):
        transform = ga.ActivationDropout(0.25, generator=gen)
        target = 1 if name == "graphcl+deepaug" else 2
    elif name == "deepaug_pca_exact":
        transform = ga.ActivationPCA(k=1, method="exact", generator=gen)
    elif name == "deepaug_pca_lowrank":
        transform = ga.ActivationPCA(k=-1, method="lowrank", generator=gen)
        transform.lowrank_solver = "sketch"  # one process runs the ranks' math
    input_aug = feature_view if name in ("graphcl", "graphcl+deepaug") else None
    return GraphCL(encoder, deep_aug=None if transform is None else DeepAug(target, transform),
                   input_aug=input_aug)


def pretrain_config() -> MethodConfig:
    return MethodConfig(method="graphcl+deepaug", transform="pca", rate=-1, target=2,
                        hidden=16, epochs=2, batch_size=8)


def step(model, batch):
    loss = model(batch)
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}


def _collate(items):
    from torch_geometric.data import Batch
    return Batch.from_data_list(items)


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {}
        data = graphs()
        shard = _collate(data[rank * PER_RANK:(rank + 1) * PER_RANK])
        for name in SCENARIOS:
            model = build(name)
            if model.transform is not None:
                gad.global_draws(model.transform, blocks=2)
            runner = model
            if name == "graphcl+deepaug":  # DDP averages the gradients itself
                runner = torch.nn.parallel.DistributedDataParallel(model)
            loss = runner(shard)
            loss.backward()
            if runner is model:
                gad.all_reduce_gradients(model)
            mean = gad.all_reduce(loss.detach().clone()) / WORLD
            results[name] = (mean, {k: p.grad.clone() for k, p in model.named_parameters()})

        # gather_with_grad: unequal parts, rank order, gradient = sum over ranks' losses.
        z = torch.full((rank + 1, 2), float(rank + 1), dtype=torch.float64, requires_grad=True)
        gathered = gad.gather_with_grad(z)
        weights = torch.arange(gathered.numel(), dtype=torch.float64).view_as(gathered)
        (gathered * weights).sum().backward()
        results["gather"] = (gathered.detach(), z.grad)

        # Synchronised PCA statistics on each rank's own rows.
        scale = torch.tensor([8.0, 6, 4, 3, 2, 1.5, 1, .5, .4, .3, .2, .1])
        rows = torch.randn(40, 12, generator=torch.Generator().manual_seed(rank)) * scale
        for method in ("exact", "lowrank"):
            pca = ga.ActivationPCA(k=1, method=method, seed=5)
            results[f"pca_{method}"] = pca.directions(rows)

        # Pretraining: sharded batches, rank-0 checkpoints, exact resume.
        import graphaug.contrastive.trainer as trainer
        writes, save = [], trainer.atomic_torch_save
        trainer.atomic_torch_save = lambda path, obj: (writes.append(str(path)), save(path, obj))
        cfg, pool = pretrain_config(), synthetic_graphs(40, seed=3).graphs
        full, full_history = pretrain(pool, 7, cfg, seed=0, checkpoint=os.path.join(out, "a.pt"))
        pretrain(pool, 7, cfg, seed=0, checkpoint=os.path.join(out, "b.pt"), stop_after=1)
        resumed, history = pretrain(pool, 7, cfg, seed=0, checkpoint=os.path.join(out, "b.pt"))
        results["pretrain"] = (full.state_dict(), list(full_history), resumed.state_dict(),
                               list(history), writes)
        torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed")
    torch.multiprocessing.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD)
    return out, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.mark.parametrize("name", SCENARIOS)
def test_two_ranks_equal_one_process(ranks, name):
    _, ranks = ranks
    model = build(name)
    loss, grads = step(model, _collate(graphs()))
    for r in range(WORLD):
        rank_loss, rank_grads = ranks[r][name]
        torch.testing.assert_close(rank_loss, loss, **TOL)
        assert rank_grads.keys() == grads.keys()
        for key in grads:
            torch.testing.assert_close(rank_grads[key], grads[key], **TOL, msg=key)


def test_gather_with_grad_order_and_gradient(ranks):
    _, ranks = ranks
    expected = torch.tensor([[1.0, 1], [2, 2], [2, 2]], dtype=torch.float64)
    weights = torch.arange(6, dtype=torch.float64).view(3, 2)
    for r in range(WORLD):
        gathered, grad = ranks[r]["gather"]
        assert torch.equal(gathered, expected)
        rows = slice(0, 1) if r == 0 else slice(1, 3)
        assert torch.equal(grad, WORLD * weights[rows])  # both ranks' losses use every row


@pytest.mark.parametrize("method", ["exact", "lowrank"])
def test_sync_pca_directions_equal_single_process(ranks, method):
    _, ranks = ranks
    scale = torch.tensor([8.0, 6, 4, 3, 2, 1.5, 1, .5, .4, .3, .2, .1])
    rows = torch.cat([torch.randn(40, 12, generator=torch.Generator().manual_seed(r)) * scale
                      for r in range(WORLD)])
    pca = ga.ActivationPCA(k=1, method=method, seed=5)
    pca.lowrank_solver = "sketch"
    mean, v = pca.directions(rows)
    for r in range(WORLD):
        rank_mean, rank_v = ranks[r][f"pca_{method}"]
        torch.testing.assert_close(rank_mean, mean, atol=1e-5, rtol=1e-5)
        # Directions up to sign: compare the projectors of each one.
        for j in range(v.size(1)):
            torch.testing.assert_close(torch.outer(rank_v[:, j], rank_v[:, j]),
                                       torch.outer(v[:, j], v[:, j]), atol=1e-4, rtol=0)
    if method == "lowrank":  # the sketch finds the leading direction of a decaying spectrum
        _, exact = ga.ActivationPCA(k=1, method="exact").directions(rows)
        assert abs(float(exact[:, 0] @ v[:, 0])) > 0.999


def test_rank0_checkpoints_and_exact_resume(ranks):
    out, ranks = ranks
    for r in range(WORLD):
        full, full_history, resumed, history, writes = ranks[r]["pretrain"]
        assert writes == ([] if r else [str(out / "a.pt")] * 2 + [str(out / "b.pt")] * 2)
        assert history == full_history and len(history) == 2
        for key in full:
            assert torch.equal(full[key], resumed[key]), key
            assert torch.equal(full[key], ranks[0]["pretrain"][0][key]), key  # ranks agree
    state = torch.load(out / "a.pt", weights_only=False)
    assert len(state["rank_rng"]) == WORLD and state["config"]["world_size"] == WORLD
    with pytest.raises(ValueError, match="world_size"):  # one process cannot resume it
        pretrain(synthetic_graphs(40, seed=3).graphs, 7, pretrain_config(), seed=0,
                 checkpoint=out / "a.pt")


def test_graphaug_scale_bounds_its_process_group_wait(monkeypatch, tmp_path, capsys):
    from graphaug.experiments import scale

    class Stop(Exception):
        pass

    seen = {}

    def init_process_group(backend, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # restored after the worker sets them
    monkeypatch.setenv("MASTER_PORT", "1")
    with pytest.raises(Stop):
        scale._worker(0, 2, 1, dict(device="cpu", timeout=42.5), str(tmp_path / "r.json"))
    assert seen["timeout"].total_seconds() == 42.5 and seen["world_size"] == 2

    def measure(name, procs, args, tmp):
        seen["measured"] = args.timeout
        raise Stop

    monkeypatch.setattr(scale, "load", lambda name, root: None)
    monkeypatch.setattr(scale, "measure", measure)
    monkeypatch.setenv("GRAPHAUG_DIST_TIMEOUT", "ten")
    with pytest.raises(SystemExit) as err:  # refused before any process starts
        scale.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")])
    assert err.value.code == 2 and "measured" not in seen
    assert "GRAPHAUG_DIST_TIMEOUT must be a finite number of seconds > 0, got 'ten'" in \
        capsys.readouterr().err
    for env, expected in (("7", 7.0), (None, gad.DEFAULT_TIMEOUT)):
        if env is None:
            monkeypatch.delenv("GRAPHAUG_DIST_TIMEOUT")
        else:
            monkeypatch.setenv("GRAPHAUG_DIST_TIMEOUT", env)
        with pytest.raises(Stop):
            scale.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")])
        assert seen["measured"] == expected


def test_scale_config_is_validated_once(monkeypatch, capsys):
    from graphaug.experiments import scale

    monkeypatch.setenv("GRAPHAUG_DIST_TIMEOUT", "9")
    cfg = scale.ScaleConfig(root="r", datasets=("NCI1", "ogbg-molhiv"), steps_mol=5)
    assert cfg.timeout == 9.0 and cfg.steps == {"NCI1": 200, "ogbg-molhiv": 5}
    assert cfg.batch_size == {"NCI1": 128, "ogbg-molhiv": 256}
    with pytest.raises(ValueError, match=r"procs \[0\]"):
        scale.ScaleConfig(root="r", procs=(0,))
    with pytest.raises(SystemExit):
        scale.main(["--root", "r", "--warmup", "-1"])
    assert "warmup must be an integer >= 0" in capsys.readouterr().err
