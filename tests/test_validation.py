"""Bad input gets a clear error, never a wrong answer: TU raw files, input views, activation
transforms, and the interpreter choice of scripts/setup.sh."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch, Data

import graphaug as ga
from conftest import SHARED, copy_dataset
from graphaug.data import load_tu, validate_tu_files
from graphaug.views import ViewAugmentation

REPO = Path(__file__).resolve().parents[1]


# --- TU raw files --------------------------------------------------------------------------

def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(True)


def cut_lines(n):
    return lambda text: "".join(text.splitlines(True)[:n])


def replace_line(number, new):
    def edit(text):
        rows = text.splitlines(True)
        rows[number - 1] = new
        return "".join(rows)
    return edit


CORRUPTIONS = {
    # file part, edit of its text, expected message
    "A cut at a line boundary": ("A", cut_lines(7000), r"MUTAG_A.txt, line \d+: edge .* has no "
                                 r"reverse|MUTAG_edge_labels.txt has 7442 lines"),
    "A cut mid-line": ("A", lambda t: t[:-4], r"MUTAG_A.txt, line 7442: the file does not end "
                       r"with a newline"),
    "A cut in the middle of a number": ("A", lambda t: t[:len(t) // 2], r"MUTAG_A.txt, line "
                                        r"\d+: the file does not end with a newline"),
    "graph_labels truncated": ("graph_labels", cut_lines(150), r"MUTAG_graph_labels.txt has 150 "
                               r"lines, but MUTAG_graph_indicator.txt implies 188 .*truncated"),
    "graph_labels with an extra line": ("graph_labels", lambda t: t + "1\n",
                                        r"MUTAG_graph_labels.txt has 189 lines.*extra"),
    "node_labels truncated": ("node_labels", cut_lines(3000), r"MUTAG_node_labels.txt has 3000 "
                              r"lines, but MUTAG_graph_indicator.txt implies 3371"),
    "graph_indicator truncated": ("graph_indicator", cut_lines(3300),
                                  r"MUTAG_graph_labels.txt has 188 lines, but "
                                  r"MUTAG_graph_indicator.txt implies 184 .*"
                                  r"MUTAG_graph_indicator.txt looks truncated"),
    "edge id too large": ("A", replace_line(5, "1, 99999\n"), r"MUTAG_A.txt, line 5: node id "
                          r"99999 is out of range 1..3371"),
    "edge id zero": ("A", replace_line(7, "0, 2\n"), r"MUTAG_A.txt, line 7: node id 0 is out of "
                     r"range"),
    "edge across graphs": ("A", replace_line(1, "2, 3371\n"), r"MUTAG_A.txt, line 1: edge "
                           r"\(2, 3371\) joins graph 1 and graph 188"),
    "non-numeric line": ("A", replace_line(3, "1, x\n"), r"MUTAG_A.txt, line 3 reads '1, x'"),
    "three values": ("A", replace_line(4, "1, 2, 3\n"), r"MUTAG_A.txt, line 4 reads '1, 2, 3': "
                     r"expected 2"),
    "float id": ("A", replace_line(4, "1.5, 2\n"), r"MUTAG_A.txt, line 4 reads '1.5, 2'"),
    "empty line": ("graph_indicator", replace_line(10, "\n"), r"MUTAG_graph_indicator.txt, line "
                   r"10 is empty"),
    "graph ids out of order": ("graph_indicator", replace_line(30, "5\n"),
                               r"MUTAG_graph_indicator.txt, line 31: graph id 3 after 5"),
    "graph id zero": ("graph_indicator", replace_line(1, "0\n"), r"MUTAG_graph_indicator.txt, "
                      r"line 1: graph id 0"),
    "empty file": ("graph_labels", lambda t: "", r"MUTAG_graph_labels.txt is empty"),
    "edge labels truncated": ("edge_labels", cut_lines(7441), r"MUTAG_edge_labels.txt has 7441 "
                              r"lines, but MUTAG_A.txt implies 7442"),
}


def corrupt(root: Path, part: str, edit) -> None:
    path = root / "TU" / "MUTAG" / "raw" / f"MUTAG_{part}.txt"
    path.write_text(edit(path.read_text()))


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_tu_files_name_the_file_and_line(case, tmp_path):
    part, edit, message = CORRUPTIONS[case]
    root = copy_dataset(tmp_path, "TU", "MUTAG")
    corrupt(root, part, edit)
    with pytest.raises(ValueError, match=message):
        load_tu("MUTAG", root, download=False)
    assert not (root / "TU" / "MUTAG" / "processed" / "data.pt").exists()


def test_corruption_after_processing_is_not_hidden_by_the_cache(tmp_path):
    root = copy_dataset(tmp_path, "TU", "MUTAG")
    assert len(load_tu("MUTAG", root, download=False)) == 188
    corrupt(root, "graph_labels", cut_lines(150))
    with pytest.raises(ValueError, match="MUTAG_graph_labels.txt has 150 lines"):
        load_tu("MUTAG", root, download=False)


@pytest.mark.parametrize("name", ["MUTAG", "PTC_MR", "ENZYMES", "PROTEINS", "IMDB-BINARY"])
def test_real_tu_files_pass_validation(name):
    raw = SHARED / "TU" / name / "raw"
    if not raw.is_dir():
        pytest.skip(f"{raw} not available")
    validate_tu_files(raw, name)  # reads only


def test_missing_required_file_is_named(tmp_path):
    root = copy_dataset(tmp_path, "TU", "MUTAG")
    (root / "TU" / "MUTAG" / "raw" / "MUTAG_graph_labels.txt").unlink()
    with pytest.raises(FileNotFoundError, match="MUTAG_graph_labels.txt missing"):
        validate_tu_files(root / "TU" / "MUTAG" / "raw", "MUTAG")


# --- input views ---------------------------------------------------------------------------

def ring_batch(num_graphs=6, n=12, x=True):
    graphs = []
    for i in range(num_graphs):
        ring = torch.arange(n)
        edge_index = torch.cat([torch.stack([ring, (ring + 1) % n]),
                                torch.stack([(ring + 1) % n, ring])], dim=1)
        graphs.append(Data(x=torch.randn(n, 3) if x else None, edge_index=edge_index,
                           num_nodes=n, y=torch.tensor([i % 2])))
    return Batch.from_data_list(graphs)


@pytest.mark.parametrize("bad", [-1, 72, 1000])
def test_views_reject_out_of_range_edge_ids(bad):
    b = ring_batch()
    b.edge_index[1, 5] = bad
    with pytest.raises(ValueError, match=rf"node id {bad} \(edge 5\), outside 0 .. 71"):
        ViewAugmentation("dnodes", 0.2)(b)


@pytest.mark.parametrize("name", ["dnodes", "pedges", "subgraph", "random4"])
def test_views_convert_int32_edge_index_without_touching_the_input(name):
    b = ring_batch()
    b32 = b.clone()
    b32.edge_index = b.edge_index.int()
    out = ViewAugmentation(name, 0.2, generator=torch.Generator().manual_seed(3))(b32)
    ref = ViewAugmentation(name, 0.2, generator=torch.Generator().manual_seed(3))(b)
    assert b32.edge_index.dtype == torch.int32  # input unchanged
    assert out.edge_index.dtype == torch.long and torch.equal(out.edge_index, ref.edge_index)
    assert torch.equal(out.x, ref.x) and torch.equal(out.batch, ref.batch)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_views_reject_non_integer_edge_index(dtype):
    b = ring_batch()
    b.edge_index = b.edge_index.to(dtype)
    with pytest.raises(TypeError, match="edge_index must hold integer node ids"):
        ViewAugmentation("pedges")(b)


def test_views_reject_bad_shapes():
    b = ring_batch()
    b.edge_index = b.edge_index[0]
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        ViewAugmentation("pedges")(b)


def test_views_reject_edge_attr_of_other_edges():
    b = ring_batch()
    b.edge_attr = torch.randn(b.edge_index.size(1) - 3, 2)
    with pytest.raises(ValueError, match=r"edge_attr has 141 rows for 144 edges"):
        ViewAugmentation("pedges")(b)


@pytest.mark.parametrize("name", ["dnodes", "pedges", "subgraph", "random2", "random3"])
def test_views_without_features_give_correct_views(name):
    b = ring_batch(x=False)
    out = ViewAugmentation(name, 0.25, generator=torch.Generator().manual_seed(0))(b)
    assert out.x is None and out.num_graphs == 6
    assert out.num_nodes == out.batch.numel() and int(out.edge_index.max()) < out.num_nodes
    src, dst = out.edge_index
    assert (out.batch[src] == out.batch[dst]).all()


@pytest.mark.parametrize("name", ["mask_nodes", "random4"])
def test_masking_views_without_features_raise_at_the_entry(name):
    with pytest.raises(ValueError, match=r"x=None.*dnodes, pedges, subgraph"):
        ViewAugmentation(name)(ring_batch(x=False))


# --- activation transforms -----------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(k=1.5), dict(q=6.5), dict(k=True), dict(k="1"),
                                    dict(niter=2.5), dict(k=float("nan"))])
def test_pca_arguments_must_be_integers(kwargs):
    key = next(iter(kwargs))
    with pytest.raises(ValueError, match=rf"{key} must be an integer"):
        ga.ActivationPCA(**kwargs)


def test_pca_accepts_integral_values():
    import numpy as np
    assert ga.ActivationPCA(k=2.0, q=np.int64(4)).k == 2


@pytest.mark.parametrize("make", [lambda: ga.ActivationDropout(0.5, apply_prob=1.0),
                                  lambda: ga.ActivationPCA(k=1, q=2, apply_prob=1.0)])
@pytest.mark.parametrize("dtype", [torch.long, torch.int32, torch.bool])
def test_integer_activations_need_a_cast(make, dtype):
    x = torch.ones(8, 4, dtype=dtype)
    with pytest.raises(TypeError, match=r"cast to float first \(e.g. x.float\(\)\)"):
        make().train()(x, batch=torch.arange(8))


def bad_batch_cases():
    good = torch.arange(4).repeat_interleave(3)
    minus = good.clone()
    minus[4] = -1
    high = good.clone()
    high[7] = 4
    return {"-1 without num_samples": (minus, None, r"sample id -1 at row 4.*padding"),
            "-1 with num_samples": (minus, 4, r"sample id -1 at row 4.*padding"),
            "id >= num_samples": (high, 4, r"sample id 4 at row 7, outside 0 .. 3"),
            "num_samples too small": (good, 3, r"sample id 3 at row 9, outside 0 .. 2"),
            "float batch": (good.float(), None, r"integer sample ids.*float32.*batch.long\(\)"),
            "bool batch": (good > 1, 4, r"integer sample ids.*torch.bool.*mask="),
            "negative num_samples": (good, -2, r"num_samples must be >= 0")}


@pytest.mark.parametrize("case", list(bad_batch_cases()))
@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_bad_batch_vectors_raise_helpful_errors(case, device):
    batch, num_samples, message = bad_batch_cases()[case]
    for transform in (ga.ActivationDropout(0.5, apply_prob=1.0),
                      ga.ActivationPCA(k=1, q=2, apply_prob=1.0)):
        with pytest.raises(ValueError, match=message):
            transform.train()(torch.randn(12, 4, device=device), batch=batch.to(device),
                              num_samples=num_samples)


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_int32_batch_and_trailing_empty_samples_are_fine(device):
    x = torch.randn(12, 4, device=device)
    batch = torch.arange(4, device=device).repeat_interleave(3)
    outs = [ga.ActivationDropout(0.5, apply_prob=0.5, seed=1).train()(x, batch=b, num_samples=n)
            for b, n in ((batch, None), (batch.int(), None), (batch, 6), (batch.int(), 6))]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[2], outs[3])


# --- scripts/setup.sh: which interpreter ---------------------------------------------------

FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for python: logs its calls; `-m venv DIR` makes DIR/bin/python a copy of itself
echo "$0 $*" >> "$FAKE_LOG"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
"""


@pytest.fixture
def fake_repo(tmp_path):
    """A repository holding only scripts/, and a fake python3 first on PATH."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", repo / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(FAKE_PYTHON)
    (bin_dir / "python3").chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", FAKE_LOG=str(tmp_path / "log"))
    return repo, env


def run_setup(repo, env):
    result = subprocess.run(["bash", "scripts/setup.sh"], cwd=repo, env=env, text=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    log = Path(env["FAKE_LOG"]).read_text().splitlines()
    return result.stderr, log


def chosen(repo, env):
    return subprocess.run(["bash", "-c", "source scripts/python.sh && graphaug_python"],
                          cwd=repo, env=env, text=True, capture_output=True,
                          timeout=60).stdout.strip()


def test_setup_creates_and_uses_venv_when_no_environment_is_active(fake_repo):
    repo, env = fake_repo
    stderr, log = run_setup(repo, env)
    venv_python = f"{repo}/.venv/bin/python"
    assert "no virtual environment is active: creating" in stderr
    assert "source .venv/bin/activate" in stderr
    assert log[0].endswith("python3 -m venv .venv")
    assert all(line.startswith(f"{venv_python} -m pip install") for line in log[1:]) and \
        len(log) == 3
    assert chosen(repo, env) == venv_python  # what test.sh and main.sh run
    stderr, log = run_setup(repo, env)  # a second set-up reuses it, never the global python3
    assert "using the repository's virtual environment" in stderr
    assert not any("-m venv" in line for line in log[3:])
    assert all(line.startswith(f"{venv_python} -m pip install") for line in log[3:])


def test_setup_installs_into_the_active_virtual_environment(fake_repo, tmp_path):
    repo, env = fake_repo
    venv = tmp_path / "active"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(tmp_path / "bin" / "python3", venv / "bin" / "python")
    stderr, log = run_setup(repo, {**env, "VIRTUAL_ENV": str(venv)})
    assert f"active virtual environment {venv}" in stderr
    assert len(log) == 2 and all(line.startswith(f"{venv}/bin/python -m pip") for line in log)
    assert not (repo / ".venv").exists()


def test_setup_installs_into_an_active_conda_environment_but_not_base(fake_repo, tmp_path):
    repo, env = fake_repo
    conda = tmp_path / "conda-env"
    (conda / "bin").mkdir(parents=True)
    shutil.copy(tmp_path / "bin" / "python3", conda / "bin" / "python")
    active = {**env, "CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "myenv"}
    assert chosen(repo, active) == f"{conda}/bin/python"
    base = {**env, "CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "base"}
    assert chosen(repo, base) == f"{repo}/.venv/bin/python"  # base is a global interpreter


def test_setup_never_uses_the_global_python3_and_python_override_wins(fake_repo):
    repo, env = fake_repo
    assert chosen(repo, env) == f"{repo}/.venv/bin/python"
    assert chosen(repo, {**env, "PYTHON": "/opt/py"}) == "/opt/py"


# --- label values and label lines (issue 29) ------------------------------------------------

@pytest.mark.parametrize("part, line, new, message", [
    ("node_labels", 40, "1000000\n", r"MUTAG_node_labels.txt, line 40: node label 1000000 lies "
     r"far outside the other labels \(0 \.\. 6\); PyG one-hot encodes every value from 0 to "
     r"1000000 \(1000001 columns for 3371 lines"),
    ("node_labels", 7, "-5000\n", r"MUTAG_node_labels.txt, line 7: node label -5000 lies far"),
    ("edge_labels", 3, "99999\n", r"MUTAG_edge_labels.txt, line 3: edge label 99999 lies far "
     r"outside the other labels \(0 \.\. 3\)"),
    ("graph_labels", 1, "1, 2\n", r"MUTAG_graph_labels.txt, line 1 reads '1, 2': expected 1 "),
])
def test_label_values_and_lines_are_named(part, line, new, message, tmp_path):
    root = copy_dataset(tmp_path, "TU", "MUTAG")
    corrupt(root, part, replace_line(line, new))
    with pytest.raises(ValueError, match=message):
        load_tu("MUTAG", root, download=False)  # before PyG one-hot encodes anything
    assert not (root / "TU" / "MUTAG" / "processed" / "data.pt").exists()


def test_a_two_column_first_line_of_node_labels_is_reported_on_line_1(tmp_path):
    root = copy_dataset(tmp_path, "TU", "MUTAG")
    corrupt(root, "node_labels", replace_line(1, "0, 1\n"))
    with pytest.raises(ValueError, match=r"MUTAG_node_labels.txt, line 1 reads '0, 1': expected 1"):
        load_tu("MUTAG", root, download=False)


def test_a_one_class_dataset_is_refused_at_load(tmp_path):
    root = copy_dataset(tmp_path, "TU", "MUTAG")
    labels = root / "TU" / "MUTAG" / "raw" / "MUTAG_graph_labels.txt"
    labels.write_text("1\n" * 188)
    with pytest.raises(ValueError, match=r"MUTAG_graph_labels.txt: every graph has the label 1; "
                                         r"a graph-classification dataset needs at least 2"):
        load_tu("MUTAG", root, download=False)
