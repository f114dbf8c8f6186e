"""Evaluation protocols: frozen-encoder embeddings and the TU SVM protocol.

TU protocol (GraphCL/InfoGraph): the encoder readout, in eval mode, of the un-augmented graphs
-> RBF ``SVC``; ``C`` in ``{1e-3, ..., 1e3}`` chosen by an inner 5-fold grid search inside an
outer 10-fold stratified cross-validation; the score is the mean outer test accuracy.

Every result also carries ``val``: the mean over outer folds of the inner-CV accuracy of the
chosen ``C``. It is computed from training folds only, so the *strict* way to choose anything
else (pretraining epoch, target layer, rate) is to compare ``val`` and only report ``test``.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["embed_graphs", "svm_protocol", "SVM_C_GRID", "ogb_score"]

SVM_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3)


@torch.no_grad()
def embed_graphs(encoder: nn.Module, graphs: Sequence, batch_size: int = 256,
                 device: Optional[torch.device | str] = None) -> tuple[np.ndarray, np.ndarray]:
    """Readout embeddings ``[num_graphs, d]`` and labels of ``graphs`` with ``encoder`` in eval
    mode (so no activation transform runs); the encoder's mode is restored afterwards."""
    from torch_geometric.loader import DataLoader

    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    xs, ys = [], []
    try:
        for batch in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
            batch = batch.to(device)
            xs.append(encoder(batch.x, batch.edge_index, batch.batch,
                              num_graphs=int(batch.num_graphs)).cpu())
            ys.append(batch.y.view(-1).cpu())
    finally:
        encoder.train(was_training)
    x = torch.cat(xs).numpy()
    if not np.isfinite(x).all():
        raise ValueError("the encoder produced NaN/Inf embeddings")
    return x, torch.cat(ys).numpy()


def svm_protocol(x: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 10,
                 inner_folds: int = 5, c_grid: Iterable[float] = SVM_C_GRID,
                 n_jobs: Optional[int] = None) -> dict:
    r"""The TU SVM protocol on fixed embeddings.

    Args:
        x (ndarray): ``[n, d]`` embeddings.
        y (ndarray): ``[n]`` labels.
        seed (int): seed of the outer and inner fold splits.
        folds (int): outer stratified folds (10).
        inner_folds (int): inner folds of the ``C`` grid search (5).
        c_grid (iterable): candidate ``C`` values.
        n_jobs (int, optional): parallel jobs for the grid search.

    Returns:
        dict with ``test`` (mean outer accuracy), ``test_std``, ``val`` (mean inner-CV accuracy
        of the chosen ``C``: validation only), ``fold_test``, ``fold_val``, ``fold_C``.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"x must be [n, d] with one label each, got {x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN/Inf")
    _, counts = np.unique(y, return_counts=True)
    if counts.min() < folds:
        raise ValueError(f"the smallest class has {counts.min()} samples, fewer than the "
                         f"{folds} outer folds")
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_test, fold_val, fold_c = [], [], []
    for train, test in outer.split(x, y):
        inner = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed)
        search = GridSearchCV(SVC(kernel="rbf", cache_size=1000), {"C": list(c_grid)}, cv=inner,
                              scoring="accuracy", n_jobs=n_jobs)
        search.fit(x[train], y[train])
        fold_test.append(float((search.predict(x[test]) == y[test]).mean()))
        fold_val.append(float(search.best_score_))
        fold_c.append(float(search.best_params_["C"]))
    return {"test": float(np.mean(fold_test)), "test_std": float(np.std(fold_test)),
            "val": float(np.mean(fold_val)), "fold_test": fold_test, "fold_val": fold_val,
            "fold_C": fold_c}


def ogb_score(name: str, y_true, y_pred) -> float:
    """The official ``ogb.graphproppred.Evaluator`` score (ROC-AUC, AP or RMSE) of predictions
    ``[n, tasks]``; missing labels (NaN) are ignored per task, as OGB does."""
    from ogb.graphproppred import Evaluator

    evaluator = Evaluator(name)
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ")
    return float(evaluator.eval({"y_true": y_true, "y_pred": y_pred})[evaluator.eval_metric])
