"""A modality-agnostic contrastive training loop: seeded, resumable, with a progress bar.

``train(model, batches, optimizer, epochs)`` calls ``loss = model(batch)`` for every batch of
every epoch. With ``checkpoint=`` it saves model, optimizer, history and every RNG state at the
end of each ``checkpoint_every`` epochs (atomically) and, when the file exists, resumes from it,
so an interrupted run ends with exactly the same weights as an uninterrupted one.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch
from torch import nn

from ..utils import atomic_torch_save, rng_state, set_rng_state

__all__ = ["train"]


def train(model: nn.Module, batches: Callable[[int], Iterable], optimizer: torch.optim.Optimizer,
          epochs: int, *, checkpoint: Optional[os.PathLike | str] = None,
          checkpoint_every: int = 1, generators: Optional[dict[str, torch.Generator]] = None,
          progress: bool = True, stop_after: Optional[int] = None,
          on_epoch_end: Optional[Callable[[int, float], None]] = None,
          grad_clip: Optional[float] = None) -> list[float]:
    r"""Train ``model`` (whose forward returns the loss) and return the mean loss per epoch.

    Args:
        model (nn.Module): ``model(batch)`` returns a scalar loss.
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

    Raises:
        ValueError: bad ``epochs``/``checkpoint_every``, or a non-finite loss (the checkpoint of
            the last good epoch is kept).
    """
    if epochs < 1 or checkpoint_every < 1:
        raise ValueError(f"epochs and checkpoint_every must be >= 1, got {epochs}, "
                         f"{checkpoint_every}")
    start, history = 0, []
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state.get("epochs") != epochs:
            raise ValueError(f"checkpoint {checkpoint} was written for {state.get('epochs')} "
                             f"epochs, this run asks for {epochs}; remove it or match the config")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"], generators)
        start, history = state["epoch"], list(state["history"])
    bar = range(start, epochs)
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(bar, initial=start, total=epochs, desc="train", leave=False)
    done_this_call = 0
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for batch in batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = model(batch)
            value = loss.item()
            if not math.isfinite(value):
                raise ValueError(f"non-finite loss {value} at epoch {epoch}; last "
                                 "checkpoint kept")
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            total, count = total + value, count + 1
        if count == 0:
            raise ValueError(f"epoch {epoch} produced no batches")
        history.append(total / count)
        if progress:
            bar.set_postfix(loss=f"{history[-1]:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history[-1])
        finished = epoch + 1
        if checkpoint is not None and (finished % checkpoint_every == 0 or finished == epochs):
            atomic_torch_save(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": rng_state(generators), "epoch": finished, "epochs": epochs,
                "history": history})
        done_this_call += 1
        if stop_after is not None and done_this_call >= stop_after:
            break
    return history
