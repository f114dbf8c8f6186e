import pytest
import torch

from graphaug.data import data_root, find_tu_root, load_tu


def test_missing_dataset_names_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"NCI1_A.txt.*NCI1_graph_indicator.txt.*"
                                                r"TU/NCI1/raw"):
        find_tu_root("NCI1", tmp_path)


def test_data_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHAUG_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("GRAPHAUG_DATA")
    with pytest.raises(ValueError, match="GRAPHAUG_DATA"):
        data_root()


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
