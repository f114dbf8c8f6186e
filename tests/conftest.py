"""Shared fixtures: real data copied from ../shared/datasets into a temporary folder."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest
import torch

SHARED = Path(os.environ.get("GRAPHAUG_SHARED",
                             Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


def load_benchmark(name: str) -> ModuleType:
    """The experiment module graphaug.experiments.<name> (e.g. "tu", "tu_table")."""
    import importlib
    return importlib.import_module(f"graphaug.experiments.{name}")


def copy_dataset(tmp_root: Path, *parts: str) -> Path:
    """Copy ``SHARED/<parts>`` to ``tmp_root/<parts>``; skip when the shared data is absent."""
    source = SHARED.joinpath(*parts)
    if not source.exists():
        pytest.skip(f"shared dataset {source} not available")
    target = tmp_root.joinpath(*parts)
    if not target.exists():
        # copy contents, not the shared folder's read-only modes: the copy must be writable
        shutil.copytree(source, target, copy_function=shutil.copyfile)
        for folder in [target, *(p for p in target.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
    return tmp_root


def copy_tu_as(tmp_root: Path, name: str, new_name: str) -> Path:
    """Copy the shared TU dataset ``name`` to ``tmp_root/TU/<new_name>/raw`` with its files
    renamed: a user dataset without an entry in the checksum table, free to edit."""
    source = SHARED / "TU" / name / "raw"
    if not source.exists():
        pytest.skip(f"shared dataset {source} not available")
    target = tmp_root / "TU" / new_name / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob(f"{name}_*.txt"):
        shutil.copyfile(path, target / path.name.replace(name, new_name, 1))
    return tmp_root


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A writable data root holding copies of the small TU sets used by the tests."""
    root = tmp_path_factory.mktemp("datasets")
    for name in ("MUTAG", "PTC_MR"):
        copy_dataset(root, "TU", name)
    return root


@pytest.fixture(scope="session")
def mutag(data_dir):
    from graphaug.data import load_tu
    return load_tu("MUTAG", data_dir)


@pytest.fixture
def mutag_batch(mutag):
    from torch_geometric.loader import DataLoader
    return next(iter(DataLoader(mutag.graphs, batch_size=32, shuffle=False)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def run_cache(tmp_path_factory, monkeypatch) -> Path:
    """Each test's own run cache (the experiments' --cache default, runs/ under
    $GRAPHAUG_CACHE): never ~/.cache, never another test's runs."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GRAPHAUG_CACHE", str(folder))
    return folder / "runs"


def assert_same_loss_and_grads(first: tuple, second: tuple) -> None:
    """``(loss, {name: grad})`` pairs of two computations that must agree (shared trunk vs two
    passes)."""
    (l1, g1), (l2, g2) = first, second
    assert torch.allclose(l1, l2, atol=1e-6)
    assert g1.keys() == g2.keys() and len(g1) > 0
    for key in g1:
        assert torch.allclose(g1[key], g2[key], atol=1e-5, rtol=1e-4), key


def as_molecules(graphs: list) -> list:
    """TU graphs as OGB-style molecules: the node label (one-hot column) as the atom type in
    column 0 of 9 integer atom features, and 3 integer bond features (all zero), so that
    graphaug's molecule encoder and its mask token apply."""
    out = []
    for g in graphs:
        g = g.clone()
        x = torch.zeros(g.num_nodes, 9, dtype=torch.long)
        x[:, 0] = g.x.argmax(dim=1)
        g.x, g.edge_attr = x, torch.zeros(g.edge_index.size(1), 3, dtype=torch.long)
        out.append(g)
    return out
