"""Cross-modality parity of the label-free criteria: graphaug.select.embedding_criteria, the
report section of the text and vision sweeps, and a tiny vision sweep end to end."""
import json

import pytest
import torch
import transformers

from conftest import copy_dataset, load_benchmark
from graphaug.utils import CorruptFileWarning
from graphaug.select import (CRITERIA, alignment, embedding_criteria, rankme, select_config,
                             uniformity)


def test_embedding_criteria_wiring():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(64, 8, generator=gen)
    view = z + 0.1 * torch.randn(64, 8, generator=gen)
    out = embedding_criteria(z, view, loss=1.25, coadaptation=0.5)
    assert out == {"rankme": rankme(z), "alignment": alignment(z, view),
                   "uniformity": uniformity(z), "loss": 1.25, "cka": 0.5}
    assert list(embedding_criteria(z, view)) == ["rankme", "alignment", "uniformity"]
    assert embedding_criteria(z, 2 * z)["alignment"] < 1e-12  # identical directions
    collapsed = torch.randn(64, 1, generator=gen) @ torch.randn(1, 8, generator=gen)
    assert embedding_criteria(collapsed, collapsed)["rankme"] < 1.5 < \
        embedding_criteria(z, view)["rankme"]
    assert list(embedding_criteria(z, view, criteria=["uniformity"])) == ["uniformity"]
    with pytest.raises(ValueError, match="coadaptation="):
        embedding_criteria(z, view, criteria=["cka"])
    with pytest.raises(ValueError, match="unknown criteria"):
        embedding_criteria(z, view, criteria=["accuracy"])


def _runs():
    names = ["none", "dropout:0.25@1", "dropout:0.25@2", "pca:1@2"]
    val = [40.0, 42.0, 41.0, 39.0]
    return [{"name": n, "kind": None if n == "none" else n.split(":")[0], "val": v,
             "test": v - 1, "criteria": {"rankme": v / 2, "alignment": 1 - v / 100,
                                         "uniformity": -v / 100 + (i == 2), "loss": 3.0,
                                         "cka": 0.5 + i / 10}}
            for i, (n, v) in enumerate(zip(names, val))]


def test_criteria_section_picks_columns_and_orientation():
    report = load_benchmark("report")
    runs = _runs()
    summary, lines = report.criteria_section(runs, "val", {r["name"]: r["test"] for r in runs},
                                             "test acc", "a sample")
    candidates = {r["name"]: r["criteria"] for r in runs}
    for name in CRITERIA:
        assert summary[name]["pick"] == select_config(candidates, name)
        pick = next(r for r in runs if r["name"] == summary[name]["pick"])
        assert summary[name]["val"] == pick["val"] and summary[name]["test"] == pick["test"]
    assert summary["validation"]["pick"] == "dropout:0.25@1" and summary["none"]["pick"] == "none"
    assert summary["rankme"]["spearman"] == pytest.approx(1.0)  # higher rankme, higher val
    assert summary["alignment"]["spearman"] == pytest.approx(1.0)  # lower alignment: oriented
    # -cka ranks 4 3 2 1, val ranks 2 4 3 1: rho = 1 - 6 * (4 + 1 + 1 + 0) / (4 * 15) = 0.4
    assert summary["cka"]["spearman"] == pytest.approx(0.4)
    assert summary["loss"]["spearman"] is None  # constant column: undefined
    assert summary["loss"]["pick"] == "none"  # ties: the preset, first in sweep order
    header = next(line for line in lines if line.startswith("| criterion"))
    assert header == "| criterion | better | pick | val | test acc | Spearman |"
    rows = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ")}
    assert rows["loss"].endswith("| - |") and "+1.00" in rows["rankme"]
    assert "validation (val, labels)" in rows and "preset none" in rows
    assert report.criteria_section([{k: v for k, v in r.items() if k != "criteria"}
                                    for r in runs], "val", {}, "test", "x")[0] == {}


def test_text_criteria_restores_mode_and_rng_and_views_are_dropout():
    text = load_benchmark("text")
    words = [f"w{i}" for i in range(20)]

    def tokenizer(batch, padding, truncation, max_length, return_tensors):
        ids = [[1 + words.index(w) for w in s.split()][:max_length] for s in batch]
        width = max(len(i) for i in ids)
        return {"input_ids": torch.tensor([i + [0] * (width - len(i)) for i in ids]),
                "attention_mask": torch.tensor([[1] * len(i) + [0] * (width - len(i))
                                                for i in ids])}

    sentences = ["w1 w2 w3", "w4 w5", "w6 w7 w8 w9", "w10", "w11 w12", "w13 w14 w15"]
    config = dict(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=32)
    cka = [[1.0, 0.6], [0.6, 1.0]]
    torch.manual_seed(0)
    plain = transformers.BertModel(transformers.BertConfig(
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **config)).eval()
    state = torch.random.get_rng_state()
    out = text.text_criteria(plain, tokenizer, sentences, cka, batch_size=4)
    assert torch.equal(torch.random.get_rng_state(), state) and not plain.training
    assert out["alignment"] < 1e-12 and out["cka"] == pytest.approx(0.6)  # no dropout
    dropout = transformers.BertModel(transformers.BertConfig(hidden_dropout_prob=0.3,
                                                             **config)).train()
    noisy = text.text_criteria(dropout, tokenizer, sentences, cka, batch_size=4)
    assert dropout.training and noisy["alignment"] > 1e-4  # views differ: the model's dropout
    assert noisy == text.text_criteria(dropout, tokenizer, sentences, cka, batch_size=4)


def test_tiny_vision_sweep_reports_label_free_picks_and_recomputes_stale_runs(tmp_path):
    root = copy_dataset(tmp_path / "data", "vision", "cifar10_prefix_subset")
    vision = load_benchmark("vision")
    report = load_benchmark("report")
    cfg = vision.VisionConfig(root=str(root), out=str(tmp_path / "out"),
                              cache=str(tmp_path / "cache"), epochs=1, stages=(1, 2),
                              rates=(0.25,), pca_k=(1,), pca_stages=(2,), widths=(4, 8, 8, 8),
                              batch_size=32, max_images=120, threads=1)
    result = vision.run(cfg)
    runs = result["runs"]
    assert [r["name"] for r in runs] == ["none", "dropout:0.25@1", "dropout:0.25@2", "pca:1@2"]
    assert all(set(r["criteria"]) == set(CRITERIA) for r in runs)
    assert result["label_free"] == report.criteria_section(
        runs, "val", {r["name"]: r["test"] for r in runs}, "t", "w")[0]
    picks = report.label_free_picks(runs)
    assert picks == {c: select_config({r["name"]: r["criteria"] for r in runs}, c)
                     for c in CRITERIA}
    text = (tmp_path / "out" / "vision.md").read_text()
    assert "| criterion | better | pick | val | test acc | Spearman |" in text
    assert "| run | rankme | alignment | uniformity | loss | cka | val |" in text
    # a run cached before the criteria existed is recomputed, not reported without them
    (stale,) = (tmp_path / "cache").rglob("dropout_0.25_2/*/seed0.json")
    stored = json.loads(stale.read_text())
    criteria = stored.pop("criteria")
    stale.write_text(json.dumps(stored))
    with pytest.warns(CorruptFileWarning, match="criteria.rankme is missing"):
        again = vision.run(cfg)
    assert json.loads(stale.read_text())["criteria"] == criteria  # recomputed, same numbers
    assert [r["criteria"] for r in again["runs"]] == [r["criteria"] for r in runs]


@pytest.mark.parametrize("name, option, field", [("text", "--pca-layers", "pca_layers"),
                                                 ("vision", "--pca-stages", "pca_stages")])
def test_pca_targets_can_be_restricted_or_dropped(name, option, field):
    module = load_benchmark(name)
    config = {"text": "TextConfig", "vision": "VisionConfig"}[name]
    targets = "--layers" if name == "text" else "--stages"

    def names(*argv):
        cfg = getattr(module, config).from_namespace(module.parser().parse_args(
            [targets, "1", "2", *argv]))
        return [c["name"] for c in module.configurations(
            getattr(cfg, targets[2:]), cfg.rates, cfg.pca_k, getattr(cfg, field))]

    dropout = ["none", *(f"dropout:{0.125 if name == 'text' else 0.25}@{t}" for t in (1, 2))]
    assert names() == [*dropout, "pca:1@1", "pca:1@2"]  # default: the same targets
    assert names(option, "2") == [*dropout, "pca:1@2"]
    assert names(option) == dropout  # none given: no PCA runs
    with pytest.raises(ValueError, match=r"\[9\]"):
        getattr(module, config)(**{field: (9,)})
