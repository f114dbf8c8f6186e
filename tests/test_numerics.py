"""The numbers graphaug computes, pinned: a tiny seeded pretraining + SVM run per method.

The run cache keys results by NUMERICS_VERSION, not by a hash of the sources (a docstring edit
invalidates nothing). So a change that alters these numbers must bump
graphaug.experiments.runner.NUMERICS_VERSION and add the new values under the new version here;
a change of numerics without a bump fails this test instead of serving stale cached runs.
"""
from __future__ import annotations

import pytest
import torch

from graphaug.contrastive import MethodConfig, pretrain
from graphaug.evaluate import embed_graphs, svm_protocol
from graphaug.experiments.runner import NUMERICS_VERSION
from graphaug.synthetic import synthetic_graphs

CONFIGS = {"graphcl": {}, "graphcl+deepaug": dict(transform="pca", rate=-1, target=2),
           "deepaug": dict(transform="dropout", rate=0.25, target=1)}

#: NUMERICS_VERSION -> method -> (per-epoch losses, SVM test accuracy, SVM validation accuracy,
#: sum of the embeddings); 40 generated graphs, 2 epochs, hidden 8, batch 16, seed 0, 1 thread
GOLDEN = {1: {"graphcl": ([1.938450574874878, 1.6855344772338867], 0.875, 0.8166666666666667,
                          271.7997131347656),
              "graphcl+deepaug": ([1.323447326819102, 1.5762203335762024], 0.9, 0.85,
                                  437.79205322265625),
              "deepaug": ([0.8539429903030396, -0.5190856208403906], 0.875, 0.8,
                          148.06118774414062)}}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # threads are part of the cache key: these are 1-thread numbers
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("method", sorted(CONFIGS))
def test_numerics_are_pinned_to_their_version(method, one_thread):
    assert NUMERICS_VERSION in GOLDEN, (
        f"NUMERICS_VERSION {NUMERICS_VERSION} has no golden values: add them to GOLDEN")
    ds = synthetic_graphs(40, seed=0)
    cfg = MethodConfig(method, epochs=2, hidden=8, batch_size=16, **CONFIGS[method])
    encoder, history = pretrain(ds.graphs, ds.num_features, cfg, 0)
    x, y = embed_graphs(encoder, ds.graphs)
    result = svm_protocol(x, y, seed=0, folds=4, inner_folds=2)
    losses, test, val, total = GOLDEN[NUMERICS_VERSION][method]
    got = (list(history), result["test"], result["val"], float(x.sum()))
    hint = (f"{method}: the numbers changed to {got} without a NUMERICS_VERSION bump; if the "
            "change is intended, bump graphaug.experiments.runner.NUMERICS_VERSION and add "
            "these values to GOLDEN under the new version")
    assert list(history) == pytest.approx(losses, rel=1e-5, abs=1e-6), hint
    assert float(x.sum()) == pytest.approx(total, rel=1e-5), hint
    assert (result["test"], result["val"]) == pytest.approx((test, val)), hint
