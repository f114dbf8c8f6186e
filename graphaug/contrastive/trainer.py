"""A modality-agnostic contrastive training loop: seeded, resumable, with a progress bar.

``train(model, batches, optimizer, epochs)`` calls ``loss = model(batch)`` for every batch of
every epoch. With ``checkpoint=`` it saves model, optimizer, history and every RNG state at the
end of each ``checkpoint_every`` epochs (atomically) and, when the file exists, resumes from it,
so an interrupted run ends with exactly the same weights as an uninterrupted one. The checkpoint
also stores the run's ``config`` (a resume under another configuration is refused, naming the
fields) and the training seconds so far (``TrainHistory.seconds`` adds up across resumes); an
unreadable checkpoint is moved aside to ``<file>.corrupt`` and training restarts.
"""
from __future__ import annotations

import math
import os
import pickle
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch
from torch import nn

from .. import distributed as _dist
from ..utils import atomic_torch_save, move_aside, rng_state, set_rng_state

__all__ = ["train", "TrainHistory", "config_differences"]


class TrainHistory(list):
    """The mean loss per epoch (a plain list) plus ``seconds``: the wall time of the training
    loop summed over every call that produced these epochs (resumes included),
    ``resumed_from``: the epoch this call started at, and ``monitor``: one dict per epoch from
    ``train``'s ``monitor`` (empty without one)."""

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
    """``{dotted.field: (old, new)}`` of every leaf that differs between two (nested) config
    dicts; a field missing on one side shows as ``None`` there."""
    a, b = _flatten(old), _flatten(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


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
    r"""Train ``model`` (whose forward returns the loss) and return the mean loss per epoch.

    Args:
        model (nn.Module): ``model(batch)`` returns a scalar loss. Under a process group
            (``torchrun``) each rank passes its shard's batches; gradients are averaged over
            the ranks (by ``DistributedDataParallel`` when ``model`` is one), the reported loss
            is the mean over ranks and rank 0 alone writes the checkpoint, with every rank's
            RNG state (:mod:`graphaug.distributed`).
        batches (callable): ``batches(epoch)`` yields the batches of that epoch; its randomness
            must come from the global torch RNG or from ``generators`` so that resumes are exact.
        optimizer (Optimizer): optimizer over ``model``'s parameters.
        epochs (int): total number of epochs.
        checkpoint (path, optional): checkpoint file; resumed from when it exists.
        checkpoint_every (int): save every this many epochs (and after the last one).
        generators (dict, optional): named ``torch.Generator`` s (e.g. the transforms') whose
            state is checkpointed too.
        progress (bool): show a tqdm progress bar.
        stop_after (int, optional): return after this many epochs *of this call* (simulates an
            interruption; the checkpoint then resumes the rest).
        on_epoch_end (callable, optional): ``on_epoch_end(epoch, mean_loss)`` after each epoch.
        grad_clip (float, optional): clip the global gradient norm.
        config (dict, optional): the run's configuration (JSON-like, may nest), stored in the
            checkpoint; resuming a checkpoint whose stored configuration differs is refused.
        monitor (callable, optional): ``monitor(epoch) -> {name: float}`` after each epoch
            (e.g. :class:`~graphaug.contrastive.CollapseMonitor`); the values go to
            ``history.monitor`` (and the checkpoint) and the progress bar. It must leave the
            weights and the global RNG as it found them.

    Returns:
        :class:`TrainHistory`: the loss per epoch, with ``seconds`` summed across resumes.

    Raises:
        ValueError: bad ``epochs``/``checkpoint_every``, a non-finite loss (the checkpoint of
            the last good epoch is kept; on one process the losses are read once per epoch, so
            it is raised at the end of that epoch and names the first bad step), or a
            checkpoint written for other ``epochs`` or another ``config`` (the message names the
            file and the differing fields).
    """
    if epochs < 1 or checkpoint_every < 1:
        raise ValueError(f"epochs and checkpoint_every must be >= 1, got {epochs}, "
                         f"{checkpoint_every}")
    start, history, seconds = 0, TrainHistory(), 0.0
    state = None
    if checkpoint is not None and Path(checkpoint).is_file():
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=False)
            if not isinstance(state, dict) or "model" not in state:
                raise ValueError("not a training checkpoint")
        except (EOFError, RuntimeError, ValueError, pickle.UnpicklingError,
                zipfile.BadZipFile) as err:  # empty or truncated: start over, keep the file
            move_aside(checkpoint, f"{type(err).__name__}: {err}")
            state = None
    if state is not None:
        if state.get("epochs") != epochs:
            raise ValueError(f"checkpoint {checkpoint} was written for {state.get('epochs')} "
                             f"epochs, this run asks for {epochs}; remove it or match the config")
        if config is not None:
            if state.get("config") is None:
                raise ValueError(f"checkpoint {checkpoint} stores no configuration, so it cannot "
                                 "be checked against this run's; remove it to start over")
            changed = config_differences(state["config"], config)
            if changed:
                fields = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
                raise ValueError(f"checkpoint {checkpoint} was written under another "
                                 f"configuration ({fields}); remove it or match the config")
        _dist.unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        # Several ranks: each resumes its own RNG streams (a rank-count mismatch is refused).
        set_rng_state(_dist.restore_rng(state.get("rank_rng", [state["rng"]]),
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
