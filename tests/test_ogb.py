import numpy as np
import pytest

pytest.importorskip("ogb")

from conftest import copy_dataset  # noqa: E402
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
