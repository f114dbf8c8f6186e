import pytest
import torch
from torch import nn

import graphaug as ga
from graphaug.resnet import SmallResNet


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_attach_context_transforms_then_restores():
    net = mlp().train()
    x = torch.randn(16, 4)
    plain = net(x)
    with ga.attach(net, "1", ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)) as handle:
        assert handle.attached
        augmented = net(x)
    assert not torch.allclose(plain, augmented)
    assert torch.equal(net(x), plain)
    assert not net[1]._forward_hooks and not net._forward_pre_hooks


def test_hook_removed_when_body_raises():
    net = mlp()
    with pytest.raises(RuntimeError, match="boom"):
        with ga.attach(net, "0", ga.ActivationDropout(0.5)):
            raise RuntimeError("boom")
    assert not net[0]._forward_hooks and not net._forward_hooks and not net._forward_pre_hooks


def test_handle_form_and_double_remove():
    net = mlp().train()
    handle = ga.attach(net, "0", ga.ActivationDropout(0.5, apply_prob=1.0))
    assert net[0]._forward_hooks
    handle.remove()
    handle.remove()
    assert not net[0]._forward_hooks and not handle.attached


def test_unknown_name_lists_close_matches():
    model = SmallResNet(widths=(4, 8, 8, 8))
    with pytest.raises(ValueError, match=r"no submodule named 'layer5'.*'layer\d'"):
        ga.attach(model, "layer5", ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="dotted string"):
        ga.attach(model, 3, ga.ActivationDropout(0.1))


class TupleBlock(nn.Module):
    def forward(self, x):
        return x * 2, "extra"


def test_tuple_outputs_transform_first_item_only():
    model = nn.Sequential(TupleBlock()).train()
    x = torch.ones(6, 5)
    with ga.attach(model, "0", ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)):
        hidden, extra = model(x)
    assert extra == "extra"
    assert set(hidden.unique().tolist()) <= {0.0, 4.0}


def test_eval_mode_hooks_do_not_change_outputs():
    model = SmallResNet(widths=(4, 8, 8, 8)).eval()
    x = torch.randn(3, 3, 32, 32)
    plain = model(x)
    with ga.attach(model, "layer2", ga.ActivationPCA(k=1, q=2, apply_prob=1.0)):
        assert torch.equal(model(x), plain)


def test_resnet_feature_map_hook_selects_whole_images():
    model = SmallResNet(widths=(4, 8, 8, 8)).train()
    seen = {}
    model.layer2.register_forward_hook(lambda m, a, out: seen.setdefault("out", out))
    aug = ga.ActivationDropout(0.5, apply_prob=0.5, seed=0)
    captured = {}
    with ga.attach(model, "layer2", aug):
        model.layer3.register_forward_pre_hook(lambda m, a: captured.setdefault("in", a[0]))
        model(torch.randn(16, 3, 32, 32))
    before, after = seen["out"], captured["in"]
    changed = (before != after).flatten(1).any(dim=1)
    assert 0 < changed.sum() < 16
    assert torch.equal(before[~changed], after[~changed])


def test_transformer_layer_hook_on_small_bert():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    bert = transformers.BertModel(config).train()
    ids = torch.randint(0, 50, (4, 9))
    plain = bert(input_ids=ids).last_hidden_state
    with ga.attach(bert, "encoder.layer.0", ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)):
        augmented = bert(input_ids=ids).last_hidden_state
    assert not torch.allclose(plain, augmented)
    assert torch.equal(bert(input_ids=ids).last_hidden_state, plain)
    bert.eval()
    with ga.attach(bert, "encoder.layer.1", ga.ActivationPCA(k=1, apply_prob=1.0)):
        assert torch.equal(bert(input_ids=ids).last_hidden_state, plain)


def test_shared_module_is_refused_with_clear_message():
    from torch_geometric.nn.models import GIN
    model = GIN(3, 8, num_layers=3).train()
    x, edge_index = torch.randn(10, 3), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    # PyG registers the one `act` module inside every conv's MLP too: refused up front
    with pytest.raises(ValueError, match="shared"):
        ga.attach(model, "act", ga.ActivationDropout(0.5, apply_prob=1.0))
    model(x, edge_index)


class ReusesBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x):
        return self.block(self.block(x))


def test_module_called_twice_per_forward_is_refused_at_run_time():
    model = ReusesBlock().train()
    with ga.attach(model, "block", ga.ActivationDropout(0.5, apply_prob=1.0)):
        with pytest.raises(RuntimeError, match="ran 2 times"):
            model(torch.randn(3, 4))
    with ga.attach(model, "block", ga.ActivationDropout(0.5, apply_prob=1.0),
                   allow_repeated_calls=True):
        model(torch.randn(3, 4))


def test_module_registered_twice_is_refused():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    with pytest.raises(ValueError, match="shared"):
        ga.attach(model, "0", ga.ActivationDropout(0.1))
