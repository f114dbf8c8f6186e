"""A modality-agnostic contrastive training loop: seeded, resumable, with a progress bar.

`train(model, batches, optimizer, epochs)` calls `loss = model(batch)` for every batch of
every epoch. With `checkpoint=` it saves model, optimizer, history and every RNG state at the
end of each `checkpoint_every` epochs (atomically) and, when the file exists, resumes from it,
so an interrupted run ends with exactly the same weights as an uninterrupted one. The checkpoint
also stores the run's `config` (a resume under another configuration is refused, naming the
fields) and the training seconds so far (`TrainHistory.seconds` adds up across resumes).

Checkpoints are read by `load_checkpoint`: a weights-only load (a file that would run code
is refused), then every field checked (model, optimizer, RNG state, epoch within the run's
epochs, history). An unreadable checkpoint (empty, truncated, not a torch file) is moved aside
to `<file>.corrupt` and training restarts; a readable but invalid one, or one whose weights do
not fit the model (another dataset or width), is a `ValueError` naming the file and the field.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from torch import nn

from .. import distributed as _dist
from ..utils import (UnreadableFileError, atomic_torch_save, move_aside, rng_state, safe_load,
                     set_rng_state)

__all__ = ["train", "TrainHistory", "config_differences", "load_checkpoint", "load_weights"]


class TrainHistory(list):
    """The mean loss per epoch (a plain list) plus `seconds`: the wall time of the training
    loop summed over every call that produced these epochs (resumes included),
    `resumed_from`: the epoch this call started at, and `monitor`: one dict per epoch from
    `train`'s `monitor` (empty without one)."""

    seconds: float = 0.0
    resumed_from: int = 0

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.monitor: list[dict] = []


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(old: dict, new: dict) -> dict[str, tuple]:
    """`{dotted.field: (old, new)}` of every leaf that differs between two (nested) config
    dicts; a field missing on one side shows as `None` there."""
    a, b = _flatten(old), _flatten(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


_RNG_FIELDS = ("python", "numpy", "torch", "generators")


def _check_rng(rng: Any, where: str) -> Optional[str]:
    if not isinstance(rng, dict) or any(key not in rng for key in _RNG_FIELDS):
        return f"{where} must be a dict with {', '.join(_RNG_FIELDS)}"
    if not isinstance(rng["torch"], torch.Tensor) or not isinstance(rng["generators"], dict):
        return f"{where} holds no torch RNG state"
    return None


def _checkpoint_problem(state: Any) -> Optional[str]:
    """What is wrong with a loaded training checkpoint (`None` when every field is valid)."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a training checkpoint (a dict)"
    missing = [k for k in ("model", "optimizer", "epoch", "epochs", "history") if k not in state]
    if "rng" not in state and "rank_rng" not in state:
        missing.append("rng")
    if missing:
        return f"it lacks the field(s) {', '.join(missing)}"
    model = state["model"]
    if not isinstance(model, dict) or not model or \
            not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        return "its model field is not a non-empty state_dict of tensors"
    optimizer = state["optimizer"]
    if not isinstance(optimizer, dict) or not {"state", "param_groups"} <= set(optimizer):
        return "its optimizer field is not an optimizer state_dict (state, param_groups)"
    epochs, epoch = state["epochs"], state["epoch"]
    if type(epochs) is not int or epochs < 1:
        return f"its epochs field is {epochs!r}, not an integer >= 1"
    if type(epoch) is not int or not 0 <= epoch <= epochs:
        return f"its epoch field is {epoch!r}, outside 0 .. {epochs} (its epochs)"
    history = state["history"]
    if not isinstance(history, list) or len(history) != epoch or \
            not all(isinstance(v, float) for v in history):
        return (f"its history field must list one float loss per finished epoch ({epoch}), got "
                f"{type(history).__name__} of length {len(history) if hasattr(history, '__len__') else '?'}")
    ranks = state.get("rank_rng", [state.get("rng")])
    if not isinstance(ranks, list) or not ranks:
        return "its rank_rng field is not a list of RNG states"
    for i, rng in enumerate(ranks):
        problem = _check_rng(rng, "its rng field" if len(ranks) == 1 else f"rank_rng[{i}]")
        if problem:
            return problem
    if state.get("config") is not None and not isinstance(state["config"], dict):
        return "its config field is not a dict"
    if not isinstance(state.get("monitor", []), list):
        return "its monitor field is not a list"
    if not isinstance(state.get("seconds", 0.0), (int, float)):
        return "its seconds field is not a number"
    return None


def load_checkpoint(path: os.PathLike | str, *, epochs: Optional[int] = None) -> dict:
    r"""Read a training checkpoint written by `train` (or
    `pretrain`) safely and check every field.

    The file is read with a weights-only `torch.load` (`graphaug.utils.safe_load`): a
    file that references anything but tensors and plain containers is refused without running
    it. Then `model` (a non-empty state_dict), `optimizer`, the RNG state, `epoch` (within
    `0 .. epochs`), `epochs` and `history` (one loss per finished epoch) must be present
    and well-formed; `config` (the run's configuration, e.g. `config["method"]`) is
    returned as stored.

    Args:
        path (path): the checkpoint file.
        epochs (int, optional): the run's epochs; a checkpoint written for others is refused.

    Returns:
        dict: the checkpoint (`model`, `optimizer`, `rng`, `epoch`, `epochs`,
        `history`, `config`, `seconds`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is refused (`UnsafeFileError`), unreadable
            (`UnreadableFileError`) or invalid; the message names the
            file and the problem.

    Example:
        >>> state = load_checkpoint("runs/mutag.pt")
        >>> model.load_state_dict(state["model"])
    """
    state = safe_load(path, what="checkpoint")
    problem = _checkpoint_problem(state)
    if problem is not None:
        raise ValueError(f"checkpoint {path} is not a valid graphaug training checkpoint: "
                         f"{problem}; remove it (or pass the right file)")
    if epochs is not None and state["epochs"] != epochs:
        raise ValueError(f"checkpoint {path} was written for {state['epochs']} epochs, this run "
                         f"asks for {epochs}; remove it or match the config")
    return state


def load_weights(module: nn.Module, weights: dict, path: os.PathLike | str) -> None:
    """`module.load_state_dict(weights)` with a `ValueError` naming the checkpoint when the
    weights do not fit (missing/unexpected keys, other shapes: another dataset or width)."""
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
        detail = "; ".join(lines[:3]) + (f"; ... ({len(lines) - 3} more)" if len(lines) > 3 else "")
        raise ValueError(f"checkpoint {path} does not fit this model ({detail or error}): it was "
                         "written for another dataset, feature count or architecture; remove it "
                         "or match the config") from None


def _non_finite(value: float, epoch: int, step: int) -> None:
    raise ValueError(f"non-finite loss {value} at epoch {epoch}, step {step}; last checkpoint "
                     "kept")


def train(model: nn.Module, batches: Callable[[int], Iterable], optimizer: torch.optim.Optimizer,
          epochs: int, *, checkpoint: Optional[os.PathLike | str] = None,
          checkpoint_every: int = 1, generators: Optional[dict[str, torch.Generator]] = None,
          progress: bool = True, stop_after: Optional[int] = None,
          on_epoch_end: Optional[Callable[[int, float], None]] = None,
          grad_clip: Optional[float] = None, config: Optional[dict] = None,
          monitor: Optional[Callable[[int], dict]] = None) -> TrainHistory:
    r"""Train `model` (whose forward returns the loss) and return the mean loss per epoch.

    Args:
        model (nn.Module): `model(batch)` returns a scalar loss. Under a process group
            (`torchrun`) each rank passes its shard's batches; gradients are averaged over
            the ranks (by `DistributedDataParallel` when `model` is one), the reported loss
            is the mean over ranks and rank 0 alone writes the checkpoint, with every rank's
            RNG state (`graphaug.distributed`).
        batches (callable): `batches(epoch)` yields the batches of that epoch; its randomness
            must come from the global torch RNG or from `generators` so that resumes are exact.
        optimizer (Optimizer): optimizer over `model`'s parameters.
        epochs (int): total number of epochs.
        checkpoint (path, optional): checkpoint file; resumed from when it exists.
        checkpoint_every (int): save every this many epochs (and after the last one).
        generators (dict, optional): named `torch.Generator` s (e.g. the transforms') whose
            state is checkpointed too.
        progress (bool): show a tqdm progress bar.
        stop_after (int, optional): return after this many epochs *of this call* (simulates an
            interruption; the checkpoint then resumes the rest).
        on_epoch_end (callable, optional): `on_epoch_end(epoch, mean_loss)` after each epoch.
        grad_clip (float, optional): clip the global gradient norm.
        config (dict, optional): the run's configuration (JSON-like, may nest), stored in the
            checkpoint; resuming a checkpoint whose stored configuration differs is refused.
        monitor (callable, optional): `monitor(epoch) -> {name: float}` after each epoch
            (e.g. `CollapseMonitor`); the values go to
            `history.monitor` (and the checkpoint) and the progress bar. It must leave the
            weights and the global RNG as it found them.

    Returns:
        `TrainHistory`: the loss per epoch, with `seconds` summed across resumes.

    Raises:
        ValueError: bad `epochs`/`checkpoint_every`, a non-finite loss (the checkpoint of
            the last good epoch is kept; on one process the losses are read once per epoch, so
            it is raised at the end of that epoch and names the first bad step), or a
            checkpoint written for other `epochs` or another `config` (the message names the
            file and the differing fields).
    """
    if epochs < 1 or checkpoint_every < 1:
        raise ValueError(f"epochs and checkpoint_every must be >= 1, got {epochs}, "
                         f"{checkpoint_every}")
    start, history, seconds = 0, TrainHistory(), 0.0
    state = None
    if checkpoint is not None and Path(checkpoint).is_file():
        try:
            state = load_checkpoint(checkpoint, epochs=epochs)
        except UnreadableFileError as err:  # empty or truncated: start over, keep the file
            move_aside(checkpoint, str(err))
            state = None
    if state is not None:
        if config is not None:
            if state.get("config") is None:
                raise ValueError(f"checkpoint {checkpoint} stores no configuration, so it cannot "
                                 "be checked against this run's; remove it to start over")
            changed = config_differences(state["config"], config)
            if changed:
                fields = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
                raise ValueError(f"checkpoint {checkpoint} was written under another "
                                 f"configuration ({fields}); remove it or match the config")
        load_weights(_dist.unwrap(model), state["model"], checkpoint)
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, RuntimeError) as error:
            raise ValueError(f"checkpoint {checkpoint}: its optimizer state does not fit this "
                             f"optimizer ({error}); remove it or match the config") from None
        lacking = sorted(set(generators or {}) - set(state.get("rng", {}).get("generators", {})))
        if lacking:
            raise ValueError(f"checkpoint {checkpoint} holds no state for the generator(s) "
                             f"{', '.join(lacking)} of this run; remove it or match the config")
        # Several ranks: each resumes its own RNG streams (a rank-count mismatch is refused).
        set_rng_state(_dist.restore_rng(state.get("rank_rng", [state.get("rng")]),
                                        f"checkpoint {checkpoint}"), generators)
        start, seconds = state["epoch"], float(state.get("seconds", 0.0))
        history.extend(state["history"])
        history.monitor = list(state.get("monitor", []))
    history.resumed_from = start
    call_started = time.perf_counter()
    bar = range(start, epochs)
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(bar, initial=start, total=epochs, desc="train", leave=False)
    done_this_call = 0
    for epoch in bar:
        model.train()
        # One process: the step losses stay on the device and are read once per epoch (a
        # per-step .item() is a host sync that stalls an accelerator every step). Several
        # ranks: each step's loss is all-reduced anyway (the global batch's loss).
        values: list = []
        for batch in batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = model(batch)
            if _dist.is_active():
                value = _dist.mean_loss(loss)
                if not math.isfinite(value):
                    _non_finite(value, epoch, len(values))
                values.append(value)
            else:
                values.append(loss.detach().reshape(()))  # a scalar, as .item() requires
            loss.backward()
            _dist.sync_gradients(model)
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        if not values:
            raise ValueError(f"epoch {epoch} produced no batches")
        if not _dist.is_active():
            values = torch.stack(values).double().tolist()  # the one sync of the epoch
            bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
            if bad is not None:
                _non_finite(values[bad], epoch, bad)
        history.append(sum(values) / len(values))  # summed in order, as floats: as before
        if monitor is not None:
            history.monitor.append(dict(monitor(epoch)))
        if progress:
            bar.set_postfix(loss=f"{history[-1]:.4f}", **{k: f"{v:.3g}" for k, v in (
                history.monitor[-1].items() if monitor is not None else ())})
        if on_epoch_end is not None:
            on_epoch_end(epoch, history[-1])
        finished = epoch + 1
        if checkpoint is not None and (finished % checkpoint_every == 0 or finished == epochs):
            rng = rng_state(generators)
            extra = {"rank_rng": _dist.checkpoint_rng(rng)} if _dist.is_active() else {}
            _dist.save_on_main(checkpoint, {  # rank 0 writes; every rank waits for the file
                "model": _dist.unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                "rng": rng, "epoch": finished, "epochs": epochs,
                "history": list(history), "config": config, "monitor": history.monitor,
                "seconds": seconds + time.perf_counter() - call_started, **extra},
                atomic_torch_save)
        done_this_call += 1
        if stop_after is not None and done_this_call >= stop_after:
            break
    history.seconds = seconds + time.perf_counter() - call_started
    return history
