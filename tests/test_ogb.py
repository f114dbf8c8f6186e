import numpy as np
import pytest

pytest.importorskip("ogb")

from conftest import (SHARED, assert_same_loss_and_grads, copy_dataset,  # noqa: E402
                      load_benchmark)
from graphaug.data import find_ogb_root, load_ogb  # noqa: E402
from graphaug.evaluate import ogb_score  # noqa: E402


@pytest.fixture(scope="module")
def bace(tmp_path_factory):
    root = copy_dataset(tmp_path_factory.mktemp("ogb"), "ogb", "ogbg_molbace")
    return load_ogb("ogbg-molbace", root)


def test_loads_offline_with_official_split(bace):
    dataset, split = bace
    assert len(dataset) == 1513
    assert [len(split[k]) for k in ("train", "valid", "test")] == [1210, 151, 152]
    g = dataset[0]
    assert g.x.dtype.is_floating_point is False and g.x.size(1) == 9  # OGB atom features
    assert g.edge_attr.size(1) == 3


def test_evaluator_wiring(bace):
    dataset, split = bace
    y = dataset.y[split["test"]].numpy()
    assert ogb_score("ogbg-molbace", y, y) == 1.0               # perfect predictor
    assert ogb_score("ogbg-molbace", y, np.zeros_like(y)) == 0.5  # constant predictor
    with pytest.raises(ValueError, match="differ"):
        ogb_score("ogbg-molbace", y, y[:10])


def test_missing_files_are_named(tmp_path):
    (tmp_path / "ogb" / "ogbg_molhiv" / "raw").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"RELEASE_v1.txt.*raw/edge.csv.gz"):
        find_ogb_root("ogbg-molhiv", tmp_path)


# --- molecule encoder, linear probe, fine-tuning, benchmark -------------------------------

import json  # noqa: E402

import torch  # noqa: E402
from torch_geometric.loader import DataLoader  # noqa: E402

import graphaug as ga  # noqa: E402
from graphaug.contrastive import DeepAug, GraphCL, MethodConfig, build_model, pretrain  # noqa: E402
from graphaug.evaluate import finetune, linear_probe, masked_task_loss  # noqa: E402
from graphaug.nn import MolGINEncoder, encode_batch  # noqa: E402
from graphaug.nn.mol import atom_mask_token  # noqa: E402


@pytest.fixture(scope="module")
def bace_batch(bace):
    dataset, split = bace
    return next(iter(DataLoader(dataset[split["train"][:24]], batch_size=24)))


@pytest.fixture(scope="module")
def tox21(tmp_path_factory):
    root = copy_dataset(tmp_path_factory.mktemp("ogb"), "ogb", "ogbg_moltox21")
    return load_ogb("ogbg-moltox21", root)


def test_mol_encoder_shapes_targets_and_errors(bace_batch):
    enc = MolGINEncoder(hidden=16, num_layers=3).train()
    assert enc.num_targets == 5 and enc.out_channels == 16
    assert encode_batch(enc, bace_batch).shape == (24, 16)
    assert encode_batch(enc, bace_batch, project=True, duplicate_at=2).shape == (48, 16)
    seen = {}
    for tap in enc.taps:
        tap.register_forward_hook(lambda m, a, out, i=tap.index: seen.__setitem__(i, out.shape))
    encode_batch(enc, bace_batch, project=True)
    n = bace_batch.num_nodes
    assert seen == {0: (n, 16), 1: (n, 16), 2: (n, 16), 3: (n, 16), 4: (24, 16)}
    with pytest.raises(ValueError, match="edge_attr"):
        enc(bace_batch.x, bace_batch.edge_index, bace_batch.batch)
    with pytest.raises(ValueError, match="integer atom features"):
        enc(bace_batch.x.float(), bace_batch.edge_index, bace_batch.batch,
            edge_attr=bace_batch.edge_attr)
    with pytest.raises(ValueError, match="out of range"):
        ga.attach(enc, 5, ga.ActivationDropout(0.1))


def test_mol_readout_is_mean_of_last_layer(bace_batch):
    enc = MolGINEncoder(hidden=8, num_layers=2).eval()
    last = {}
    enc.taps[2].register_forward_hook(lambda m, a, out: last.__setitem__("h", out))
    z = encode_batch(enc, bace_batch)
    h, b = last["h"], bace_batch.batch
    expected = torch.stack([h[b == g].mean(0) for g in range(bace_batch.num_graphs)])
    assert torch.allclose(z, expected, atol=1e-5)


@pytest.mark.parametrize("target", [1, 2, 4])
def test_mol_shared_trunk_gives_two_pass_gradients(bace_batch, target):
    results = []
    for share in (True, False):
        torch.manual_seed(0)
        enc = MolGINEncoder(hidden=16, num_layers=3).double()
        deep = DeepAug(target, ga.ActivationDropout(0.25, generator=torch.Generator()
                                                    .manual_seed(1)))
        model = GraphCL(enc, deep, input_aug=None, share_trunk=share, temperature=0.1).train()
        loss = model(bace_batch)
        loss.backward()
        results.append((loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()
                                         if p.grad is not None}))
    assert_same_loss_and_grads(*results)


def test_mol_pretraining_chemistry_views(bace):
    dataset, split = bace
    graphs = [dataset[int(i)] for i in split["train"][:96]]
    cfg = MethodConfig("graphcl+deepaug", encoder="mol", hidden=16, num_layers=3, epochs=2,
                       batch_size=32, lr=1e-3, temperature=0.1, aug_ratio=0.2,
                       augment_both=True, subgraph_keep=0.8, target=2)
    seen = []
    encoder, history = pretrain(graphs, 0, cfg, seed=0,
                                on_epoch_end=lambda e, loss, enc: seen.append((e, enc)))
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(history)))
    assert [e for e, _ in seen] == [0, 1] and seen[-1][1] is encoder
    masked = build_model(MethodConfig("graphcl", encoder="mol", hidden=8, num_layers=2,
                                      input_aug="mask_nodes", aug_ratio=0.5), 0)
    batch = next(iter(DataLoader(graphs[:8], batch_size=8)))
    view = masked.input_aug(batch)
    changed = (view.x != batch.x).any(dim=1)
    assert changed.any() and torch.equal(view.x[changed][0], atom_mask_token())
    assert torch.isfinite(masked(batch))
    with pytest.raises(ValueError, match="conv must be 'gin'"):
        MethodConfig(encoder="mol", conv="gcn")


def test_masked_task_loss_ignores_missing_labels():
    pred = torch.tensor([[0.3, -1.0], [2.0, 0.5]], requires_grad=True)
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.stack([pred[0, 0], pred[1, 0], pred[1, 1]]), torch.tensor([1.0, 0.0, 1.0]))
    assert torch.allclose(masked_task_loss(pred, y, regression=False), expected)
    empty = masked_task_loss(pred, torch.full((2, 2), float("nan")), regression=False)
    empty.backward()
    assert empty.item() == 0.0 and torch.equal(pred.grad, torch.zeros(2, 2))


def test_linear_probe_multitask_with_missing_labels_and_regression():
    gen = torch.Generator().manual_seed(0)
    n = {"train": 200, "valid": 60, "test": 60}
    y = {k: torch.randint(0, 2, (m, 12), generator=gen).double().numpy() for k, m in n.items()}
    x = {k: v + 0.05 * torch.randn(v.shape, generator=gen).double().numpy() for k, v in y.items()}
    for k in y:  # ~30 % missing labels, as in Tox21
        y[k][torch.rand(y[k].shape, generator=gen).numpy() < 0.3] = np.nan
    result = linear_probe("ogbg-moltox21", x, y)
    assert result["metric"] == "rocauc" and result["test"] > 0.99
    assert result["valid"] == max(r["valid"] for r in result["per_C"])
    noise = {k: torch.randn(v.shape, generator=gen).double().numpy() for k, v in x.items()}
    assert linear_probe("ogbg-moltox21", noise, y)["test"] < 0.65
    target = {k: v[:, :1] * 3.0 - 1.0 for k, v in x.items()}  # exact linear target
    reg = linear_probe("ogbg-molesol", x, target, c_grid=[10.0, 1e3])
    assert reg["metric"] == "rmse" and reg["test"] < 0.05
    with pytest.raises(ValueError, match="finite"):
        linear_probe("ogbg-molesol", {**x, "test": x["test"] * np.nan}, target)


def test_finetune_selects_on_validation_with_missing_labels(tox21):
    dataset, split = tox21
    parts = {k: [dataset[int(i)] for i in split[k][:m]]
             for k, m in (("train", 300), ("valid", 150), ("test", 150))}
    enc = MolGINEncoder(hidden=16, num_layers=2)
    ga.GraphCL(enc, ga.DeepAug(1, ga.ActivationDropout(0.5)), input_aug=None)
    result = finetune("ogbg-moltox21", enc, parts, epochs=3, batch_size=64, seed=0)
    # deep aug is pretraining-only: GraphCL attaches per forward, the encoder carries no hook
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in enc.modules())
    assert enc.dropout == 0.5
    best = max(result["curve"], key=lambda r: r["valid"])
    assert (result["epoch"], result["test"]) == (best["epoch"], best["test"])
    assert len(result["curve"]) == 3 and 0.0 <= result["test"] <= 1.0
    early = finetune("ogbg-moltox21", MolGINEncoder(hidden=16, num_layers=2), parts, epochs=10,
                     batch_size=64, patience=1)
    assert len(early["curve"]) <= 10 and early["curve"][-1]["epoch"] - early["epoch"] <= 1


def test_ogb_benchmark_runs_and_resumes(tmp_path, run_cache, capsys):
    root = copy_dataset(tmp_path / "data", "ogb", "ogbg_molfreesolv")
    bench = load_benchmark("ogb")
    argv = ["--root", str(root), "--datasets", "ogbg-molfreesolv", "--methods", "none",
            "deepaug", "--seeds", "0", "--hidden", "8", "--layers", "2", "--epochs", "2",
            "--probe-every", "1", "--ft-epochs", "2", "--ft-batch-size", "64",
            "--deepaug", "dropout:0.25@1", "pca:-1@2", "--speed-batches", "1",
            "--speed-repeats", "1", "--workers", "2", "--out", str(tmp_path / "out")]
    report = bench.main(argv)
    entry = report["datasets"]["ogbg-molfreesolv"]
    assert entry["metric"] == "rmse" and set(entry["methods"]) == {"none", "deepaug"}
    sweep = entry["selection"]["sweep"]
    assert tuple(entry["selection"]["best"]) == tuple(min(sweep, key=lambda s: s["valid"])
                                                      ["deepaug"])
    assert set(entry["throughput"]) == {"plain two-view (floor)", "graphcl", "deepaug",
                                        "graphcl+deepaug"}
    assert (tmp_path / "out" / "results.md").read_text().count("ogbg-molfreesolv") >= 2
    runs = sorted((run_cache / "ogb" / "runs").rglob("seed0.json"))
    first = [json.loads(p.read_text()) for p in runs]
    assert all(r["probe"]["epoch"] in (0, 1, 2) for r in first)
    assert not list(run_cache.rglob("*.pt"))  # checkpoints removed after each run
    again = bench.main(argv)  # cached runs are read back, not re-run
    assert again["datasets"]["ogbg-molfreesolv"]["methods"] == entry["methods"]
    assert "read from the run cache" in (tmp_path / "out" / "results.md").read_text()
    assert (tmp_path / "out" / "runs.jsonl").is_file()
    # every fine-tuning setting is in the key: a changed one never reads an old run
    spec = bench.Runner(bench.parser().parse_args(argv)).parts_spec("ogbg-molfreesolv", "none",
                                                                    None, 0)[1]
    ft = [a.dest for a in bench.parser()._actions if a.dest.startswith("ft_")]
    assert ft and set(ft) <= set(spec["finetune"])
    capsys.readouterr()
    bench.main([*argv, "--ft-lr", "0.002", "--methods", "none"])
    assert "read from the run cache" not in (tmp_path / "out" / "results.md").read_text()
    assert "ogbg-molfreesolv seed 0 none" in capsys.readouterr().out  # computed again
    assert (root / "ogb" / "ogbg_molfreesolv" / "processed").is_dir()  # cache in the copy
    assert not (SHARED / "ogb" / "ogbg_molfreesolv" / "processed").exists()
