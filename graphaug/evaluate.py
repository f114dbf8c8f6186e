"""Evaluation protocols: frozen-encoder embeddings, the TU SVM protocol, and OGB's linear probe
and fine-tuning scored by the official `ogb.graphproppred.Evaluator`.

TU protocol (GraphCL/InfoGraph): the encoder readout, in eval mode, of the un-augmented graphs
-> RBF `SVC`; `C` in `{1e-3, ..., 1e3}` chosen by an inner 5-fold grid search inside an
outer 10-fold stratified cross-validation; the score is the mean outer test accuracy.

Every result also carries `val`: the mean over outer folds of the inner-CV accuracy of the
chosen `C`. It is computed from training folds only, so the *strict* way to choose anything
else (pretraining epoch, target layer, rate) is to compare `val` and only report `test`.
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["embed_graphs", "svm_protocol", "SVM_C_GRID", "ogb_score", "ogb_metric",
           "linear_probe", "PROBE_C_GRID", "finetune", "masked_task_loss"]

SVM_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3)


@torch.no_grad()
def embed_graphs(encoder: nn.Module, graphs: Sequence, batch_size: int = 256,
                 device: Optional[torch.device | str] = None) -> tuple[np.ndarray, np.ndarray]:
    """Readout embeddings `[num_graphs, d]` and labels of `graphs` with `encoder` in eval
    mode (so no activation transform runs); the encoder's mode is restored afterwards."""
    from torch_geometric.loader import DataLoader

    from .data import validate_graphs
    from .nn.call import encoder_call

    graphs = validate_graphs(graphs, "graphs")  # before batching: ids in their own graph
    call = encoder_call(encoder)
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    xs, ys = [], []
    try:
        for batch in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
            batch = batch.to(device)
            xs.append(call(encoder, batch).cpu())
            ys.append(batch.y.view(-1).cpu())
    finally:
        encoder.train(was_training)
    x = torch.cat(xs).numpy()
    if not np.isfinite(x).all():
        raise ValueError("the encoder produced NaN/Inf embeddings")
    return x, torch.cat(ys).numpy()


def _sq_distances(x: np.ndarray) -> np.ndarray:
    """`[n, n]` squared Euclidean distances, as libsvm computes them for its RBF kernel
    (`|a|^2 + |b|^2 - 2 a.b` in float64)."""
    sq = np.einsum("ij,ij->i", x, x)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    return np.maximum(d, 0.0, out=d)


def _rbf_fold(d2: np.ndarray, x: np.ndarray, y: np.ndarray, train: np.ndarray,
              test: np.ndarray, c_grid: Sequence[float]) -> list[float]:
    """Test accuracy of an RBF `SVC` per `C`, trained on `train`: one kernel matrix for
    every `C`, with sklearn's `gamma="scale"` rule on the training rows."""
    from sklearn.svm import SVC

    gamma = 1.0 / (x.shape[1] * x[train].var())
    k_train = d2[np.ix_(train, train)]  # a fresh copy: scaled and exponentiated in place
    k_test = d2[np.ix_(test, train)]
    for k in (k_train, k_test):
        np.exp(np.multiply(k, -gamma, out=k), out=k)
    return [float((SVC(kernel="precomputed", C=c).fit(k_train, y[train]).predict(k_test)
                   == y[test]).mean()) for c in c_grid]


def _precomputed_protocol(x: np.ndarray, y: np.ndarray, splits: list, c_grid: list[float],
                          inner_folds: int, seed: int, n_jobs: int,
                          progress: bool) -> list[tuple[float, float, float]]:
    """`(test accuracy, inner-CV accuracy of the chosen C, chosen C)` per outer fold.

    The work is cut into one task per (outer fold, inner fold) -- every `C` on one kernel --
    then one refit per outer fold at its chosen `C`, run on a thread pool: libsvm and numpy
    release the GIL, the distance matrix is shared instead of copied into processes, and the
    small tasks keep both cores busy to the end (whole outer folds as tasks left one idle)."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.model_selection import StratifiedKFold

    d2 = _sq_distances(x)
    inner = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed)
    tasks = [(train[a], train[b]) for train, _ in splits
             for a, b in inner.split(x[train], y[train])]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(tasks) + len(splits), desc="SVM fits", leave=False)

    def run(args: tuple) -> list[float]:
        out = _rbf_fold(d2, x, y, *args)
        if bar is not None:
            bar.update()
        return out

    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        accs = np.asarray(list(pool.map(lambda t: run((*t, c_grid)), tasks)))
        # [outer, inner, C] -> mean over the inner folds, summed in GridSearchCV's order
        scores = accs.reshape(len(splits), inner_folds, len(c_grid)).mean(axis=1)
        best = [int(np.argmax(row)) for row in scores]  # first best C, as GridSearchCV's rank
        # refits with the largest C first: libsvm's time grows with C, so the longest start
        # early and the pool does not end on one long fit
        order = sorted(range(len(splits)), key=lambda f: -best[f])
        refits = dict(zip(order, pool.map(
            lambda f: run((splits[f][0], splits[f][1], [c_grid[best[f]]]))[0], order)))
    if bar is not None:
        bar.close()
    return [(refits[f], float(scores[f, best[f]]), float(c_grid[best[f]]))
            for f in range(len(splits))]


def svm_protocol(x: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 10,
                 inner_folds: int = 5, c_grid: Iterable[float] = SVM_C_GRID,
                 n_jobs: Optional[int] = None, progress: bool = False,
                 method: str = "precomputed") -> dict:
    r"""The TU SVM protocol on fixed embeddings: RBF `SVC` (`gamma="scale"`), `C` chosen by
    an inner stratified CV grid search inside an outer stratified CV.

    The default `method="precomputed"` computes the pairwise squared distances once, gives
    `SVC` a precomputed RBF kernel per fit with the same gamma rule, reuses each kernel for
    every `C` and runs the outer folds in parallel: the same accuracies as
    `method="sklearn"` (`GridSearchCV` over `SVC(kernel="rbf")`; equality is tested), in
    a fraction of the time (`graphaug speed --svm`).

    Args:
        x (ndarray): `[n, d]` embeddings.
        y (ndarray): `[n]` labels.
        seed (int): seed of the outer and inner fold splits.
        folds (int): outer stratified folds (10).
        inner_folds (int): inner folds of the `C` grid search (5).
        c_grid (iterable): candidate `C` values.
        n_jobs (int, optional): parallel jobs (outer folds; the grid search for `"sklearn"`).
        progress (bool): a tqdm progress bar over the outer folds.
        method (str): `"precomputed"` or `"sklearn"`. (default: `"precomputed"`)

    Returns:
        dict with `test` (mean outer accuracy), `test_std`, `val` (mean inner-CV accuracy
        of the chosen `C`: validation only), `fold_test`, `fold_val`, `fold_C`.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    if method not in ("precomputed", "sklearn"):
        raise ValueError(f"method must be 'precomputed' or 'sklearn', got {method!r}")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"x must be [n, d] with one label each, got {x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN/Inf")
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise ValueError(f"all {len(y)} labels are {classes[0]}: a classifier needs at least 2 "
                         "classes (is this the right dataset or label column?)")
    if counts.min() < folds:
        raise ValueError(f"the smallest class has {counts.min()} samples, fewer than the "
                         f"{folds} outer folds")
    c_grid = list(c_grid)
    bad = [c for c in c_grid if not (isinstance(c, (int, float)) and np.isfinite(c) and c > 0)]
    if not c_grid or bad:
        raise ValueError(f"c_grid must be finite numbers > 0, got {bad or c_grid!r}")
    if not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2 ** 32):
        raise ValueError(f"seed must be an integer in [0, 2**32) (scikit-learn's random_state), "
                         f"got {seed!r}")
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(outer.split(x, y))
    if method == "precomputed":
        jobs = n_jobs if n_jobs is not None and n_jobs > 0 else \
            (1 if n_jobs is None else max(1, (os.cpu_count() or 1) + 1 + n_jobs))
        results = _precomputed_protocol(x, y, splits, c_grid, inner_folds, seed, jobs,
                                        progress)
    else:
        results = []
        if progress:
            from tqdm.auto import tqdm
            splits = tqdm(splits, total=folds, desc="SVM folds", leave=False)
        for train, test in splits:
            inner = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed)
            search = GridSearchCV(SVC(kernel="rbf", cache_size=1000), {"C": c_grid}, cv=inner,
                                  scoring="accuracy", n_jobs=n_jobs)
            search.fit(x[train], y[train])
            results.append((float((search.predict(x[test]) == y[test]).mean()),
                            float(search.best_score_), float(search.best_params_["C"])))
    fold_test, fold_val, fold_c = (list(v) for v in zip(*results))
    return {"test": float(np.mean(fold_test)), "test_std": float(np.std(fold_test)),
            "val": float(np.mean(fold_val)), "fold_test": fold_test, "fold_val": fold_val,
            "fold_C": fold_c}


def ogb_score(name: str, y_true, y_pred) -> float:
    """The official `ogb.graphproppred.Evaluator` score (ROC-AUC, AP or RMSE) of predictions
    `[n, tasks]`; missing labels (NaN) are ignored per task, as OGB does."""
    from ogb.graphproppred import Evaluator

    evaluator = Evaluator(name)
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ")
    return float(evaluator.eval({"y_true": y_true, "y_pred": y_pred})[evaluator.eval_metric])


#: Inverse regularisation strengths of the OGB linear probe (ridge `alpha = 1 / C`).
PROBE_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 1e1)


def ogb_metric(name: str) -> tuple[str, bool]:
    """`(metric, higher_is_better)` of an OGB graph dataset, e.g. `("rocauc", True)`,
    `("rmse", False)`."""
    from ogb.graphproppred import Evaluator

    metric = Evaluator(name).eval_metric
    return metric, metric != "rmse"


def _better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


def linear_probe(name: str, x: dict, y: dict, c_grid: Iterable[float] = PROBE_C_GRID) -> dict:
    r"""OGB linear probe on frozen embeddings: standardise with the training statistics, fit one
    logistic regression (classification) or ridge regression (regression) per task on the
    labelled training rows (missing labels, NaN, are skipped per task), choose `C` on the
    validation score and report the test score of that `C`. Scores come from the official
    `Evaluator`.

    Args:
        name (str): OGB dataset name (gives the metric and task type).
        x (dict): `{"train": [n, d], "valid": ..., "test": ...}` embeddings.
        y (dict): the same keys, labels `[n, tasks]` with NaN for missing ones.
        c_grid (iterable): inverse regularisation strengths.

    Returns:
        dict with `valid`, `test` (scores of the chosen `C`), `C`, `metric` and
        `per_C` (`[{"C", "valid", "test"}]`).
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    metric, higher = ogb_metric(name)
    splits = ("train", "valid", "test")
    if set(x) < set(splits) or set(y) < set(splits):
        raise ValueError(f"linear_probe needs x and y for {splits}")
    ys = {k: np.asarray(y[k], dtype=np.float64).reshape(len(y[k]), -1) for k in splits}
    xs = {k: np.asarray(x[k], dtype=np.float64) for k in splits}
    for k in splits:
        if len(xs[k]) != len(ys[k]) or not np.isfinite(xs[k]).all():
            raise ValueError(f"{k}: {len(xs[k])} finite embeddings needed for {len(ys[k])} labels")
    scaler = StandardScaler().fit(xs["train"])
    xs = {k: scaler.transform(v) for k, v in xs.items()}
    per_c = []
    for c in c_grid:
        preds = {k: np.zeros_like(ys[k]) for k in ("valid", "test")}
        for task in range(ys["train"].shape[1]):
            labelled = ~np.isnan(ys["train"][:, task])
            target = ys["train"][labelled, task]
            if metric == "rmse":
                model = Ridge(alpha=1.0 / c).fit(xs["train"][labelled], target)
                score = model.predict
            elif len(np.unique(target)) < 2:  # one class only: a constant is all we know
                constant = float(target[0]) if len(target) else 0.0
                score = lambda v, c=constant: np.full(len(v), c)  # noqa: E731
            else:
                model = LogisticRegression(C=c, max_iter=1000).fit(xs["train"][labelled], target)
                score = model.decision_function
            for k in preds:
                preds[k][:, task] = score(xs[k])
        per_c.append({"C": float(c), **{k: ogb_score(name, ys[k], preds[k]) for k in preds}})
    best = per_c[0]
    for row in per_c[1:]:
        if _better(row["valid"], best["valid"], higher):
            best = row
    return {"valid": best["valid"], "test": best["test"], "C": best["C"], "metric": metric,
            "per_C": per_c}


def masked_task_loss(pred: torch.Tensor, target: torch.Tensor, regression: bool) -> torch.Tensor:
    """Mean BCE-with-logits (classification) or MSE (regression) over the labelled entries of
    `[B, tasks]` predictions; missing labels (NaN) contribute nothing."""
    target = target.view(pred.shape).to(pred.dtype)
    labelled = ~torch.isnan(target)
    if not bool(labelled.any()):
        return pred.sum() * 0.0  # a batch with no labels: zero loss, graph kept intact
    pred, target = pred[labelled], target[labelled]
    if regression:
        return torch.nn.functional.mse_loss(pred, target)
    return torch.nn.functional.binary_cross_entropy_with_logits(pred, target)


class _GraphPredictor(nn.Module):
    """Encoder readout -> linear head `[B, tasks]`; regression outputs are de-standardised
    with the training targets' mean and std, so the head learns on unit-scale targets."""

    def __init__(self, encoder: nn.Module, num_tasks: int, mean: Optional[torch.Tensor] = None,
                 std: Optional[torch.Tensor] = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_channels, num_tasks)
        self.register_buffer("mean", torch.zeros(num_tasks) if mean is None else mean)
        self.register_buffer("std", torch.ones(num_tasks) if std is None else std)

    def forward(self, batch) -> torch.Tensor:
        from .nn.pyg import encode_batch
        return self.head(encode_batch(self.encoder, batch)) * self.std + self.mean


@torch.no_grad()
def _predict(model: nn.Module, graphs: Sequence, batch_size: int,
             device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    from torch_geometric.loader import DataLoader

    model.eval()
    preds, ys = [], []
    for batch in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
        batch = batch.to(device)
        preds.append(model(batch).cpu())
        ys.append(batch.y.view(batch.num_graphs, -1).float().cpu())
    return torch.cat(preds).numpy(), torch.cat(ys).numpy()


def finetune(name: str, encoder: nn.Module, splits: dict, *, epochs: int = 100, lr: float = 1e-3,
             batch_size: int = 32, dropout: float = 0.5, patience: Optional[int] = None,
             seed: int = 0, device: Optional[torch.device | str] = None,
             progress: bool = False) -> dict:
    r"""Fine-tune the whole `encoder` plus a linear head on an OGB task, keeping the epoch with
    the best validation score (early stopping) and reporting its test score, both from the
    official `Evaluator`. Activation transforms are removed first (Deep Augmentation is a
    pretraining device) and the encoder's dropout is set to `dropout`.

    Args:
        name (str): OGB dataset name.
        encoder (nn.Module): a graphaug encoder (modified in place: fine-tuned weights).
        splits (dict): `{"train": graphs, "valid": graphs, "test": graphs}`.
        epochs (int): maximum number of epochs (pretrain-gnns / GraphCL: 100).
        lr (float), batch_size (int): Adam learning rate and batch size (1e-3, 32).
        dropout (float): encoder dropout while fine-tuning (0.5).
        patience (int, optional): stop after this many epochs without a better validation score.
        seed (int): seed of the head initialisation and batch order.

    Returns:
        dict with `valid`, `test` (at the best validation epoch), `epoch` (1-based),
        `metric` and `curve` (`[{"epoch", "loss", "valid", "test"}]`).
    """
    from torch_geometric.loader import DataLoader

    from .utils import seed_everything

    metric, higher = ogb_metric(name)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    seed_everything(seed)
    if hasattr(encoder, "dropout"):
        encoder.dropout = float(dropout)
    train_graphs = list(splits["train"])
    num_tasks = train_graphs[0].y.numel()
    regression = metric == "rmse"
    mean = std = None
    if regression:
        targets = torch.cat([g.y.view(1, -1).float() for g in train_graphs])
        mean = torch.nanmean(targets, dim=0)
        std = torch.sqrt(torch.nanmean((targets - mean) ** 2, dim=0)).clamp_min(1e-6)
    model = _GraphPredictor(encoder, num_tasks, mean, std).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    drop_last = len(train_graphs) % batch_size == 1  # BatchNorm cannot take a batch of one
    curve, best = [], None
    epochs_iter = range(1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm
        epochs_iter = tqdm(epochs_iter, desc="finetune", leave=False)
    for epoch in epochs_iter:
        model.train()
        total, count = 0.0, 0
        for batch in DataLoader(train_graphs, batch_size=batch_size, shuffle=True,
                                drop_last=drop_last):
            batch = batch.to(device)
            optimizer.zero_grad(set_to_none=True)
            pred = model(batch)
            if regression:  # the loss on standardised targets (unit-scale gradients)
                pred = (pred - model.mean) / model.std
                batch.y = (batch.y.view(pred.shape).float() - model.mean) / model.std
            loss = masked_task_loss(pred, batch.y, regression)
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()), count + 1
        row = {"epoch": epoch, "loss": total / max(count, 1)}
        for split in ("valid", "test"):
            pred, y = _predict(model, splits[split], 256, device)
            row[split] = ogb_score(name, y, pred)
        curve.append(row)
        if best is None or _better(row["valid"], best["valid"], higher):
            best = row
        if patience is not None and epoch - best["epoch"] >= patience:
            break
    return {"valid": best["valid"], "test": best["test"], "epoch": best["epoch"],
            "metric": metric, "curve": curve}


def nested_select(results: Mapping[str, Mapping]) -> dict:
    r"""Strict nested model selection over candidate configurations evaluated by
    `svm_protocol` with the same seed (hence the same outer folds).

    In every outer fold the candidate with the best inner-CV *validation* accuracy of that
    fold's training part is chosen (ties: the first candidate in `results` order), and that
    fold's test accuracy of the chosen candidate is reported. A fold's test graphs never enter
    its choice: only `fold_val` is read to choose.

    Args:
        results (mapping): `{label: svm_protocol(...) result}`, all with the same folds.

    Returns:
        dict with `test` (mean over folds), `test_std`, `val`, `fold_test`,
        `fold_val`, `fold_choice` (the label chosen in each fold).
    """
    labels = list(results)
    if not labels:
        raise ValueError("nested_select needs at least one candidate")
    folds = {len(results[k]["fold_val"]) for k in labels}
    if len(folds) != 1:
        raise ValueError(f"candidates were evaluated on different numbers of folds: {folds}")
    fold_test, fold_val, fold_choice = [], [], []
    for f in range(folds.pop()):
        best = max(labels, key=lambda k: (results[k]["fold_val"][f], -labels.index(k)))
        fold_choice.append(best)
        fold_val.append(float(results[best]["fold_val"][f]))
        fold_test.append(float(results[best]["fold_test"][f]))
    return {"test": float(np.mean(fold_test)), "test_std": float(np.std(fold_test)),
            "val": float(np.mean(fold_val)), "fold_test": fold_test, "fold_val": fold_val,
            "fold_choice": fold_choice}
