"""The one hook that places an activation transform, and its handle.

What a sample is comes from the running call, by one rule for every layout and for targets
given by name:

* rows whose count equals the node count of the graphs found in a running call (PyG `batch`,
  `ptr`, `Data`/`Batch`, a DGL graph) are grouped by graph: `[N, d]` and `[N, heads,
  F]` alike (the latter transformed as `[N, heads * F]` rows);
* `[B, T, d]` token states and `[B, N_max, F]` dense graph batches take their real rows from
  a mask of the calls (`attention_mask`, a key padding mask, a dense conv's `mask`) or from
  the graphs in the call (`to_dense_batch`); padding is never transformed and never enters
  the PCA statistics, and dim 0 is the sample;
* rows equal in number to the graphs are graph-level (after a readout): one row per sample;
* node rows of a GNN with no grouping anywhere, or of one graph that is not a batch, raise and
  say what to pass (`batch="rows"` for a node-level task, `batch="graph"` for one sample);
* anything else (images, heads, plain modules) is split along dim 0.
"""
from __future__ import annotations

import sys
import weakref
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor, nn

from ..transforms import ActivationTransform
from .grouping import Grouping, call_signature, grouping_from_call, valid_tokens
from .layouts import Site, _CONTAINERS, is_graph_model, resolve_module

__all__ = ["AttachHandle"]

TensorSource = Union[None, str, Tensor, Callable[[], Optional[Tensor]]]

# batch= words: node rows are the samples (a node-level task), or the call's graph(s) are
_BATCH_WORDS = ("rows", "graph")

# Live attachments per module: the same transform twice on one site would apply twice.
_LIVE: "weakref.WeakKeyDictionary[nn.Module, list]" = weakref.WeakKeyDictionary()


class _Inert:
    """What a copy (`copy.deepcopy`, pickle, `torch.save`) of an attached model holds in
    place of a live hook: it does nothing and removes itself from the module on its first call,
    so an EMA / target encoder made by copying never augments."""

    def __call__(self, module: nn.Module, *args: Any) -> None:
        for hooks in (module._forward_hooks, module._forward_pre_hooks):
            for key in [k for k, v in hooks.items() if v is self]:
                del hooks[key]
                for extra in ("_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                              "_forward_pre_hooks_with_kwargs"):
                    getattr(module, extra, {}).pop(key, None)
        return None


class _Hook:
    """A hook function that does not survive copying (see `_Inert`)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __deepcopy__(self, memo: dict) -> _Inert:
        return _Inert()

    def __reduce__(self):
        return (_Inert, ())


def _first_tensor(output: Any) -> Optional[Tensor]:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    if isinstance(output, Mapping) and output:
        first = next(iter(output.values()))
        return first if isinstance(first, Tensor) else None
    return None


def _replace_first(output: Any, value: Tensor) -> Any:
    if isinstance(output, Tensor):
        return value
    if isinstance(output, (tuple, list)):
        items = [value, *output[1:]]
        return items if isinstance(output, list) else type(output)(items) \
            if type(output) is tuple else type(output)(*items)
    output[next(iter(output.keys()))] = value  # a fresh ModelOutput-style mapping
    return output


class AttachHandle:
    r"""A transform attached at one `Site` of a model.

    Made by `graphaug.attach`; remove it with `remove` or use it as a context
    manager (removed on exit, also when the body raises). The transform runs while the hooked
    module is in training mode (or when the transform is forced).

    Attributes:
        model (nn.Module): the model attached to.
        site (Site): where the transform runs (module, input or output, which call).
        transform (ActivationTransform): the transform.
    """

    def __init__(self, model: nn.Module, site: Site, transform: ActivationTransform, *,
                 batch: TensorSource = None, mask: TensorSource = None,
                 every_call: bool = False) -> None:
        if not isinstance(transform, ActivationTransform):
            raise ValueError("transform must be a graphaug ActivationTransform (e.g. "
                             f"ga.ActivationDropout(0.25)), got {type(transform).__name__}")
        if isinstance(batch, str) and batch not in _BATCH_WORDS:
            raise ValueError(f"batch must be a tensor, a callable, 'rows', 'graph' or None, got "
                             f"{batch!r}")
        self.model, self.site, self.transform = model, site, transform
        self.batch, self.mask, self.every_call = batch, mask, bool(every_call)
        self._word = batch if isinstance(batch, str) else None  # "rows" / "graph"
        self._modules = dict(model.named_modules())  # one walk of the tree for every lookup
        self.module = self._lookup(site.module)
        live = _LIVE.setdefault(self.module, [])
        if any(h.transform is transform and h.site.call == site.call for h in live):
            raise ValueError(f"{transform!r} is already attached to {site.describe()!r}; "
                             "attaching it twice would apply it twice. Remove the first handle "
                             "or use a second transform object")
        self.node_level = site.node_level if site.node_level is not None \
            else is_graph_model(model)
        self._signature = call_signature(self.module)
        self._stack: list[Grouping] = []
        self._calls, self._owner_depth, self._saved_calls = 0, 0, []
        self._owner = self._lookup(site.owner)
        self._handles: list = []
        for name, context in self._contexts():
            signature = call_signature(context)
            self._handles.append(context.register_forward_pre_hook(
                _Hook(self._enter(name, signature)), with_kwargs=True))
            self._handles.append(context.register_forward_hook(_Hook(self._leave),
                                                               always_call=True))
        if site.where == "input":
            # prepend: hooks of the model's own (e.g. transformers' output_hidden_states
            # recorders, installed on first use) then see the transformed tensor
            self._handles.append(self.module.register_forward_pre_hook(
                _Hook(self._on_input), with_kwargs=True, prepend=True))
        else:
            self._handles.append(self.module.register_forward_hook(
                _Hook(self._on_output), with_kwargs=True, prepend=True))
        live.append(self)

    def _lookup(self, name: str) -> nn.Module:
        module = self._modules.get(name)
        return module if module is not None else resolve_module(self.model, name)

    def _contexts(self) -> list[tuple[str, nn.Module]]:
        """Enclosing modules whose calls may carry the grouping (and the owner, which counts
        calls), outermost first; containers never run a forward."""
        parts = self.site.module.split(".") if self.site.module else []
        names = [".".join(parts[:i]) for i in range(len(parts))]
        if self.site.owner not in names:
            names.append(self.site.owner)
        out = []
        for name in names:
            module = self._lookup(name)
            if not isinstance(module, _CONTAINERS) and module is not self.module:
                out.append((name, module))
        return out

    # -- context bookkeeping --------------------------------------------------------------------
    def _enter(self, name: str, signature) -> Callable:
        def enter(module: nn.Module, args: tuple, kwargs: dict) -> None:
            self._stack.append(grouping_from_call(signature, args, kwargs, name or "<model>"))
            if module is self._owner:
                self._saved_calls.append(self._calls)
                self._calls = 0
                self._owner_depth += 1
        return enter

    def _leave(self, module: nn.Module, args: tuple, output: Any) -> None:
        if not self._stack:
            return
        self._stack.pop()
        if module is self._owner and self._saved_calls:
            calls, self._calls = self._calls, self._saved_calls.pop()
            self._owner_depth -= 1
            # GNN layers always run (heads may be skipped, Transformers may drop layers); a
            # forward that raised is reported by its own error (this runs inside its except)
            active = self.transform.is_active(self.module.training)
            if self.site.node_level and calls <= (self.site.call or 0) and active \
                    and sys.exc_info()[0] is None:
                raise RuntimeError(
                    f"{self.site.describe()!r} ran {calls} time(s) during the forward of "
                    f"{self.site.owner or '<model>'!r}, so the transform was never applied: the "
                    "model calls something else in its place (PyG's DeepGCN example calls "
                    "layers[0].conv, not layers[0]). Attach to a target that runs "
                    "(ga.targets(model) lists them) or by the name of the module that does")

    def _selected_call(self) -> bool:
        if self._owner_depth == 0:  # called outside its owner: every call stands alone
            return True
        index, self._calls = self._calls, self._calls + 1
        if self.site.call is not None:
            return index == self.site.call
        if index > 0 and not self.every_call:
            raise RuntimeError(
                f"{self.site.describe()!r} ran {index + 1} times in one forward of its owner "
                f"{self.site.owner or '<model>'!r}: it is shared between layers (like PyG "
                "BasicGNN's `act`), so 'its output' is ambiguous. Attach by target index "
                "(ga.targets(model) lists them), to a per-layer module, or pass every_call=True "
                "when each call is a separate input (a view)")
        return True

    # -- the transform ------------------------------------------------------------------------
    def _grouping(self, args: tuple, kwargs: dict) -> tuple[Grouping, list[Tensor]]:
        """The graph grouping of the innermost call that has one (or the one given to attach),
        and every mask of the running calls, innermost first."""
        own = grouping_from_call(self._signature, args, kwargs, self.site.module)
        graphs, masks = Grouping(), []
        for found in (own, *reversed(self._stack)):
            if graphs.batch is None and found.batch is not None:
                graphs = found
            if found.mask is not None:
                masks.append(found.mask)
        if self.batch is not None and self._word is None:
            graphs = Grouping(batch=self._value(self.batch), source="batch=")
        elif self._word == "rows":
            graphs = Grouping(source="batch='rows'")
        if self.mask is not None:
            masks = [self._value(self.mask)]
        return graphs, masks

    @staticmethod
    def _value(source: Any) -> Optional[Tensor]:
        return source() if callable(source) else source

    def _by_graph(self, x: Tensor, batch: Optional[Tensor], num: Optional[int]) -> Tensor:
        """Node rows `[N, ...]` grouped by `batch` (`None`: every row is a sample); an
        `[N, heads, F]` activation is transformed as `[N, heads * F]` rows."""
        rows = x if x.dim() == 2 else x.reshape(x.size(0), -1)
        out = self.transform(rows, batch=batch, num_samples=num, training=True)
        return out if x.dim() == 2 else out.view(x.shape)

    @staticmethod
    def _dense_mask(x: Tensor, masks: list[Tensor], graphs: Grouping) -> Optional[Tensor]:
        """`[B, T]` real positions of a 3-D activation: the innermost mask of the calls whose
        shape matches (a block may get a broadcast `[1, 1, T, T]`), else, for a dense batch
        `[B, N_max, F]` of the graphs in the call (`to_dense_batch`), their real nodes."""
        for mask in masks:
            valid = valid_tokens(mask)
            if tuple(valid.shape) == tuple(x.shape[:2]):
                return valid.to(x.device)
        batch = graphs.batch
        if batch is None or batch.numel() in (0, x.size(0)):
            return None
        counts = torch.bincount(batch, minlength=graphs.num_samples or 0)
        if counts.numel() != x.size(0) or int(counts.max()) != x.size(1):
            return None
        return (torch.arange(x.size(1), device=counts.device) < counts[:, None]).to(x.device)

    def _apply(self, x: Tensor, args: tuple, kwargs: dict) -> Tensor:
        """One rule for every layout: rows whose count equals the node count of the graphs in
        a running call are grouped by graph; token / dense-graph states take their mask; any
        other activation is split along dim 0."""
        graphs, masks = self._grouping(args, kwargs)
        batch, num, name = graphs.batch, graphs.num_samples, self.site.describe()
        if x.dim() == 2 and self.site.node_level is False and self.batch is None:
            return self.transform(x, training=True)  # graph-level target: rows are samples
        if x.dim() == 3:
            valid = self._dense_mask(x, masks, graphs)
            if valid is not None:
                return self.transform(x, mask=valid, training=True)
        if batch is not None and batch.numel() == x.size(0):  # the node rows of the graphs
            if graphs.single and self._word != "graph":
                raise ValueError(
                    f"{name!r}: the call of {graphs.source} passed one graph, not a batch, so "
                    f"its {x.size(0)} node rows are either the samples of a node-level task or one "
                    "sample, and graphaug will not guess. Pass batch='rows' to ga.attach for a "
                    "node-level task (each node is a sample, e.g. Cora), or batch='graph' to "
                    "treat the graph as one sample (all of its rows or none)")
            return self._by_graph(x, batch, num)
        if batch is not None:
            if num is None and batch.numel() > 0:
                num = int(batch.max()) + 1
            if x.size(0) == num:  # graph-level rows after a readout: one per sample
                return self.transform(x, training=True)
            if x.dim() == 2:
                raise ValueError(
                    f"{name!r}: the grouping from {graphs.source} has {batch.numel()} entries "
                    f"for an activation with {x.size(0)} rows; pass batch= (the [N] sample of "
                    "every row) to ga.attach")
        elif self.node_level and self._word == "graph":  # no graph in any call: one sample
            return self._by_graph(x, torch.zeros(x.size(0), dtype=torch.long, device=x.device), 1)
        elif self.node_level and self._word == "rows":
            return self._by_graph(x, None, None)
        elif x.dim() == 2 and self.node_level:
            raise ValueError(
                f"{name!r} produces node-level rows [{x.size(0)}, {x.size(1)}] but no call "
                "passed a grouping (a PyG `batch` vector, `ptr`, a Data/Batch or a DGL graph): "
                "graphaug selects whole graphs and will not guess. Pass batch= to the model "
                "call, ga.attach(..., batch=tensor_or_callable), batch='rows' to select single "
                "rows on purpose (a node-level task), or batch='graph' when the rows are one "
                "graph (one sample)")
        if x.dim() == 3 and masks:
            shapes = ", ".join(str(tuple(m.shape)) for m in masks)
            raise ValueError(f"{name!r}: no attention mask of the calls ({shapes}) matches the "
                             f"token states {tuple(x.shape)}; pass mask= ([B, T]) to ga.attach")
        return self.transform(x, training=True)

    def _on_output(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        if not self._selected_call() or not self.transform.is_active(module.training):
            return None
        x = _first_tensor(output)
        if x is None:
            raise TypeError(f"cannot transform the output of {self.site.describe()!r}: expected "
                            "a Tensor, or a tuple/list/ModelOutput whose first item is one; got "
                            f"{type(output).__name__}")
        return _replace_first(output, self._apply(x, args, kwargs))

    def _on_input(self, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        if not self._selected_call() or not self.transform.is_active(module.training):
            return None
        for i, value in enumerate(args):
            if isinstance(value, Tensor) and value.is_floating_point():
                new = list(args)
                new[i] = self._apply(value, args, kwargs)
                return tuple(new), kwargs
        for key, value in kwargs.items():
            if isinstance(value, Tensor) and value.is_floating_point():
                return args, {**kwargs, key: self._apply(value, args, kwargs)}
        raise TypeError(f"cannot transform the {self.site.describe()!r}: the call has no "
                        "floating-point tensor argument")

    # -- handle ---------------------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def remove(self) -> None:
        """Remove every hook of this attachment; safe to call twice."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        live = _LIVE.get(self.module, [])
        if self in live:
            live.remove(self)

    def __enter__(self) -> "AttachHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __deepcopy__(self, memo: dict) -> "AttachHandle":
        raise TypeError("an AttachHandle is tied to one live model and cannot be copied; copy "
                        "the model (the copy carries no hook) and attach again")

    def __repr__(self) -> str:
        index = "" if self.site.index is None else f"{self.site.index}, "
        return (f"AttachHandle({index}{self.site.describe()!r}, {self.transform!r}, "
                f"attached={self.attached})")
