import pytest

from graphaug.cli import main
from graphaug.synthetic import synthetic_graphs


def test_synthetic_graphs_are_balanced_and_valid():
    ds = synthetic_graphs(60, seed=1)
    assert len(ds) == 60 and ds.num_features == 7 and ds.num_classes == 2
    assert ds.labels.sum() == 30
    for g in ds.graphs:
        assert g.x.size(0) >= 10 and (g.x.sum(1) == 1).all()
        assert (g.edge_index[0] == g.edge_index[1]).sum() == g.num_nodes  # one self-loop each
    assert synthetic_graphs(60, seed=1).graphs[5].edge_index.equal(ds.graphs[5].edge_index)
    with pytest.raises(ValueError, match=">= 20"):
        synthetic_graphs(10)


def test_demo_command_prints_the_comparison(capsys):
    main(["demo", "--seeds", "0", "--graphs", "60", "--epochs", "1"])
    out = capsys.readouterr().out
    for method in ("| graphcl |", "| deepaug |", "| graphcl+deepaug |"):
        assert method in out
