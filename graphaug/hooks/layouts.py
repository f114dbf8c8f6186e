"""Where target `i` lives in a model: one registry of layouts for GNNs, Transformers and CNNs.

Target `0` = the input features / embeddings / stem, `i` = the output of block or layer
`i`, `L+1` = the projection head where the layout has one (see `docs/method.md`). A
layout turns each index into a `Site`: a module, which of its calls (a shared module
such as ALBERT's layer or PyG `BasicGNN`'s `dropout` runs once per layer), and whether the
transform applies to its output or to its input.

Layouts are found by looking at the model's own modules (no forked model code); the first
matcher that fits a module wins, the model is searched from the top, and a module inside a
matched one is not searched again, so wrappers (`BertForSequenceClassification`, PyGCL's
`Encoder`, a SimCLR module holding a ResNet) work. A `ModuleList` whose blocks hold message
passing anywhere inside is a GNN; one of embedding tables only (OGB's `AtomEncoder`) is never
a candidate. Of several encoders side by side the one with message passing is taken when it is
the only one; otherwise they are refused and named.

The layout only says where target `i` is; which rows form one sample is decided by the
running call (see `graphaug.hooks.hook`).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from torch import nn

__all__ = ["Site", "Layout", "find_layout", "resolve_site", "resolve_module", "is_graph_model",
           "LAYOUT_MATCHERS"]

_NORM_MODULES = ("torch.nn.modules.batchnorm", "torch.nn.modules.normalization",
                 "torch_geometric.nn.norm")
_TRIVIAL_MODULES = _NORM_MODULES + ("torch.nn.modules.activation", "torch.nn.modules.dropout")
_CONTAINERS = (nn.ModuleList, nn.ModuleDict)


@dataclass(frozen=True)
class Site:
    r"""One place a transform can run.

    Attributes:
        module (str): dotted module name relative to the model (`""` = the model).
        index (int, optional): the target index (`None` for a module given by name).
        call (int, optional): which call of `module` per call of `owner` (0-based);
            `None`: the module runs once per call of its owner.
        where (str): `"output"` or `"input"` (the first tensor argument).
        owner (str): the module whose every call counts as one forward (call counting).
        node_level (bool, optional): `True`: rows are graph nodes that need a grouping;
            `False`: rows are samples (a head after the readout); `None`: the running call
            decides, and node rows without any grouping are an error where the model holds
            PyG/DGL message passing.
    """

    module: str
    index: Optional[int] = None
    call: Optional[int] = None
    where: str = "output"
    owner: str = ""
    node_level: Optional[bool] = None

    def describe(self) -> str:
        name = self.module or "<model>"
        text = f"input of {name}" if self.where == "input" else name
        return text if self.call is None else f"{text} (call {self.call})"


@dataclass(frozen=True)
class Layout:
    """The target sites of one encoder found inside a model.

    Attributes:
        kind (str): which matcher found it (`"graphaug"`, `"basic_gnn"`, `"gnn"`,
            `"transformer"`, `"albert"`, `"resnet"`, `"cnn"`).
        root (str): dotted name of the matched encoder.
        sites (tuple of Site): target `i` is `sites[i]`.
        num_layers (int): `L`.
        has_head (bool): whether target `L+1` exists.
    """

    kind: str
    root: str
    sites: tuple[Site, ...] = field(repr=False)
    num_layers: int = 0
    has_head: bool = False

    def __repr__(self) -> str:
        head = ", head" if self.has_head else ""
        return f"Layout({self.kind}, root={self.root!r}, L={self.num_layers}{head})"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _child(module: nn.Module, dotted: str) -> Optional[nn.Module]:
    for part in dotted.split("."):
        module = getattr(module, part, None)
        if not isinstance(module, nn.Module):
            return None
    return module


def _module_path(module: nn.Module) -> str:
    return type(module).__module__ or ""


def _is_graph_conv(module: nn.Module) -> bool:
    """A PyG `MessagePassing` layer, a PyG dense conv (`DenseGINConv`, ...) or a DGL conv."""
    path = _module_path(module)
    if path.startswith("dgl.nn") or (path.startswith("torch_geometric.nn.dense")
                                     and type(module).__name__.endswith("Conv")):
        return True
    try:
        from torch_geometric.nn import MessagePassing
    except ImportError:  # pragma: no cover - PyG is a dependency, kept optional here
        return False
    return isinstance(module, MessagePassing)


def _is_norm(module: nn.Module) -> bool:
    return _module_path(module).startswith(_NORM_MODULES)


def _is_trivial(module: nn.Module) -> bool:
    return _module_path(module).startswith(_TRIVIAL_MODULES) or isinstance(module, nn.Identity) \
        or type(module).__name__ == "Tap"


def is_graph_model(model: nn.Module) -> bool:
    """Whether `model` contains PyG or DGL message passing (its 2-D activations are nodes)."""
    return any(_is_graph_conv(m) for m in model.modules())


def _repeated(blocks: nn.ModuleList) -> bool:
    return len(blocks) > 0 and len({type(b) for b in blocks}) == 1


def _gnn_blocks(blocks: nn.ModuleList) -> bool:
    """Every block holds message passing somewhere inside: a conv, a user's conv + norm
    block, `GPSConv`, `DeepGCNLayer`, a per-layer PyG `Sequential`."""
    return len(blocks) > 0 and all(is_graph_model(b) for b in blocks)


def _embedding_only(blocks: nn.ModuleList) -> bool:
    """Only embedding tables inside (OGB's `AtomEncoder`/`BondEncoder` lists, a list of
    `nn.Embedding`): an input encoding, never a stack of layers."""
    leaves = [m for m in blocks.modules() if next(m.children(), None) is None]
    return bool(leaves) and all(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in leaves)


def _stack(prefix: str, blocks: str, count: int, node_level: Optional[bool], owner: str,
           outputs: Optional[list[str]] = None) -> tuple[Site, ...]:
    """Target 0 = input of block 0, target i = output of block i-1 (or `outputs[i-1]`)."""
    outs = outputs or [f"{blocks}.{i}" for i in range(count)]
    sites = [Site(_join(prefix, f"{blocks}.0"), 0, where="input", owner=owner,
                  node_level=node_level)]
    sites += [Site(_join(prefix, outs[i]), i + 1, owner=owner, node_level=node_level)
              for i in range(count)]
    return tuple(sites)


# -- matchers: (prefix, module) -> Layout or None --------------------------------------------
def _match_graphaug(prefix: str, module: nn.Module) -> Optional[Layout]:
    taps = getattr(module, "taps", None)
    if not isinstance(taps, nn.ModuleList) or not hasattr(module, "num_layers") \
            or not all(type(t).__name__ == "Tap" for t in taps):
        return None
    num_layers = int(module.num_layers)
    sites = tuple(Site(_join(prefix, f"taps.{i}"), i, owner=prefix,
                       node_level=i <= num_layers) for i in range(len(taps)))
    return Layout("graphaug", prefix, sites, num_layers, len(taps) > num_layers + 1)


def _match_basic_gnn(prefix: str, module: nn.Module) -> Optional[Layout]:
    try:
        from torch_geometric.nn.models.basic_gnn import BasicGNN
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(module, BasicGNN):
        return None
    num_layers = len(module.convs)
    jk = module.jk_mode is not None
    # The per-layer tail (norm, shared act, shared dropout) ends in one `dropout` call per layer
    # (every layer with jumping knowledge, all but the last one without it).
    sites = [Site(_join(prefix, "convs.0"), 0, where="input", owner=prefix, node_level=True)]
    for i in range(1, num_layers + 1):
        if i < num_layers or jk:
            sites.append(Site(_join(prefix, "dropout"), i, call=i - 1, owner=prefix,
                              node_level=True))
        else:
            sites.append(Site(_join(prefix, f"convs.{i - 1}"), i, owner=prefix, node_level=True))
    has_head = isinstance(getattr(module, "lin", None), nn.Module)
    if has_head:
        sites.append(Site(_join(prefix, "lin"), num_layers + 1, owner=prefix, node_level=True))
    return Layout("basic_gnn", prefix, tuple(sites), num_layers, has_head)


def _match_albert(prefix: str, module: nn.Module) -> Optional[Layout]:
    """ALBERT: `num_hidden_layers` calls of `num_hidden_groups` shared layer groups.

    Target `i` is the output of layer call `i - 1`: the last `AlbertLayer` of the group
    that call uses (the group returns that tensor unchanged, and it is the module whose output
    HF records as `hidden_states[i]`), restricted to its own call per encoder forward.
    """
    groups = _child(module, "encoder.albert_layer_groups")
    config = getattr(module, "config", None)
    if not isinstance(groups, nn.ModuleList) or len(groups) == 0 or config is None:
        return None
    num_layers = int(config.num_hidden_layers)
    num_groups = max(int(getattr(config, "num_hidden_groups", 1)), 1)
    owner = _join(prefix, "encoder")
    # The group of layer i, exactly as AlbertTransformer picks it (also when num_groups does not
    # divide num_layers), and how many earlier layers ran the same group (its call index).
    group_of = [int(i / (num_layers / num_groups)) for i in range(num_layers)]
    calls = [group_of[:i].count(g) for i, g in enumerate(group_of)]

    def site(layer: int, index: int, where: str) -> Site:
        group = group_of[layer]
        inner = _child(groups[group], "albert_layers")
        last = len(inner) - 1 if isinstance(inner, nn.ModuleList) and len(inner) else None
        name = f"encoder.albert_layer_groups.{group}"
        if last is not None:  # input: the first inner layer; output: the last one
            name += f".albert_layers.{0 if where == 'input' else last}"
        return Site(_join(prefix, name), index, call=calls[layer], where=where, owner=owner,
                    node_level=False)

    sites = [site(0, 0, "input")] + [site(i, i + 1, "output") for i in range(num_layers)]
    return Layout("albert", prefix, tuple(sites), num_layers, False)


_RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def _match_resnet(prefix: str, module: nn.Module) -> Optional[Layout]:
    if not all(isinstance(_child(module, s), nn.Module) for s in _RESNET_STAGES):
        return None
    stem = next((s for s in ("stem", "maxpool") if _child(module, s) is not None), None)
    if stem is None:
        return None
    names = [stem, *_RESNET_STAGES]
    head = next((h for h in ("head", "fc") if _child(module, h) is not None), None)
    if head is not None:
        names.append(head)
    sites = tuple(Site(_join(prefix, n), i, owner=prefix, node_level=False)
                  for i, n in enumerate(names))
    return Layout("resnet", prefix, sites, len(_RESNET_STAGES), head is not None)


def _block_lists(module: nn.Module) -> list[tuple[str, nn.ModuleList]]:
    return [(n, c) for n, c in module.named_children()
            if isinstance(c, nn.ModuleList) and not _embedding_only(c)
            and (_gnn_blocks(c) or (_repeated(c) and not _is_trivial(c[0])))]


def _match_blocks(prefix: str, module: nn.Module) -> Optional[Layout]:
    """A ModuleList whose blocks hold message passing (a GNN, addressed by index), or the
    longest list of repeated blocks (Transformer / CNN stages)."""
    lists = _block_lists(module)
    if not lists:
        return None
    convs = [(n, c) for n, c in lists if _gnn_blocks(c)]
    if convs:
        name, blocks = convs[0]
        count = len(blocks)
        # The layer output is the tensor after the per-layer norm when the model keeps one
        # norm per conv (GraphCL-style conv -> act -> norm); otherwise the conv output.
        norms = next((n for n, c in module.named_children() if isinstance(c, nn.ModuleList)
                      and len(c) == count and _repeated(c) and _is_norm(c[0])), None)
        outputs = [f"{norms}.{i}" for i in range(count)] if norms else None
        return Layout("gnn", prefix, _stack(prefix, name, count, True, prefix, outputs), count)
    name, blocks = max(lists, key=lambda item: len(item[1]))
    kind = "cnn" if type(blocks[0]).__name__.endswith("Stage") else "transformer"
    # node_level None: the running call decides (a graph grouping in it groups node rows)
    return Layout(kind, prefix, _stack(prefix, name, len(blocks), None, prefix), len(blocks))


#: Matchers in priority order; each maps `(prefix, module)` to a `Layout` or `None`.
LAYOUT_MATCHERS: list[Callable[[str, nn.Module], Optional[Layout]]] = [
    _match_graphaug, _match_basic_gnn, _match_albert, _match_resnet, _match_blocks]


def _candidate_names(model: nn.Module) -> list[str]:
    names = [n for n, m in model.named_modules() if n and isinstance(m, nn.ModuleList)]
    return names[:8] or [n for n, _ in model.named_children()][:8]


def find_layout(model: nn.Module) -> Layout:
    r"""The layout of the one encoder inside `model`.

    Raises:
        ValueError: when no layout fits (the message lists candidate module names), or when
            two separate encoders fit (the message names both).
        TypeError: `model` is not an `nn.Module`.
    """
    check_model(model)
    found: list[Layout] = []
    skip: list[str] = []
    for prefix, module in model.named_modules():
        if any(prefix == s or prefix.startswith(s + ".") for s in skip):
            continue
        for matcher in LAYOUT_MATCHERS:
            layout = matcher(prefix, module)
            if layout is not None:
                found.append(layout)
                skip.append(prefix)
                break
        if "" in skip:
            break
    if not found:
        names = ", ".join(repr(n) for n in _candidate_names(model)) or "none"
        tables = [n for n, m in model.named_modules()
                  if isinstance(m, nn.ModuleList) and _embedding_only(m)]
        note = (f" ({', '.join(repr(n) for n in tables)} holds embedding tables only: an input "
                "encoding such as OGB's AtomEncoder, whose output is target 0 of the GNN that "
                "reads it)") if tables else ""
        raise ValueError(
            f"{type(model).__name__} has no recognised layout (graphaug encoder, PyG BasicGNN, "
            "a ModuleList of blocks with PyG/DGL message passing or of repeated Transformer "
            f"blocks, ALBERT, a ResNet){note}; candidate module names: {names}. Attach by "
            "dotted name instead, e.g. ga.attach(model, 'encoder.layers.1', transform)")
    if len(found) > 1:
        graphs = [lay for lay in found if is_graph_model(resolve_module(model, lay.root))]
        if len(graphs) == 1:  # a GNN beside other stacks (an MLP list, a text encoder)
            return graphs[0]
        roots = ", ".join(f"{lay.root!r} ({lay.kind})" for lay in found)
        hint = (graphs or found)[0].root
        raise ValueError(f"{type(model).__name__} holds several encoders: {roots}; attach to "
                         f"one of them (e.g. ga.attach(model.{hint}, ...)) or by dotted module "
                         "name")
    return found[0]


def resolve_module(model: nn.Module, name: str) -> nn.Module:
    """`model`'s submodule `name` (dotted, `""` = the model).

    Raises:
        ValueError: no such submodule; the message lists the closest names.
    """
    modules = dict(model.named_modules())
    if name in modules:
        return modules[name]
    close = difflib.get_close_matches(name, [n for n in modules if n], n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"{type(model).__name__} has no submodule named {name!r}{hint}")


def _owner_of(model: nn.Module, name: str) -> str:
    """The nearest enclosing module that runs a forward (containers never do)."""
    parts = name.split(".") if name else []
    while parts:
        parts.pop()
        candidate = ".".join(parts)
        if not isinstance(resolve_module(model, candidate), _CONTAINERS):
            return candidate
    return ""


def check_model(model) -> None:
    """Raise a `TypeError` naming what was passed where a model belongs."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__} "
                        f"({model!r:.60}): pass the model object, e.g. ga.attach(model, 2, aug); "
                        "a layer is named by the target argument, e.g. \"convs.1\"")


def resolve_site(model: nn.Module, target: Union[int, str]) -> Site:
    """The `Site` of `target` (an index into the model's layout, or a dotted name).

    Raises:
        TypeError: `model` is not an `nn.Module`.
        ValueError: unknown layout, index out of range, unknown or shared module name.
    """
    check_model(model)
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise ValueError(f"target must be an int index or a dotted module name, got {target!r}")
    if isinstance(target, int):
        layout = find_layout(model)
        if not 0 <= target < len(layout.sites):
            head = ", L+1 = head" if layout.has_head else " (this layout has no head index)"
            raise ValueError(
                f"target {target} is out of range for {type(model).__name__} ({layout.kind} "
                f"layout at {layout.root or '<model>'!r}, L = {layout.num_layers}): valid "
                f"targets are 0..{len(layout.sites) - 1} (0 = input/embeddings/stem, "
                f"1..L = block outputs{head})")
        return layout.sites[target]
    module = resolve_module(model, target)
    names = [n for n, m in model.named_modules(remove_duplicate=False) if m is module]
    if len(names) > 1:
        raise ValueError(f"module {target!r} is registered under several names {names}: it is "
                         "shared, so the layer is ambiguous; attach by target index (ga.targets "
                         "lists them) or to a per-layer module")
    return Site(target, owner=_owner_of(model, target))
