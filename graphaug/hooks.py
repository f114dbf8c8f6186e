"""Attach an activation transform to a named submodule of any ``nn.Module``.

The transform runs on the submodule's output through a forward hook, between blocks, never
inside one. It works on Transformer layers (tuple outputs), ResNet stages (``[B, C, H, W]``),
PyG/DGL convolutions or anything else whose output (or first output) is a tensor.
"""
from __future__ import annotations

import difflib
from typing import Callable, Optional, Union

import torch
from torch import Tensor, nn

from .transforms import ActivationTransform

__all__ = ["attach", "AttachHandle", "HookHandle", "resolve_module"]

TensorSource = Union[None, Tensor, Callable[[], Optional[Tensor]]]


def resolve_module(model: nn.Module, name: str) -> nn.Module:
    """Return ``model``'s submodule called ``name`` (dotted path, ``""`` = the model itself).

    Raises:
        ValueError: when no such submodule exists; the message lists the closest names.
    """
    if not isinstance(name, str):
        raise ValueError(f"module name must be a dotted string, got {name!r}")
    modules = dict(model.named_modules())
    if name in modules:
        return modules[name]
    close = difflib.get_close_matches(name, [n for n in modules if n], n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"{type(model).__name__} has no submodule named {name!r}{hint}")


def _resolve(source: TensorSource) -> Optional[Tensor]:
    return source() if callable(source) else source


def _shared_names(model: nn.Module, module: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules(remove_duplicate=False) if m is module]


class HookHandle:
    """A group of torch hooks removed together; usable as a context manager."""

    def __init__(self) -> None:
        self._handles: list = []

    def remove(self) -> None:
        """Remove every hook; safe to call twice."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class AttachHandle(HookHandle):
    r"""A transform attached to one submodule; remove it with :meth:`remove` or use it as a
    context manager (removed on exit, also when the body raises).

    The transform is active while the hooked submodule is in training mode (or when the
    transform is forced). A module that runs more than once in one forward of the model
    (a shared module, e.g. PyG ``BasicGNN.act``) is refused at run time with a clear error
    unless ``allow_repeated_calls=True``: the target index would be ambiguous.
    """

    def __init__(self, model: nn.Module, name: str, transform: ActivationTransform, *,
                 batch: TensorSource = None, mask: TensorSource = None, output_index: int = 0,
                 allow_repeated_calls: bool = False) -> None:
        if not isinstance(transform, ActivationTransform):
            raise ValueError("transform must be a graphaug ActivationTransform, got "
                             f"{type(transform).__name__}")
        self.model, self.name, self.transform = model, name, transform
        self.module = resolve_module(model, name)
        names = _shared_names(model, self.module)
        if len(names) > 1 and not allow_repeated_calls:
            raise ValueError(f"submodule {name!r} is registered under several names {names}: it "
                             "is shared, so the target layer is ambiguous; attach to a per-layer "
                             "module instead (or pass allow_repeated_calls=True)")
        self.batch, self.mask, self.output_index = batch, mask, int(output_index)
        self.allow_repeated_calls = allow_repeated_calls
        self._calls = 0
        self._in_model_forward = False
        super().__init__()
        self._handles = [self.module.register_forward_hook(self._hook, with_kwargs=True)]
        if self.module is not model:
            self._handles.append(model.register_forward_pre_hook(self._enter_model))
            self._handles.append(model.register_forward_hook(self._leave_model, always_call=True))

    # -- model-level bookkeeping (repeated-call detection) ------------------------------------
    def _enter_model(self, module, args) -> None:
        self._calls, self._in_model_forward = 0, True

    def _leave_model(self, module, args, output) -> None:
        self._in_model_forward = False

    # -- the hook -------------------------------------------------------------------------------
    def _hook(self, module: nn.Module, args, kwargs, output):
        if self._in_model_forward:
            self._calls += 1
            if self._calls > 1 and not self.allow_repeated_calls:
                raise RuntimeError(
                    f"submodule {self.name!r} ran {self._calls} times in one forward of "
                    f"{type(self.model).__name__}: it is shared between layers (like PyG "
                    "BasicGNN's single `act`), so 'the output of layer i' is ambiguous. Attach "
                    "to a per-layer module (e.g. 'convs.1'), use graphaug.nn.attach_layer for "
                    "BasicGNN models, or pass allow_repeated_calls=True to transform every call")
        if not self.transform.is_active(module.training):
            return output
        batch = _resolve(self.batch)
        if batch is None and isinstance(kwargs.get("batch"), Tensor):
            batch = kwargs["batch"]  # graphaug taps and PyG-style calls pass the grouping
        mask = _resolve(self.mask)
        call = lambda t: self.transform(t, batch=batch, mask=mask, training=True)  # noqa: E731
        if isinstance(output, Tensor):
            return call(output)
        if isinstance(output, (tuple, list)) and output and isinstance(
                output[self.output_index], Tensor):
            items = list(output)
            items[self.output_index] = call(items[self.output_index])
            return type(output)(items) if isinstance(output, list) else tuple(items)
        raise TypeError(f"cannot transform the output of {self.name!r}: expected a Tensor or a "
                        f"tuple/list whose item {self.output_index} is a Tensor, got "
                        f"{type(output).__name__}")

    def __repr__(self) -> str:
        return f"AttachHandle({self.name!r}, {self.transform!r}, attached={self.attached})"


def attach(model: nn.Module, name: str, transform: ActivationTransform, *,
           batch: TensorSource = None, mask: TensorSource = None, output_index: int = 0,
           allow_repeated_calls: bool = False) -> AttachHandle:
    r"""Apply ``transform`` to the output of ``model``'s submodule ``name``.

    Args:
        model (nn.Module): any model.
        name (str): dotted submodule name, e.g. ``"encoder.layer.8"`` or ``"layer3"``.
        transform (ActivationTransform): e.g. :class:`~graphaug.ActivationDropout`.
        batch (Tensor or callable, optional): ``[N]`` sample index of each output row (or a
            zero-argument callable returning it at call time). Default: the ``batch=`` keyword
            of the hooked call if there is one, else each index along dim 0 is one sample.
        mask (Tensor or callable, optional): ``[B, T]`` valid positions (e.g. attention mask).
        output_index (int): which item of a tuple output is the hidden state (default 0).
        allow_repeated_calls (bool): transform every call of a module that runs several times
            per forward instead of refusing.

    Returns:
        AttachHandle: call ``.remove()`` or use as a context manager.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> with attach(net, "1", ActivationDropout(0.5, apply_prob=1.0)):
        ...     out = net(torch.randn(3, 4))
    """
    return AttachHandle(model, name, transform, batch=batch, mask=mask,
                        output_index=output_index, allow_repeated_calls=allow_repeated_calls)
