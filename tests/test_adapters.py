"""Target-index adapters for Transformers and ResNets: parity, masks, errors, eval-mode no-op."""
import numpy as np
import pytest
import torch
from torch import nn

import graphaug as ga
from graphaug.resnet import SmallResNet

transformers = pytest.importorskip("transformers")


def tiny_bert(**overrides):
    config = dict(vocab_size=60, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=32)
    config.update(overrides)
    return transformers.BertModel(transformers.BertConfig(**config))


def tiny_resnet(head_dim=8):
    return SmallResNet(widths=(4, 8, 8, 8), blocks=(1, 1, 1, 1), head_dim=head_dim)


def bert_inputs(batch=4, length=7):
    ids = torch.randint(1, 60, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 4:] = 0
    mask[3, 2:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def capture_input(module):
    """Record the first positional input of every call of ``module``."""
    seen = []
    handle = module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    return seen, handle


# -- index -> module mapping ------------------------------------------------------------------
def test_bert_target_names_and_wrappers():
    bert = tiny_bert()
    assert ga.target_names(bert) == ["embeddings", "encoder.layer.0", "encoder.layer.1",
                                     "encoder.layer.2"]
    wrapped = transformers.BertForSequenceClassification(bert.config)
    assert ga.target_names(wrapped)[1] == "bert.encoder.layer.0"
    assert ga.target_names(bert, head="pooler")[-1] == "pooler"
    layout, index, name = ga.resolve_target(wrapped, 3)
    assert (layout.kind, layout.root, index, name) == ("transformer", "bert", 3,
                                                       "bert.encoder.layer.2")


def test_resnet_target_names_pool_and_nested():
    net = tiny_resnet()
    assert ga.target_names(net) == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert ga.resolve_target(net, "pool")[1:] == (None, "pool")
    outer = nn.Module()
    outer.encoder = tiny_resnet(head_dim=None)
    assert ga.target_names(outer) == ["encoder.stem", "encoder.layer1", "encoder.layer2",
                                      "encoder.layer3", "encoder.layer4"]


def test_clear_errors():
    with pytest.raises(ValueError, match="no recognised block layout"):
        ga.target_names(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match=r"out of range .* valid targets are 0..3"):
        ga.attach_target(tiny_bert(), 4, ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="no projection head"):
        ga.attach_target(tiny_resnet(head_dim=None), 5, ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="no submodule named 'encoder.layer.9'"):
        ga.attach_target(tiny_bert(), "encoder.layer.9", ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="no submodule named 'classifier'"):
        ga.target_names(tiny_bert(), head="classifier")
    with pytest.raises(ValueError, match="int index or a module name"):
        ga.attach_target(tiny_resnet(), 1.5, ga.ActivationDropout(0.1))


# -- the same transform, the same tensor, whichever adapter -----------------------------------
class IdentityBert(nn.Module):
    """Transformer layout of identity blocks: target i outputs the input tensor unchanged."""

    def __init__(self):
        super().__init__()
        self.embeddings = nn.Identity()
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([nn.Identity(), nn.Identity()])

    def forward(self, x, attention_mask=None):
        x = self.embeddings(x)
        for block in self.encoder.layer:
            x = block(x)
        return x


class IdentityResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Identity()
        self.layer1, self.layer2, self.layer3, self.layer4 = (nn.Identity() for _ in range(4))

    def forward(self, x):
        for name in ("stem", "layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
        return x


@pytest.mark.parametrize("make", [lambda: ga.ActivationDropout(0.3, apply_prob=0.5, seed=3),
                                  lambda: ga.ActivationPCA(k=1, q=3, apply_prob=0.5, seed=3)])
def test_same_transform_same_result_across_adapters(make):
    x = torch.randn(6, 5, 4)  # read as [B, T, d] tokens and as [B, C, H, W]-free 3-D maps
    transform = make()
    state = transform.generator.get_state()
    direct = transform(x, training=True)
    results = []
    for model in (IdentityBert().train(), IdentityResNet().train(), nn.Sequential(nn.Identity())):
        transform.generator.set_state(state)
        if isinstance(model, nn.Sequential):
            handle = ga.attach(model, "0", transform)
        else:
            handle = ga.attach_target(model, 1, transform)
        with handle:
            results.append(model(x))
    for out in results:
        assert torch.equal(out, direct)


def test_bert_adapter_matches_direct_call_with_mask():
    torch.manual_seed(0)
    bert = tiny_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    inputs = bert_inputs()
    seen, pre = capture_input(bert.encoder.layer[2])
    bert(**inputs)
    clean = seen.pop()
    transform = ga.ActivationPCA(k=2, q=4, apply_prob=0.5, seed=1)
    state = transform.generator.get_state()
    with ga.attach_target(bert, 2, transform):  # output of encoder.layer.1
        bert(**inputs)
    hooked = seen.pop()
    pre.remove()
    transform.generator.set_state(state)
    direct = transform(clean, mask=inputs["attention_mask"], training=True)
    assert torch.allclose(hooked, direct, atol=1e-6)
    assert not torch.equal(hooked, clean)


def test_resnet_adapter_matches_direct_call():
    net = tiny_resnet().train()
    x = torch.randn(5, 3, 8, 8)  # layer2 output [5, 8, 4, 4]: 128 features per sample
    seen, pre = capture_input(net.layer3)
    net(x)
    clean = seen.pop()
    for rows in ("sample", "position"):
        transform = ga.ActivationPCA(k=1, q=3, apply_prob=1.0, pca_rows=rows, seed=0)
        with ga.attach_target(net, 2, transform) as handle:
            assert handle.name == "layer2" and handle.index == 2
            net(x)
        direct = transform(clean, training=True)
        assert torch.allclose(seen.pop(), direct, atol=1e-5)
    pre.remove()


# -- attention masks --------------------------------------------------------------------------
def test_padding_untouched_and_out_of_pca_stats():
    bert = tiny_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    inputs = bert_inputs()
    valid = inputs["attention_mask"].bool()
    seen, pre = capture_input(bert.encoder.layer[1])
    bert(**inputs)
    clean = seen.pop()
    for transform in (ga.ActivationDropout(0.5, apply_prob=1.0, seed=0),
                      ga.ActivationPCA(k=1, q=3, apply_prob=1.0)):
        with ga.attach_target(bert, 1, transform):
            bert(**inputs)
        hooked = seen.pop()
        assert torch.equal(hooked[~valid], clean[~valid])  # padding never transformed
        assert not torch.equal(hooked[valid], clean[valid])
    # PCA statistics ignore padding: changing padded activations does not change real tokens.
    transform = ga.ActivationPCA(k=1, q=3, apply_prob=1.0)
    noisy = clean.clone()
    noisy[~valid] += 100 * torch.randn_like(noisy[~valid])
    mask = inputs["attention_mask"]
    assert torch.allclose(transform(clean, mask=mask, training=True)[valid],
                          transform(noisy, mask=mask, training=True)[valid], atol=1e-5)
    pre.remove()


def test_mask_positional_and_absent():
    bert = tiny_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    inputs = bert_inputs()
    seen, pre = capture_input(bert.encoder.layer[1])
    bert(**inputs)
    clean = seen.pop()
    transform = ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)
    with ga.attach_target(bert, 1, transform):
        bert(inputs["input_ids"], inputs["attention_mask"])  # positional attention_mask
        pad = ~inputs["attention_mask"].bool()
        assert torch.equal(seen.pop()[pad], clean[pad])
        bert(inputs["input_ids"])  # no mask: every token is eligible
        assert seen.pop().shape == clean.shape
    pre.remove()


# -- eval mode: hooks are a no-op, and are removed cleanly ------------------------------------
@pytest.mark.parametrize("target", [0, 2, 3, 4])
def test_eval_outputs_unchanged_bert(target):
    bert = tiny_bert(num_hidden_layers=3).eval()
    inputs = bert_inputs()
    with torch.no_grad():
        plain = bert(**inputs).last_hidden_state
        with ga.attach_target(bert, min(target, 3), ga.ActivationDropout(0.5, apply_prob=1.0)):
            hooked = bert(**inputs).last_hidden_state
    assert torch.equal(plain, hooked)


@pytest.mark.parametrize("target", [0, 1, 4, 5, "pool"])
def test_eval_outputs_unchanged_resnet(target):
    net = tiny_resnet().eval()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        plain = net(x)
        with ga.attach_target(net, target, ga.ActivationPCA(k=1, q=3, apply_prob=1.0)):
            hooked = net(x)
    assert torch.equal(plain, hooked)


def test_handle_removes_every_hook():
    bert = tiny_bert()
    handle = ga.attach_target(bert, 1, ga.ActivationDropout(0.2))
    assert bert._forward_pre_hooks and bert.embeddings._forward_hooks == {}
    assert "TargetHandle(1, 'encoder.layer.0'" in repr(handle)
    handle.remove()
    assert not bert._forward_pre_hooks and not bert._forward_hooks
    assert not bert.encoder.layer[0]._forward_hooks


def test_training_mode_head_target_changes_output():
    net = tiny_resnet().train()
    x = torch.randn(4, 3, 16, 16)
    with ga.attach_target(net, 5, ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)) as h:
        assert h.name == "head"
        torch.manual_seed(0)
        out = net(x)
    assert out.shape == (4, 8)


# -- smoke tests of the benchmark scripts' core functions (tiny inputs, no weights) ------------
def _benchmark(name):
    import importlib
    import sys
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"benchmarks.{name}")


def test_text_benchmark_core(tmp_path):
    text = _benchmark("text")
    tokenizer_words = [f"w{i}" for i in range(20)]

    def tokenizer(batch, padding, truncation, max_length, return_tensors):
        ids = [[1 + tokenizer_words.index(w) % 50 for w in s.split()][:max_length] for s in batch]
        width = max(len(i) for i in ids)
        return {"input_ids": torch.tensor([i + [0] * (width - len(i)) for i in ids]),
                "attention_mask": torch.tensor([[1] * len(i) + [0] * (width - len(i))
                                                for i in ids])}

    sentences = ["w1 w2 w3", "w4 w5", "w6 w7 w8 w9", "w10", "w11 w12", "w13 w14 w15"]
    batches = list(text.sentence_batches(sentences, tokenizer, 4, 2, 8, seed=0)(0))
    assert len(batches) == 2 and batches[0]["input_ids"].shape[0] == 4
    bert = tiny_bert()
    assert torch.isfinite(text.SimCSE(bert)(batches[0]))
    model, history = text.train_simcse(bert, tokenizer, sentences, kind="pca", target=2,
                                       k=1, steps=2, batch_size=4, max_length=8)
    assert len(history) == 1 and not any(m._forward_hooks for m in model.modules())
    hidden, mask = torch.ones(2, 3, 4), torch.tensor([[1, 1, 0], [1, 0, 0]])
    hidden[0, 2] = 100.0  # padding does not enter the mean
    assert torch.equal(text.mean_pool(hidden, mask), torch.ones(2, 4))
    path = tmp_path / "sts.csv"
    path.write_text("g\tf\t2012\t1\t4.5\ta b\tc d\textra\n", encoding="utf-8")
    assert text.read_stsb(path) == [("a b", "c d", 4.5)]
    runs = [{"name": "baseline", "kind": None, "stsb_dev": 1.0},
            {"name": "pca1@2", "kind": "pca", "stsb_dev": 2.0},
            {"name": "pca1@4", "kind": "pca", "stsb_dev": 3.0}]
    report = _benchmark("report")
    assert report.select_best(runs, "stsb_dev") == {"baseline": "baseline", "pca": "pca1@4"}


def test_vision_benchmark_core():
    vision = _benchmark("vision")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    view = vision.simclr_view(images, g)
    assert view.shape == (8, 3, 16, 16) and torch.isfinite(view).all()
    x = images.float() / 255
    assert torch.equal(vision.random_resized_crop_flip(x, torch.Generator().manual_seed(1)),
                       vision.random_resized_crop_flip(x, torch.Generator().manual_seed(1)))
    jittered = vision.colour_jitter(x, g)
    assert jittered.min() >= 0 and jittered.max() <= 1
    assert len(list(vision.image_batches(images, 3, seed=0)(0))) == 2
    data = {"x_train": images, "y_train": torch.arange(8) % 2}
    net, history = vision.train_simclr(data, kind="dropout", target=2, rate=0.25,
                                       widths=(4, 8, 8, 8), epochs=1, batch_size=4, lr=1e-3,
                                       temperature=0.5, seed=0)
    assert len(history) == 1 and vision.features(net, images).shape == (8, 8)
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    feats = rng.normal(size=(200, 3)) + 3 * y[:, None]
    probe = vision.linear_probe(feats[:150], y[:150], feats[150:], y[150:])
    assert probe["val"] > 90 and probe["test"] > 90
