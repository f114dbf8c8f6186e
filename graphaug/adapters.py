"""One target-index convention for every modality (DESIGN §1).

``0`` = the input features after any embedding (Transformer ``embeddings``, ResNet stem),
``1..L`` = the output of block / stage ``i``, ``L+1`` = the output of the projection head. The
adapters find these modules inside the user's own model (no forked model code) and attach a
transform with :func:`graphaug.attach`, so every modality goes through the same hook.

Recognised layouts (searched from the model itself down, shallowest match first, so wrappers
such as ``BertForSequenceClassification.bert`` or a SimCLR module holding a ResNet work):

* **Transformer** (BERT family: BERT, RoBERTa, MiniLM, ELECTRA; DistilBERT): ``embeddings`` and
  ``encoder.layer.i`` (or ``transformer.layer.i``). Activations are ``[B, T, d]`` (tuple outputs
  are handled); the ``attention_mask`` of each forward call is captured so that padding tokens
  are never transformed and never enter PCA statistics.
* **ResNet** (graphaug's :class:`~graphaug.resnet.SmallResNet`, torchvision-style ResNets):
  ``stem`` (or ``maxpool``), ``layer1..layer4``; head ``head`` (or ``fc``). The pooled feature
  (``pool`` / ``avgpool``) is reachable by name. Activations are ``[B, C, H, W]``; choose PCA rows
  with ``ActivationPCA(pca_rows="sample" | "position")``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Optional, Union

from torch import Tensor, nn

from .hooks import AttachHandle, TensorSource, resolve_module
from .transforms import ActivationTransform

__all__ = ["TargetLayout", "TargetHandle", "find_layout", "target_names", "resolve_target",
           "attach_target"]

# (kind, input module, block container, name of the mask argument of the root's forward)
_TRANSFORMER_BLOCKS = ("encoder.layer", "transformer.layer")
_RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


@dataclass(frozen=True)
class TargetLayout:
    """Where the target indices of a model live.

    Attributes:
        kind (str): ``"transformer"`` or ``"resnet"``.
        root (str): dotted name of the matched submodule (``""`` = the model itself).
        names (tuple of str): dotted module name of target ``i`` (relative to the model).
        extra (dict): further named targets (e.g. ``"pool"``), not part of the index range.
        num_layers (int): ``L``, the number of blocks / stages.
        has_head (bool): whether index ``L+1`` exists.
    """

    kind: str
    root: str
    names: tuple[str, ...]
    extra: dict
    num_layers: int
    has_head: bool

    def __repr__(self) -> str:
        head = ", head" if self.has_head else ""
        return f"TargetLayout({self.kind}, root={self.root!r}, L={self.num_layers}{head})"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _get(module: nn.Module, dotted: str) -> Optional[nn.Module]:
    for part in dotted.split("."):
        module = getattr(module, part, None)
        if not isinstance(module, nn.Module):
            return None
    return module


def _first_present(module: nn.Module, names: tuple[str, ...]) -> Optional[str]:
    return next((n for n in names if _get(module, n) is not None), None)


def _match_transformer(module: nn.Module) -> Optional[tuple[str, str, int]]:
    if _get(module, "embeddings") is None:
        return None
    for blocks in _TRANSFORMER_BLOCKS:
        container = _get(module, blocks)
        if isinstance(container, nn.ModuleList) and len(container) > 0:
            return "embeddings", blocks, len(container)
    return None


def _match_resnet(module: nn.Module) -> Optional[str]:
    if not all(_get(module, s) is not None for s in _RESNET_STAGES):
        return None
    return _first_present(module, ("stem", "maxpool"))


def find_layout(model: nn.Module, head: Optional[str] = None) -> TargetLayout:
    r"""Locate the target modules of ``model``.

    Args:
        model (nn.Module): a BERT-family Transformer or a ResNet, possibly wrapped.
        head (str, optional): dotted name (relative to ``model``) of the projection head, target
            ``L+1``. Default: the ResNet's own ``head`` / ``fc`` if present; none for Transformers.

    Raises:
        ValueError: when no known layout is found, or ``head`` names no submodule.

    Example:
        >>> find_layout(SmallResNet(head_dim=16)).names
        ('stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head')
    """
    for prefix, module in model.named_modules():
        match = _match_transformer(module)
        if match is not None:
            inputs, blocks, count = match
            names = [_join(prefix, inputs)] + [_join(prefix, f"{blocks}.{i}")
                                               for i in range(count)]
            extra: dict = {}
            kind = "transformer"
            break
        stem = _match_resnet(module)
        if stem is not None:
            names = [_join(prefix, stem)] + [_join(prefix, s) for s in _RESNET_STAGES]
            pool = _first_present(module, ("pool", "avgpool"))
            extra = {"pool": _join(prefix, pool)} if pool else {}
            if head is None:
                own = _first_present(module, ("head", "fc"))
                head = _join(prefix, own) if own else None
            kind = "resnet"
            break
    else:
        raise ValueError(
            f"{type(model).__name__} has no recognised block layout: expected a BERT-family "
            "Transformer (`embeddings` + `encoder.layer.i`) or a ResNet (`stem`/`maxpool` + "
            "`layer1..layer4`) somewhere inside it; for other models use graphaug.attach(model, "
            "'dotted.name', transform) with the module name directly")
    if head is not None:
        resolve_module(model, head)  # clear error when the head name is wrong
        names.append(head)
    return TargetLayout(kind, prefix, tuple(names), extra, len(names) - 1 - (head is not None),
                        head is not None)


def target_names(model: nn.Module, head: Optional[str] = None) -> list[str]:
    """Dotted module name of every target index ``0..L(+1)`` of ``model`` (see
    :func:`find_layout`).

    Example:
        >>> target_names(bert)[:3]
        ['embeddings', 'encoder.layer.0', 'encoder.layer.1']
    """
    return list(find_layout(model, head).names)


def resolve_target(model: nn.Module, target: Union[int, str], head: Optional[str] = None
                   ) -> tuple[TargetLayout, Optional[int], str]:
    """Return ``(layout, index, module_name)`` of ``target`` (an index or a module name; the
    index is ``None`` for names outside the index range, such as ``"pool"``).

    Raises:
        ValueError: out-of-range index, or a name that is not a submodule of ``model``.
    """
    layout = find_layout(model, head)
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise ValueError(f"target must be an int index or a module name, got {target!r}")
    if isinstance(target, int):
        n = len(layout.names)
        if not 0 <= target < n:
            head_msg = ", L+1 = projection head" if layout.has_head else \
                " (no projection head: pass head='dotted.name' to add one)"
            raise ValueError(f"target {target} is out of range for {type(model).__name__} with "
                             f"L = {layout.num_layers} {layout.kind} blocks: valid targets are "
                             f"0..{n - 1} (0 = input/stem, 1..L = block outputs{head_msg})")
        return layout, target, layout.names[target]
    name = layout.extra.get(target, target)
    resolve_module(model, name)
    index = layout.names.index(name) if name in layout.names else None
    return layout, index, name


def _mask_capture(root: nn.Module, state: dict) -> Callable:
    """A forward pre-hook (with kwargs) that stores ``attention_mask`` of each call of ``root``."""
    signature = inspect.signature(root.forward)

    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            bound = kwargs
        mask = bound.get("attention_mask")
        state["mask"] = mask if isinstance(mask, Tensor) and mask.dim() == 2 else None

    return hook


class TargetHandle(AttachHandle):
    r"""An :class:`~graphaug.hooks.AttachHandle` placed by target index; for Transformers it
    also captures each forward's ``attention_mask`` (removed together with the transform)."""

    def __init__(self, model: nn.Module, layout: TargetLayout, index: Optional[int], name: str,
                 transform: ActivationTransform, *, batch: TensorSource = None,
                 mask: TensorSource = None) -> None:
        self.layout, self.index = layout, index
        self._state: dict = {"mask": None}
        capture = mask is None and layout.kind == "transformer"
        if capture:
            mask = lambda: self._state["mask"]  # noqa: E731 - read at call time
        super().__init__(model, name, transform, batch=batch, mask=mask)
        if capture:
            root = resolve_module(model, layout.root)
            self._handles.append(root.register_forward_pre_hook(
                _mask_capture(root, self._state), with_kwargs=True))

    def __repr__(self) -> str:
        return (f"TargetHandle({self.index}, {self.name!r}, {self.transform!r}, "
                f"attached={self.attached})")


def attach_target(model: nn.Module, target: Union[int, str], transform: ActivationTransform, *,
                  head: Optional[str] = None, batch: TensorSource = None,
                  mask: TensorSource = None) -> TargetHandle:
    r"""Apply ``transform`` at target ``target`` of a Transformer or ResNet, by index or name.

    Args:
        model (nn.Module): the user's model (e.g. a HF ``BertModel`` / ``AutoModel`` or any
            wrapper around one, or a ResNet).
        target (int or str): ``0`` = embeddings / stem, ``1..L`` = output of block / stage ``i``,
            ``L+1`` = projection head (needs a head); or a module name such as ``"pool"`` or
            ``"encoder.layer.3"``.
        transform (ActivationTransform): e.g. ``ActivationDropout(0.125)``,
            ``ActivationPCA(k=1, pca_rows="position")``.
        head (str, optional): dotted name of the projection head (see :func:`find_layout`).
        batch (Tensor or callable, optional): row grouping, passed to :func:`graphaug.attach`.
        mask (Tensor or callable, optional): ``[B, T]`` valid tokens. Default for Transformers:
            the ``attention_mask`` of the current forward call (padding is never transformed and
            never enters PCA statistics); none for ResNets.

    Shapes:
        Transformer targets ``[B, T, d]`` (or a tuple whose first item is); ResNet stages
        ``[B, C, H, W]``; pool / head ``[B, d]``.

    Returns:
        TargetHandle: ``.remove()`` it, or use it as a context manager.

    Raises:
        ValueError: unknown layout, out-of-range index, or unknown name.

    Example:
        >>> bert = transformers.AutoModel.from_pretrained(path)
        >>> with attach_target(bert, 3, ActivationDropout(0.125)):
        ...     out = bert(**tokenizer(sentences, padding=True, return_tensors="pt"))
    """
    layout, index, name = resolve_target(model, target, head)
    return TargetHandle(model, layout, index, name, transform, batch=batch, mask=mask)
