import http.server
import shutil
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest
import torch

from conftest import SHARED, copy_dataset, copy_tu_as
from graphaug.data import DEFAULT_ROOT, data_root, find_tu_root, load_ogb, load_tu


def test_missing_dataset_names_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"NCI1_A.txt.*NCI1_graph_indicator.txt.*"
                                                r"TU/NCI1/raw"):
        find_tu_root("NCI1", tmp_path)


def test_data_root_from_environment_else_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHAUG_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("GRAPHAUG_DATA")
    assert data_root() == DEFAULT_ROOT
    assert DEFAULT_ROOT.parts[-2:] == ("graphaug", "datasets")


def test_load_tu_features_and_self_loops(data_dir):
    plain = load_tu("PTC_MR", data_dir)
    looped = load_tu("PTC_MR", data_dir, self_loops=True)
    assert len(plain) == 344 and plain.num_classes == 2 and plain.num_features == 18
    g0, g1 = plain[0], looped[0]
    loops = (g1.edge_index[0] == g1.edge_index[1]).sum()
    assert loops == g0.num_nodes and g1.edge_index.size(1) == g0.edge_index.size(1) + loops
    const = load_tu("PTC_MR", data_dir, constant_features=True)
    assert const.num_features == 1 and torch.equal(const[0].x, torch.ones(g0.num_nodes, 1))
    assert len(plain[:10]) == 10 and plain[[1, 2]].graphs[0] is plain.graphs[1]


# --- downloads, default root, read-only roots -------------------------------------------------

def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def make_writable(folder: Path) -> None:  # so that pytest can delete its temporary folders
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """Processed caches and PyG's download cache in a temporary folder, never in ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRAPHAUG_CACHE", str(folder))
    monkeypatch.setenv("PYG_HOME", str(tmp_path / "pyg"))
    return folder


def tu_zip(site: Path, source: Path, name: str = "MUTAG", replace: dict = {}) -> None:
    """``site/<name>.zip`` laid out as on the TU site (``<name>/<name>_*.txt``), with the files
    of ``source`` except those whose text ``replace`` gives."""
    with zipfile.ZipFile(site / f"{name}.zip", "w") as archive:
        for path in sorted(source.glob(f"{name}_*.txt")):
            archive.writestr(f"{name}/{path.name}", replace.get(path.name, path.read_text()))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def tu_server(tmp_path, monkeypatch):
    """A local HTTP server holding MUTAG.zip (built from the shared raw files); PyG's
    ``TUDataset.url`` points at it, so PyG's real downloader runs offline."""
    site = tmp_path / "site"
    site.mkdir()
    tu_zip(site, SHARED / "TU" / "MUTAG" / "raw")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from torch_geometric.datasets import TUDataset
    monkeypatch.setattr(TUDataset, "url", f"http://127.0.0.1:{server.server_address[1]}")
    yield site
    server.shutdown()
    server.server_close()


def test_offline_error_names_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"NCI1_A.txt.*NCI1_graph_labels.txt.*"
                                                r"TU/NCI1/raw.*download=False"):
        load_tu("NCI1", tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match=r"RELEASE_v1.txt.*raw/edge.csv.gz.*"
                                                r"ogb/ogbg_molhiv.*download=False"):
        load_ogb("ogbg-molhiv", tmp_path, download=False)
    assert tree(tmp_path) == []  # nothing created


def test_tu_download_from_local_server(tu_server, tmp_path, cache):
    root = tmp_path / "root"
    ds = load_tu("MUTAG", root)
    assert len(ds) == 188 and ds.num_features == 7 and ds.num_classes == 2
    raw = root / "TU" / "MUTAG" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        p.name for p in (SHARED / "TU" / "MUTAG" / "raw").glob("MUTAG_*.txt"))
    assert not list((root / "TU" / "MUTAG").glob(".download-*"))  # temporary folder removed
    assert (root / "TU" / "MUTAG" / "processed" / "data.pt").is_file()
    (tu_server / "MUTAG.zip").unlink()  # found locally now: no second download
    assert len(load_tu("MUTAG", root)) == 188


def test_tu_download_failure_is_clear_and_leaves_nothing(tu_server, tmp_path, cache):
    with pytest.raises(FileNotFoundError, match=r"PTC_MR_A.txt.*TU/PTC_MR/raw.*"
                                                r"downloading http://127.0.0.1:\d+/PTC_MR.zip "
                                                r"failed.*--no-download"):
        load_tu("PTC_MR", tmp_path / "root")
    assert not (tmp_path / "root" / "TU" / "PTC_MR").exists()


def test_tu_download_rejects_a_broken_archive(tu_server, tmp_path, cache):
    raw = SHARED / "TU" / "MUTAG" / "raw"
    labels = (raw / "MUTAG_graph_labels.txt").read_text().splitlines(True)
    tu_zip(tu_server, raw, replace={"MUTAG_graph_labels.txt": "".join(labels[:100])})
    with pytest.raises(ValueError, match=r"MUTAG_graph_labels.txt has 100 lines.*188"):
        load_tu("MUTAG", tmp_path / "root")
    assert not (tmp_path / "root" / "TU" / "MUTAG").exists()


def test_download_never_writes_over_an_incomplete_folder(tu_server, tmp_path, cache):
    raw = tmp_path / "root" / "TU" / "MUTAG" / "raw"
    raw.mkdir(parents=True)
    (raw / "MUTAG_A.txt").write_text("1, 2\n2, 1\n")
    with pytest.raises(FileNotFoundError, match=r"exists but is incomplete"):
        load_tu("MUTAG", tmp_path / "root")
    assert tree(raw) == ["MUTAG_A.txt"]


def test_default_root_receives_downloads(tu_server, tmp_path, cache, monkeypatch):
    monkeypatch.delenv("GRAPHAUG_DATA", raising=False)
    monkeypatch.setattr("graphaug.data.DEFAULT_ROOT", tmp_path / "default")
    assert len(load_tu("MUTAG")) == 188
    assert (tmp_path / "default" / "TU" / "MUTAG" / "raw" / "MUTAG_A.txt").is_file()


def test_read_only_root_is_never_written(tmp_path, cache):
    root = copy_dataset(tmp_path / "shared", "TU", "MUTAG")
    make_read_only(root)
    before = tree(root)
    try:
        with pytest.warns(UserWarning) as record:
            ds = load_tu("MUTAG", root, download=False)
            again = load_tu("MUTAG", root, download=False)
        assert len(ds) == len(again) == 188
        assert tree(root) == before
        cached = list(cache.rglob("MUTAG/processed/data.pt"))
        assert len(cached) == 1 and cached[0].is_relative_to(cache / "processed")
        said = [str(w.message) for w in record if "is read-only" in str(w.message)]
        assert said == [f"{root / 'TU' / 'MUTAG'} is read-only: graphaug writes its processed "
                        f"cache and any download to {cached[0].parents[1]} instead (set "
                        "GRAPHAUG_CACHE to choose the cache root)"]  # announced once
    finally:
        make_writable(root)


def test_read_only_root_downloads_into_the_cache(tu_server, tmp_path, cache):
    root = tmp_path / "empty"
    root.mkdir()
    make_read_only(root)
    try:
        assert len(load_tu("MUTAG", root)) == 188
        assert tree(root) == []
        assert len(list(cache.rglob("MUTAG/raw/MUTAG_A.txt"))) == 1
        (tu_server / "MUTAG.zip").unlink()  # the cached download is found again
        assert len(load_tu("MUTAG", root, download=False)) == 188
    finally:
        make_writable(root)


def test_processed_cache_follows_the_raw_files(tmp_path, cache):
    root = copy_tu_as(tmp_path / "data", "MUTAG", "MINE")  # the published MUTAG is checksummed
    assert load_tu("MINE", root).labels.sum() == 125
    labels = root / "TU" / "MINE" / "raw" / "MINE_graph_labels.txt"
    flipped = ["1" if line.strip() == "-1" else "-1" for line in labels.read_text().split()]
    labels.write_text("\n".join(flipped) + "\n")
    assert load_tu("MINE", root).labels.sum() == 63  # rebuilt, not the stale cache


@pytest.fixture
def ogb_zip(tmp_path, monkeypatch):
    """OGB's own downloader with a fake ``download_url`` that copies a local zip (the shared
    ogbg-molfreesolv files in the layout of OGB's freesolv.zip)."""
    pytest.importorskip("ogb")
    from ogb.graphproppred import dataset_pyg
    source = copy_dataset(tmp_path / "source", "ogb", "ogbg_molfreesolv") / "ogb" / \
        "ogbg_molfreesolv"
    archive = tmp_path / "freesolv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, f"freesolv/{path.relative_to(source)}")
    calls = []

    def download_url(url, folder, log=True):
        calls.append(url)
        target = Path(folder) / url.rpartition("/")[2]
        shutil.copy(archive, target)
        return str(target)

    monkeypatch.setattr(dataset_pyg, "download_url", download_url)
    monkeypatch.setattr(dataset_pyg, "decide_download", lambda url: True)
    return calls


def test_ogb_download_with_ogbs_downloader(ogb_zip, tmp_path, cache):
    dataset, split = load_ogb("ogbg-molfreesolv", tmp_path / "root")
    assert len(dataset) == 642 and [len(split[k]) for k in ("train", "valid", "test")] == \
        [513, 64, 65]
    assert ogb_zip == ["http://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download/"
                       "freesolv.zip"]
    folder = tmp_path / "root" / "ogb" / "ogbg_molfreesolv"
    assert (folder / "RELEASE_v1.txt").is_file() and (folder / "processed").is_dir()
    assert not list((tmp_path / "root" / "ogb").glob(".download-*"))
    load_ogb("ogbg-molfreesolv", tmp_path / "root")
    assert len(ogb_zip) == 1  # found locally the second time


def test_ogb_download_never_writes_over_an_incomplete_folder(ogb_zip, tmp_path, cache):
    folder = tmp_path / "ogb" / "ogbg_molfreesolv" / "raw"
    folder.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"RELEASE_v1.txt.*exists but is incomplete"):
        load_ogb("ogbg-molfreesolv", tmp_path)
    assert ogb_zip == [] and tree(tmp_path / "ogb") == ["ogbg_molfreesolv", "ogbg_molfreesolv/raw"]


def test_ogb_read_only_root_caches_elsewhere(tmp_path, cache):
    pytest.importorskip("ogb")
    root = copy_dataset(tmp_path / "shared", "ogb", "ogbg_molfreesolv")
    make_read_only(root)
    before = tree(root)
    try:
        dataset, _ = load_ogb("ogbg-molfreesolv", root, download=False)
        assert len(dataset) == 642 and tree(root) == before
        assert len(list(cache.rglob("geometric_data_processed.pt"))) == 1
    finally:
        make_writable(root)
