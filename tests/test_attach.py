"""The one attach API on GNNs and plain modules: whole-graph selection discovered from the
calls, targets, safety (double attach, copies, scripting, compile)."""
import copy
import io
import pickle

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINConv, global_add_pool

import graphaug as ga
from graphaug.hooks.layouts import resolve_site
from graphaug.nn import GraphCLEncoder
from graphaug.resnet import SmallResNet
from recording import record


def graphs(sizes=(5, 6, 4, 7, 5, 6, 8, 4), features=3):
    out = []
    for n in sizes:
        src = torch.arange(n - 1)
        edge_index = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
        out.append(Data(x=torch.randn(n, features), edge_index=edge_index))
    return Batch.from_data_list(out)


class UserGIN(nn.Module):
    """A PyG user's own GIN: ModuleList of GINConv + one BatchNorm per layer, batch positional."""

    def __init__(self, in_channels=3, hidden=8, layers=3):
        super().__init__()
        self.convs = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(in_channels if i == 0 else hidden, hidden),
                                  nn.ReLU(), nn.Linear(hidden, hidden))) for i in range(layers))
        self.bns = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))

    def forward(self, x, edge_index, batch):
        pooled = []
        for conv, bn in zip(self.convs, self.bns):
            x = bn(torch.relu(conv(x, edge_index)))
            pooled.append(global_add_pool(x, batch))
        return torch.cat(pooled, dim=-1)


class DataGIN(UserGIN):
    """Called with the PyG Batch itself."""

    def forward(self, data):
        return super().forward(data.x, data.edge_index, data.batch)


class NoGrouping(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(GINConv(nn.Linear(3, 3)) for _ in range(2))

    def forward(self, x, edge_index):
        for conv in self.convs:
            x = conv(x, edge_index)
        return x


def basic_gnns():
    from torch_geometric.nn.models import GAT, GCN, GIN, GraphSAGE
    out = []
    for cls in (GIN, GCN, GraphSAGE, GAT):
        for jk in (None, "cat"):
            out.append(pytest.param(lambda cls=cls, jk=jk: cls(3, 8, num_layers=3, jk=jk),
                                    id=f"{cls.__name__}-jk={jk}"))
    return out


def before_and_after(model, target, transform, call, **attach_kwargs):
    """The activation at ``target`` as produced and as the layers above receive it."""
    site = resolve_site(model, target)
    module = dict(model.named_modules())[site.module]
    before, after = [], []
    with ga.attach(model, target, transform, **attach_kwargs):
        # graphaug's hook runs first among the module's hooks; these two sit around it
        first = record(module, site.where, before, prepend=True)
        second = record(module, site.where, after)
        call()
    first.remove(), second.remove()
    index = site.call or 0
    return before[index], after[index]


def assert_whole_graphs(before, after, batch, num_graphs):
    changed_rows = (before != after).any(dim=1).float()
    per_graph = torch.zeros(num_graphs).index_add_(0, batch, changed_rows)
    counts = torch.bincount(batch, minlength=num_graphs).float()
    selected = per_graph > 0
    assert 0 < int(selected.sum()) < num_graphs, per_graph
    # PCA moves every row of a selected graph; unselected graphs are bit-identical
    assert torch.equal(per_graph[selected], counts[selected]), (per_graph, counts)
    assert torch.equal(before[~selected[batch]], after[~selected[batch]])


GNN_CASES = [
    pytest.param(lambda: GraphCLEncoder(3, hidden=8, num_layers=3), "enc", id="graphaug"),
    pytest.param(UserGIN, "user", id="user-pyg-positional-batch"),
    pytest.param(DataGIN, "data", id="user-pyg-data-argument"),
    *[pytest.param(make, "basic", id=p.id) for p, make in
      ((p, p.values[0]) for p in basic_gnns())],
]


@pytest.mark.parametrize("make,style", GNN_CASES)
def test_every_target_selects_whole_graphs(make, style):
    b = graphs()
    torch.manual_seed(0)
    model = make().train()
    calls = {
        "enc": lambda: model(b.x, b.edge_index, b.batch),
        "user": lambda: model(b.x, b.edge_index, b.batch),
        "data": lambda: model(b),
        "basic": lambda: model(b.x, b.edge_index, batch=b.batch),
    }
    keys = list(model.state_dict())
    node_targets = [t for t in ga.targets(model)
                    if not (style == "enc" and t == model.num_layers + 1)]
    assert len(node_targets) >= 4
    for target in node_targets:
        transform = ga.ActivationPCA(k=1, q=2, apply_prob=0.5, seed=3)
        before, after = before_and_after(model, target, transform, calls[style])
        assert_whole_graphs(before, after, b.batch, b.num_graphs)
    assert list(model.state_dict()) == keys
    model.eval()
    plain = calls[style]()
    with ga.attach(model, node_targets[-1], ga.ActivationDropout(0.5, apply_prob=1.0)):
        assert torch.equal(calls[style](), plain)  # eval mode: a no-op


def test_basic_gnn_targets_follow_the_layer_tail():
    from torch_geometric.nn.models import GIN
    assert ga.targets(GIN(3, 8, num_layers=3)) == {
        0: "input of convs.0", 1: "dropout (call 0)", 2: "dropout (call 1)", 3: "convs.2"}
    assert ga.targets(GIN(3, 8, num_layers=2, jk="cat"))[3] == "lin"
    assert ga.targets(UserGIN()) == {0: "input of convs.0", 1: "bns.0", 2: "bns.1", 3: "bns.2"}


@pytest.mark.parametrize("make,name", [
    (lambda: GraphCLEncoder(3, hidden=8, num_layers=3), "taps.2"),  # the encoder's tap name
    (UserGIN, "convs.1"),  # a conv called without `batch`: the model call carries it
])
def test_dotted_names_keep_the_grouping(make, name):
    b = graphs()
    model = make().train()
    before, after = before_and_after(model, name,
                                     ga.ActivationPCA(k=1, q=2, apply_prob=0.5, seed=3),
                                     lambda: model(b.x, b.edge_index, b.batch))
    assert_whole_graphs(before, after, b.batch, b.num_graphs)


def test_no_silent_per_node_selection():
    b = graphs()
    model = NoGrouping().train()
    with ga.attach(model, 1, ga.ActivationDropout(0.5)):
        with pytest.raises(ValueError, match="no call passed a grouping"):
            model(b.x, b.edge_index)
    with ga.attach(model, "convs.0", ga.ActivationDropout(0.5)):
        with pytest.raises(ValueError, match="batch='rows'"):
            model(b.x, b.edge_index)
    # batch="rows" (on purpose): every row is a sample, so graphs are transformed in part
    pca = ga.ActivationPCA(k=1, q=2, apply_prob=0.5, seed=0)
    call = lambda: model(b.x, b.edge_index)  # noqa: E731
    before, after = before_and_after(model, 1, pca, call, batch="rows")
    rows = torch.arange(b.num_nodes)
    assert_whole_graphs(before, after, rows, b.num_nodes)
    changed = torch.zeros(b.num_graphs).index_add_(0, b.batch, (before != after).any(1).float())
    assert ((changed > 0) & (changed < torch.bincount(b.batch))).any()  # some graph in part
    # a callable batch= gives the grouping the calls do not: whole graphs again
    before, after = before_and_after(model, 1, pca, call, batch=lambda: b.batch)
    assert_whole_graphs(before, after, b.batch, b.num_graphs)


def test_explicit_batch_wins_over_discovered():
    b = graphs()
    model = UserGIN().train()
    one_sample = torch.zeros_like(b.batch)
    transform, outcomes = ga.ActivationPCA(k=1, q=2, apply_prob=0.5, seed=0), set()
    for _ in range(8):  # the one sample: every row or none, and both happen
        before, after = before_and_after(model, 2, transform,
                                         lambda: model(b.x, b.edge_index, b.batch),
                                         batch=one_sample)
        changed = (before != after).any(dim=1)
        assert bool(changed.all()) or not bool(changed.any())
        outcomes.add(bool(changed.all()))
    assert outcomes == {False, True}


def test_bad_targets_are_clear():
    model = UserGIN()
    with pytest.raises(ValueError, match=r"valid targets are 0..3"):
        ga.attach(model, 4, ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="did you mean 'convs.1'"):
        ga.attach(model, "conv.1", ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="int index or a dotted module name"):
        ga.attach(model, 1.5, ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="ActivationTransform"):
        ga.attach(model, 1, nn.Dropout(0.1))
    for not_a_model in ("convs.1", None):
        with pytest.raises(TypeError, match="model must be a torch.nn.Module, got "
                           f"{type(not_a_model).__name__}"):
            ga.attach(not_a_model, 1, ga.ActivationDropout(0.1))
        with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
            ga.targets(not_a_model)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="no recognised layout"):
        ga.targets(mlp)


class TwoEncoders(nn.Module):
    def __init__(self):
        super().__init__()
        self.student, self.teacher = UserGIN(), UserGIN()


def test_two_encoders_are_named_not_guessed():
    with pytest.raises(ValueError, match="'student'.*'teacher'"):
        ga.attach(TwoEncoders(), 1, ga.ActivationDropout(0.1))
    ga.attach(TwoEncoders(), "student.bns.0", ga.ActivationDropout(0.1)).remove()


def test_same_transform_twice_is_refused():
    model = UserGIN()
    transform = ga.ActivationDropout(0.25)
    handle = ga.attach(model, 2, transform)
    with pytest.raises(ValueError, match="already attached"):
        ga.attach(model, 2, transform)
    with pytest.raises(ValueError, match="already attached"):
        ga.attach(model, "bns.1", transform)
    handle.remove()
    ga.attach(model, 2, transform).remove()  # fine once the first is gone


def _uses_hooks(model):
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "torch.save"])
def test_copies_carry_no_live_hook(how):
    b = graphs()
    model = UserGIN().train()
    handle = ga.attach(model, 2, ga.ActivationDropout(0.5, apply_prob=1.0))
    if how == "deepcopy":
        clone = copy.deepcopy(model)
    elif how == "pickle":
        clone = pickle.loads(pickle.dumps(model))
    else:
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        clone = torch.load(buffer, weights_only=False)
    torch.manual_seed(0)
    out = clone(b.x, b.edge_index, b.batch)
    assert not _uses_hooks(clone)  # the inert placeholders removed themselves
    handle.remove()
    fresh = UserGIN()
    fresh.load_state_dict(model.state_dict())
    assert torch.allclose(out, fresh.train()(b.x, b.edge_index, b.batch))
    assert handle.attached is False and not _uses_hooks(model)


def test_context_manager_removes_on_error_and_twice():
    model = UserGIN()
    with pytest.raises(RuntimeError, match="boom"):
        with ga.attach(model, 1, ga.ActivationDropout(0.5)):
            raise RuntimeError("boom")
    assert not _uses_hooks(model)
    handle = ga.attach(model, 1, ga.ActivationDropout(0.5))
    handle.remove()
    handle.remove()
    assert not _uses_hooks(model) and "attached=False" in repr(handle)


class ReusesBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x):
        return self.block(self.block(x))


def test_shared_and_repeated_modules():
    with pytest.raises(RuntimeError, match="ran 2 times"):
        with ga.attach(ReusesBlock().train(), "block", ga.ActivationDropout(0.5)) as h:
            h.model(torch.randn(3, 4))
    model = ReusesBlock().train()
    x = torch.randn(3, 4)
    with ga.attach(model, "block", ga.ActivationDropout(0.5, apply_prob=1.0, seed=2),
                   every_call=True):
        out = model(x)
    by_hand = ga.ActivationDropout(0.5, apply_prob=1.0, seed=2)  # the same draws, both calls
    assert torch.equal(out, by_hand(model.block(by_hand(model.block(x)))))
    shared = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="shared"):
        ga.attach(nn.Sequential(shared, nn.ReLU(), shared), "0", ga.ActivationDropout(0.1))
    from torch_geometric.nn.models import GIN
    with pytest.raises(ValueError, match="shared"):  # BasicGNN's one `act`: use an index
        ga.attach(GIN(3, 8, num_layers=3), "act", ga.ActivationDropout(0.1))


class TupleBlock(nn.Module):
    def forward(self, x):
        return x * 2, "extra"


def test_plain_modules_by_name_tuple_outputs():
    model = nn.Sequential(TupleBlock()).train()
    with ga.attach(model, "0", ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)):
        hidden, extra = model(torch.ones(6, 5))
    assert extra == "extra" and set(hidden.unique().tolist()) <= {0.0, 4.0}


def test_feature_maps_select_whole_images():
    model = SmallResNet(widths=(4, 8, 8, 8)).train()
    x = torch.randn(16, 3, 32, 32)
    before, after = before_and_after(model, 2, ga.ActivationDropout(0.5, seed=0),
                                     lambda: model(x))
    changed = (before != after).flatten(1).any(dim=1)
    assert 0 < int(changed.sum()) < 16


def test_scripting_untouched_and_compile_runs_hooks():
    from graphaug.nn import Tap
    torch.jit.script(Tap(1))
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    ga.attach(mlp, "1", ga.ActivationDropout(0.5)).remove()
    scripted = torch.jit.script(mlp)
    x = torch.randn(5, 4)
    assert torch.equal(scripted(x), mlp(x))
    plain = mlp.train()(x)
    # attach before the first compiled call (dynamo caches the traced hooks; removal retraces)
    handle = ga.attach(mlp, "1", ga.ActivationDropout(0.5, apply_prob=1.0, seed=0))
    compiled = torch.compile(mlp, backend="eager")
    assert not torch.equal(compiled(x), plain)
    handle.remove()
    assert torch.equal(compiled(x), plain)
