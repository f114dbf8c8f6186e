"""Trust under hostile input (issue 29): no code run from files, nothing deleted or waited on,
no stale data, names that cannot escape, clear errors for damaged checkpoints."""
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import copy_dataset, copy_tu_as
from graphaug.contrastive import MethodConfig, load_checkpoint, pretrain
from graphaug.data import check_dataset_name, find_ogb_root, load_ogb, load_tu
from graphaug.utils import UnreadableFileError, UnsafeFileError, safe_load

REPO = Path(__file__).resolve().parents[1]


class Planted:
    """A pickle payload that creates ``target`` when unpickled by a full (unsafe) load."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def plant(path: Path, target: Path, kind: str) -> Path:
    payload = {"model": Planted(target), "epoch": 0}
    if kind == "zip":
        torch.save(payload, path)
    else:  # a plain pickle, as torch's legacy format starts
        path.write_bytes(pickle.dumps(payload, protocol=2))
    return path


# --- no code from files --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["zip", "plain"])
def test_a_malicious_checkpoint_is_refused_without_running(kind, tmp_path):
    evil = plant(tmp_path / "evil.pt", tmp_path / "pwned", kind)
    with pytest.raises(ValueError, match=rf"checkpoint {evil} was refused: .*GLOBAL io.open"):
        load_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("kind", ["zip", "plain"])
def test_a_planted_resume_file_is_refused_and_never_run(kind, mutag, tmp_path):
    evil = plant(tmp_path / "run.pt", tmp_path / "pwned", kind)
    cfg = MethodConfig("graphcl", epochs=1, batch_size=64)
    with pytest.raises(ValueError, match=rf"checkpoint {evil} was refused: .*GLOBAL io.open"):
        pretrain(mutag.graphs[:40], 7, cfg, seed=0, checkpoint=evil)
    assert not (tmp_path / "pwned").exists() and evil.exists()


def test_safe_load_names_unsafe_and_unreadable_files(tmp_path):
    evil = plant(tmp_path / "evil.pt", tmp_path / "pwned", "zip")
    with pytest.raises(UnsafeFileError, match=rf"weights file {evil} was refused: .*GLOBAL"):
        safe_load(evil, what="weights file")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01h\x65" + bytes(range(60)))
    with pytest.raises(UnreadableFileError, match=rf"file {garbage} is not a readable torch"):
        safe_load(garbage)
    assert not (tmp_path / "pwned").exists()


def test_a_malicious_processed_tu_file_is_refused(tmp_path):
    root = copy_tu_as(tmp_path, "MUTAG", "MINE")
    load_tu("MINE", root)
    processed = root / "TU" / "MINE" / "processed" / "data.pt"
    plant(processed, tmp_path / "pwned", "zip")
    for name in ("pre_transform.pt", "pre_filter.pt"):  # PyG unpickles these in full
        plant(processed.with_name(name), tmp_path / "pwned", "zip")
    with pytest.raises(ValueError, match=rf"processed TU dataset {processed} was refused"):
        load_tu("MINE", root)
    assert not (tmp_path / "pwned").exists()


def test_a_malicious_processed_ogb_file_is_refused(tmp_path):
    pytest.importorskip("ogb")
    root = copy_dataset(tmp_path, "ogb", "ogbg_molfreesolv")
    load_ogb("ogbg-molfreesolv", root, download=False)
    processed = root / "ogb" / "ogbg_molfreesolv" / "processed" / "geometric_data_processed.pt"
    plant(processed, tmp_path / "pwned", "zip")
    split_dict = root / "ogb" / "ogbg_molfreesolv" / "split" / "scaffold" / "split_dict.pt"
    plant(split_dict, tmp_path / "pwned", "zip")  # OGB would torch.load it
    with pytest.raises(ValueError, match=rf"processed OGB dataset {processed} was refused"):
        load_ogb("ogbg-molfreesolv", root, download=False)
    assert not (tmp_path / "pwned").exists()
    processed.unlink()  # rebuilt; the split still comes from the CSV files, not split_dict.pt
    _, split = load_ogb("ogbg-molfreesolv", root, download=False)
    assert len(split["train"]) == 513 and not (tmp_path / "pwned").exists()


def test_ogb_loading_patches_nothing_process_wide(tmp_path, monkeypatch):
    pytest.importorskip("ogb")
    root = copy_dataset(tmp_path, "ogb", "ogbg_molfreesolv")
    seen = []
    original = torch.load

    def spy(*args, **kwargs):
        seen.append((torch.load is spy, kwargs.get("weights_only")))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_ogb("ogbg-molfreesolv", root, download=False)
    load_ogb("ogbg-molfreesolv", root, download=False)
    assert seen and all(still and weights_only is True for still, weights_only in seen)


# --- nothing deleted, nothing asked ---------------------------------------------------------

def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_ogb_folder_without_its_release_is_an_error_not_a_prompt(tmp_path):
    pytest.importorskip("ogb")
    roots, folders = [], []
    for case in ("missing", "other"):  # no release file; an unknown release
        root = copy_dataset(tmp_path / case, "ogb", "ogbg_molfreesolv")
        load_ogb("ogbg-molfreesolv", root, download=False)  # processed/ now exists
        folder = root / "ogb" / "ogbg_molfreesolv"
        (folder / "RELEASE_v1.txt").unlink()
        if case == "other":
            (folder / "RELEASE_v2.txt").write_text("a later release\n")
        roots.append(str(root))
        folders.append(folder)
    before = [tree(f) for f in folders]
    script = ("import sys, graphaug.data as d\n"
              "for root in sys.argv[1:]:\n"
              "    try:\n"
              "        d.load_ogb('ogbg-molfreesolv', root, download=False)\n"
              "    except Exception as e:\n"
              "        print(type(e).__name__ + ':', e)\n")
    done = subprocess.run([sys.executable, "-c", script, *roots], input="y\ny\n", text=True,
                          capture_output=True, timeout=300,  # "y" on stdin: never read
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 2, done.stdout + done.stderr[-2000:]
    assert re.match(r"FileNotFoundError: .*missing RELEASE_v1.txt under .*ogbg_molfreesolv",
                    lines[0]), lines[0]
    assert re.match(r"ValueError: .*ogbg_molfreesolv holds RELEASE_v2.txt.*expects "
                    r"RELEASE_v1.txt", lines[1]), lines[1]
    assert "Will you update" not in done.stdout + done.stderr
    assert [tree(f) for f in folders] == before  # nothing removed


# --- processed data follow the raw files' content -------------------------------------------

def test_an_edit_keeping_size_and_mtime_rebuilds_the_cache(tmp_path):
    root = copy_tu_as(tmp_path, "MUTAG", "MINE")
    assert load_tu("MINE", root).labels.sum() == 125
    labels = root / "TU" / "MINE" / "raw" / "MINE_graph_labels.txt"
    stat = labels.stat()
    rows = labels.read_text().split("\n")
    flips = [i for i, row in enumerate(rows) if row == "-1"][:5]
    for i in flips:
        rows[i] = " 1"  # the same length: the file keeps its size
    labels.write_text("\n".join(rows))
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and its mtime
    assert labels.stat().st_size == stat.st_size and labels.stat().st_mtime_ns == stat.st_mtime_ns
    assert load_tu("MINE", root).labels.sum() == 125 + len(flips)


# --- checksums of the published datasets ----------------------------------------------------

def test_an_edited_published_file_is_named(tmp_path):
    root = copy_dataset(tmp_path, "TU", "MUTAG")
    labels = root / "TU" / "MUTAG" / "raw" / "MUTAG_graph_labels.txt"
    labels.write_text(labels.read_text().replace("-1", " 1", 1))  # valid, same size
    with pytest.raises(ValueError, match=rf"{labels} is not the published TU/MUTAG file: it has "
                                         r"the right size but other content"):
        load_tu("MUTAG", root)


def test_a_truncated_published_ogb_file_is_named(tmp_path):
    pytest.importorskip("ogb")
    root = copy_dataset(tmp_path, "ogb", "ogbg_molfreesolv")
    split = root / "ogb" / "ogbg_molfreesolv" / "split" / "scaffold" / "test.csv.gz"
    split.write_bytes(split.read_bytes()[:-10])
    with pytest.raises(ValueError, match=rf"{split} is not the published ogb/ogbg-molfreesolv "
                                         r"file: it has \d+ bytes instead of \d+"):
        load_ogb("ogbg-molfreesolv", root, download=False)


# --- names that cannot escape ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../escape/deep", "a/b", "..", "MUTAG/..", "", " MUTAG",
                                  "x\\y", ".hidden", None])
def test_dataset_names_are_plain(name, tmp_path):
    with pytest.raises(ValueError, match="not a plain dataset name"):
        check_dataset_name(name)
    with pytest.raises(ValueError, match="not a plain dataset name"):
        load_tu(name, tmp_path / "root")
    with pytest.raises(ValueError, match="not a plain dataset name"):
        find_ogb_root(name, tmp_path / "root")
    assert not (tmp_path / "root").exists() and not (tmp_path / "escape").exists()


def test_plain_names_pass():
    for name in ("MUTAG", "REDDIT-BINARY", "PTC_MR", "ogbg-molhiv", "Tox21_AhR_training"):
        assert check_dataset_name(name) == name


# --- checkpoints validated against their run ------------------------------------------------

@pytest.fixture(scope="module")
def run_checkpoint(mutag, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("ckpt") / "run.pt"
    cfg = MethodConfig("graphcl", epochs=2, batch_size=64)
    pretrain(mutag.graphs[:64], 7, cfg, seed=0, checkpoint=ckpt, stop_after=1)
    return ckpt, cfg


def edited(source: Path, target: Path, edit) -> Path:
    state = safe_load(source)
    edit(state)
    torch.save(state, target)
    return target


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(model={}), r"model field is not a non-empty state_dict"),
    (lambda s: s.pop("rng"), r"lacks the field\(s\) rng"),
    (lambda s: s.pop("optimizer"), r"lacks the field\(s\) optimizer"),
    (lambda s: s.update(epoch=69), r"epoch field is 69, outside 0 \.\. 2"),
    (lambda s: s.update(epoch=-1), r"epoch field is -1, outside 0 \.\. 2"),
    (lambda s: s.update(epoch=2), r"history field must list one float loss per finished epoch"),
    (lambda s: s["rng"].pop("numpy"), r"rng field must be a dict with python, numpy"),
])
def test_half_valid_checkpoints_are_named(run_checkpoint, tmp_path, mutag, edit, message):
    source, cfg = run_checkpoint
    bad = edited(source, tmp_path / "bad.pt", edit)
    with pytest.raises(ValueError, match=rf"checkpoint {bad} is not a valid graphaug training "
                                         rf"checkpoint: .*{message}"):
        load_checkpoint(bad)
    with pytest.raises(ValueError, match=rf"checkpoint {bad} is not a valid .*{message}"):
        pretrain(mutag.graphs[:64], 7, cfg, seed=0, checkpoint=bad)


def test_a_checkpoint_of_another_dataset_is_named(run_checkpoint, tmp_path, mutag):
    source, cfg = run_checkpoint
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(source.read_bytes())
    wider = [g.clone() for g in mutag.graphs[:64]]
    for g in wider:
        g.x = torch.cat([g.x, g.x[:, :2]], dim=1)  # 9 features instead of 7
    with pytest.raises(ValueError, match=rf"checkpoint {ckpt} does not fit this model \(size "
                                         r"mismatch for .*another dataset"):
        pretrain(wider, 9, cfg, seed=0, checkpoint=ckpt)


def test_garbage_checkpoint_is_named(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(64) + b"\x80\x02" + os.urandom(300))
    with pytest.raises(ValueError, match=rf"checkpoint {garbage} is (not a readable torch file|"
                                         r"empty)"):
        load_checkpoint(garbage)


def test_a_valid_checkpoint_loads(run_checkpoint):
    source, _ = run_checkpoint
    state = load_checkpoint(source, epochs=2)
    assert state["epoch"] == 1 and state["config"]["method"]["method"] == "graphcl"
    with pytest.raises(ValueError, match=rf"checkpoint {source} was written for 2 epochs, this "
                                         r"run asks for 3"):
        load_checkpoint(source, epochs=3)


# --- hostile Data lists ---------------------------------------------------------------------

def small_graphs(count: int = 12):
    from torch_geometric.data import Data
    ring = torch.tensor([[0, 1, 2, 3, 4, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 0, 1, 2, 3, 4]])
    return [Data(x=torch.randn(5, 3), edge_index=ring.clone(), y=torch.tensor([i % 2]))
            for i in range(count)]


@pytest.mark.parametrize("value", [7, -1, 5])
def test_edge_ids_outside_their_graph_are_refused_with_its_index(value):
    from graphaug.evaluate import embed_graphs
    from graphaug.nn import GraphCLEncoder
    graphs = small_graphs()
    graphs[4].edge_index[1, 2] = value
    message = (rf"graphs: graph 4 has node id {value} in edge 2 \(edge_index\[:, 2\]\), outside "
               r"0 \.\. 4 for its 5 nodes; in a batch it would link into another graph")
    with pytest.raises(ValueError, match=message):
        pretrain(graphs, 3, MethodConfig("graphcl", epochs=1, batch_size=6), seed=0)
    with pytest.raises(ValueError, match=message):
        embed_graphs(GraphCLEncoder(3), graphs)


def test_int32_edge_index_trains_as_long_without_touching_the_input():
    graphs = small_graphs()
    narrow = [g.clone() for g in graphs]
    for g in narrow:
        g.edge_index = g.edge_index.to(torch.int32)
    cfg = MethodConfig("graphcl", epochs=2, batch_size=6)
    _, wide_history = pretrain(graphs, 3, cfg, seed=0)
    _, narrow_history = pretrain(narrow, 3, cfg, seed=0)
    assert list(narrow_history) == list(wide_history)
    assert all(g.edge_index.dtype == torch.int32 for g in narrow)


def test_float_edge_index_is_refused():
    graphs = small_graphs()
    graphs[2].edge_index = graphs[2].edge_index.float()
    with pytest.raises(ValueError, match=r"graphs: graph 2 has a torch.float32 edge_index"):
        pretrain(graphs, 3, MethodConfig("graphcl", epochs=1, batch_size=6), seed=0)


# --- layers only look down (issue 30) -------------------------------------------------------

def imported_modules(path: Path, package: str) -> set[str]:
    """Every module `path` imports, anywhere in the file (lazy imports included), resolved."""
    import ast
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_transforms_know_no_process_group_and_no_graph_library():
    found = imported_modules(REPO / "graphaug" / "transforms.py", "graphaug.transforms")
    banned = ("graphaug.distributed", "torch.distributed", "torch_geometric", "dgl",
              "graphaug.contrastive", "graphaug.hooks", "graphaug.nn")
    assert not {m for m in found if m.startswith(banned)}, found
    assert "graphaug.utils.eigh_vectors" in found  # the scan sees the imports it should


def test_distributed_knows_no_loss():
    found = imported_modules(REPO / "graphaug" / "distributed.py", "graphaug.distributed")
    assert not {m for m in found if "contrastive" in m or "losses" in m}, found
    assert "graphaug.transforms" in found


def test_a_transform_uses_the_reducer_it_is_handed():
    import graphaug as ga
    from graphaug.transforms import StatsReducer

    class Doubling(StatsReducer):  # a stand-in for two identical ranks
        calls: list = []

        def is_active(self):
            return True

        def all_reduce(self, tensor, kind):
            self.calls.append(kind)
            return tensor.mul_(2)

    x = torch.randn(40, 8)
    local = ga.ActivationPCA(k=1, apply_prob=1.0, force=True)(x)
    doubled = ga.ActivationPCA(k=1, apply_prob=1.0, force=True, reducer=Doubling())(x)
    assert Doubling.calls == ["pca_stats", "pca_stats"]  # mean and covariance
    assert torch.allclose(local, doubled, atol=1e-5)  # two identical ranks: the same directions


# --- bounded waits --------------------------------------------------------------------------

def test_the_process_group_timeout_is_passed_through(monkeypatch):
    import torch.distributed as dist
    import graphaug.distributed as gad
    seen = {}
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: seen.update(kw))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("GRAPHAUG_DIST_TIMEOUT", raising=False)
    gad.init_from_env()
    assert seen["timeout"].total_seconds() == gad.DEFAULT_TIMEOUT == 600
    monkeypatch.setenv("GRAPHAUG_DIST_TIMEOUT", "42.5")
    gad.init_from_env()
    assert seen["timeout"].total_seconds() == 42.5
    gad.init_from_env(timeout=7)
    assert seen["timeout"].total_seconds() == 7
    for bad in ("inf", "nan", "-1", "0", "ten"):
        monkeypatch.setenv("GRAPHAUG_DIST_TIMEOUT", bad)
        with pytest.raises(ValueError, match=rf"GRAPHAUG_DIST_TIMEOUT must be a finite number "
                                             rf"of seconds > 0, got '{bad}'"):
            gad.init_from_env()


RANK_SCRIPT = """
import os, signal, sys, time
import torch.distributed as dist
from graphaug.distributed import init_from_env
init_from_env()
if dist.get_rank() == 1:
    os.kill(os.getpid(), signal.SIGSTOP)  # a stopped rank: never reaches the barrier
started = time.monotonic()
try:
    dist.barrier()
    print("barrier passed")
except Exception as error:
    print("failed after", round(time.monotonic() - started), type(error).__name__)
"""


def test_a_stopped_rank_ends_the_wait_after_the_timeout(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port), "WORLD_SIZE": "2", "GRAPHAUG_DIST_TIMEOUT": "4",
           "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, "-c", RANK_SCRIPT], env={**env, "RANK": str(r),
                              "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE, text=True)
             for r in range(2)]
    try:
        out, _ = ranks[0].communicate(timeout=240)  # torch's default would wait 30 minutes
    finally:
        for rank in ranks:
            rank.kill()
            rank.wait()
    match = re.search(r"failed after (\d+)", out)
    assert match, out
    assert 3 <= int(match.group(1)) < 120


# --- no leftovers ---------------------------------------------------------------------------

def test_generated_propagate_modules_do_not_pile_up_in_tmpdir(tmp_path):
    script = ("import torch\n"
              "from graphaug.nn import GraphCLEncoder\n"
              "enc = GraphCLEncoder(3, hidden=8, num_layers=2)\n"
              "x, ei = torch.randn(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]])\n"
              "enc(x, ei, torch.zeros(4, dtype=torch.long))\n"
              "import os, sys\n"
              "print(sorted(os.listdir(sys.argv[1])))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "graphaug.nn.pyg_GINConv_propagate_" in done.stdout  # generated while running
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".py")]  # gone at exit


def test_temporary_files_of_a_killed_writer_are_removed(tmp_path):
    from graphaug.utils import atomic_torch_save
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".seed0.pt.{gone}.abc123.tmp"  # what kill -9 mid-write leaves
    live = tmp_path / f".seed0.pt.{os.getpid()}.def456.tmp"  # a writer still running
    other = tmp_path / f".seed1.pt.{gone}.ghi789.tmp"  # another file's: not this write's
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    atomic_torch_save(tmp_path / "seed0.pt", {"a": torch.ones(2)})
    assert not stale.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name,
                                                                 "seed0.pt"])
    with pytest.raises(Exception):  # a write failing midway leaves no temporary file either
        atomic_torch_save(tmp_path / "r.pt", {"x": torch.ones(3), "f": lambda: 0})
    assert not list(tmp_path.glob(".r.pt.*")) and not (tmp_path / "r.pt").exists()


# --- unclear errors made clear --------------------------------------------------------------

def test_pca_wider_than_its_layer_names_k_the_width_and_the_fix():
    import graphaug as ga
    pca = ga.ActivationPCA(k=3, apply_prob=1.0, force=True)
    with pytest.raises(ValueError, match=r"ActivationPCA\(k=3, q=6\) computes 6 principal "
                                         r"directions, but the activation it transforms is only "
                                         r"4 features wide: apply it to a layer at least 6 wide "
                                         r"\(a hidden size >= 6\)"):
        pca(torch.randn(50, 4), torch.arange(50) % 5)
    with pytest.raises(ValueError, match=r"needs at least 6 rows .* got 3 rows x 16 features; "
                                         r"use larger batches"):
        pca(torch.randn(3, 16))


@pytest.mark.parametrize("kwargs, message", [
    (dict(k=float("inf")), r"k must be an integer, got inf"),
    (dict(k=float("nan")), r"k must be an integer, got nan"),
    (dict(k=1, apply_prob=float("nan")), r"apply_prob must lie in \[0, 1\], got nan"),
])
def test_non_finite_pca_arguments_name_the_value(kwargs, message):
    import graphaug as ga
    with pytest.raises(ValueError, match=message):
        ga.ActivationPCA(**kwargs)


@pytest.mark.parametrize("p", [float("nan"), float("inf"), -0.1])
def test_non_finite_dropout_rates_name_the_value(p):
    import graphaug as ga
    with pytest.raises(ValueError, match=rf"p must lie in \[0, 1\), got {p}"):
        ga.ActivationDropout(p)


@pytest.mark.parametrize("field, value, message", [
    ("lr", float("inf"), r"lr must be a finite number > 0, got inf"),
    ("lr", float("nan"), r"lr must be a finite number > 0, got nan"),
    ("lr", 0.0, r"lr must be a finite number > 0, got 0.0"),
    ("temperature", float("inf"), r"temperature must be a finite number > 0, got inf"),
    ("aug_ratio", float("nan"), r"aug_ratio must lie in \[0, 1\], got nan"),
    ("rate", float("nan"), r"rate must be finite, got nan"),
])
def test_non_finite_hyper_parameters_are_refused_before_training(field, value, message):
    with pytest.raises(ValueError, match=message):
        MethodConfig("graphcl", **{field: value})


def test_graphcl_refuses_an_infinite_temperature():
    import graphaug as ga
    from graphaug.nn import GraphCLEncoder
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got inf"):
        ga.GraphCL(GraphCLEncoder(3), input_aug="random2", temperature=float("inf"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(y=[0] * 40), r"all 40 labels are 0: a classifier needs at least 2 classes"),
    (dict(c_grid=[1.0, float("nan")]), r"c_grid must be finite numbers > 0, got \[nan\]"),
    (dict(c_grid=[]), r"c_grid must be finite numbers > 0, got \[\]"),
    (dict(seed=2 ** 32), r"seed must be an integer in \[0, 2\*\*32\) .* got 4294967296"),
    (dict(seed=2 ** 64), r"seed must be an integer in \[0, 2\*\*32\)"),
])
def test_svm_protocol_names_bad_input_before_fitting(kwargs, message):
    import numpy as np
    from graphaug.evaluate import svm_protocol
    args = dict(x=np.random.default_rng(0).normal(size=(40, 4)), y=[0, 1] * 20, folds=2,
                inner_folds=2)
    args.update(kwargs)
    args["y"] = np.asarray(args["y"])
    with pytest.raises(ValueError, match=message):
        svm_protocol(**args)


def test_a_cut_off_processed_file_is_moved_aside_and_rebuilt(tmp_path):
    from graphaug.utils import CorruptFileWarning
    root = copy_tu_as(tmp_path, "MUTAG", "MINE")
    load_tu("MINE", root)
    processed = root / "TU" / "MINE" / "processed" / "data.pt"
    cut = processed.read_bytes()[:1000]
    processed.write_bytes(cut)  # a writer killed mid-file
    with pytest.warns(CorruptFileWarning, match=rf"{processed} is unreadable"):
        assert len(load_tu("MINE", root)) == 188
    assert processed.with_name("data.pt.corrupt").read_bytes() == cut


def test_safe_load_leaves_the_process_wide_allowlist_as_it_was(tmp_path):
    import numpy as np
    torch.save({"state": np.random.get_state()}, tmp_path / "np.pt")
    before = list(torch.serialization.get_safe_globals())
    torch.serialization.add_safe_globals([np.ndarray])  # someone else's registration
    try:
        safe_load(tmp_path / "np.pt")
        after = torch.serialization.get_safe_globals()
        assert np.ndarray in after and len(after) == len(before) + 1
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(before)
    with pytest.raises(Exception):  # the numpy globals were allowed for that call only
        torch.load(tmp_path / "np.pt", weights_only=True)
