"""The mutation check: deliberate bugs the test suite must catch.

Each mutant below is one semantic bug: an exact snippet of a library file, its replacement and
the tests that must fail once it is in. For every mutant the script copies the working tree
(tracked and untracked, not ignored files) to a temporary folder, applies the replacement
there, runs the listed tests against the copy (``PYTHONPATH`` = the copy, so the copy's
``graphaug`` is imported) and reports

* ``killed``: the tests failed, as they must;
* ``survived``: they passed -- the suite cannot see this bug (a defect of the tests);
* ``ERROR``: the snippet is not found exactly once (code moved: update the list), or the
  tests could not run (collection error, no tests, or they fail on the unmutated copy).

Every listed mutant must be killed; the exit status is non-zero otherwise. The full run takes
about half an hour on a shared two-core machine (a baseline run of every listed test, then
about 1.5 minutes per mutant), so CI does not run it; ``tests/test_mutants.py`` checks on
every run that each snippet is still found exactly once and each named test exists, so the
list cannot rot. Run it before resolving an issue that touches the code a mutant names:

    python3 scripts/mutants.py                 # every mutant
    python3 scripts/mutants.py temperature lr  # the mutants whose name contains a word
    python3 scripts/mutants.py --list          # names, files and tests only

The shared datasets are found as the tests find them (``GRAPHAUG_SHARED``, default
``../shared/datasets`` beside the repository); tests that skip for lack of data cannot kill a
mutant, so a missing data folder shows as survivors, never as false kills.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: ``original`` (found exactly once in ``file``) becomes
    ``replacement``; ``tests`` (pytest arguments, relative to the repository) must fail."""

    name: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    why: str = ""


LEARNING = "tests/test_learning.py"
CONTRASTIVE = "tests/test_contrastive.py"
CHEMISTRY = f"{CONTRASTIVE}::test_chemistry_views_follow_the_config"

MUTANTS: tuple[Mutant, ...] = (
    # -- learning itself ----------------------------------------------------------------------
    Mutant("train_never_steps", "graphaug/contrastive/trainer.py",
           "            optimizer.step()\n", "            pass\n",
           (f"{LEARNING}::test_one_step_changes_the_weights_and_lowers_the_loss",
            f"{LEARNING}::test_pretraining_lowers_the_contrastive_loss"),
           "train() computes gradients but never updates the weights"),
    Mutant("lightning_ignores_lr", "graphaug/lightning.py",
           "torch.optim.Adam(self.parameters(), lr=self.lr)",
           "torch.optim.Adam(self.parameters(), lr=0.01)",
           ("tests/test_lightning.py",), "GraphCLModule(lr=...) trains at GraphCL's 0.01"),
    # -- GraphCL's settings -------------------------------------------------------------------
    Mutant("graphcl_ignores_temperature", "graphaug/contrastive/model.py",
           "return self.loss_fn(z1, z2, temperature=self.temperature)",
           "return self.loss_fn(z1, z2)",
           (f"{CONTRASTIVE}::test_graphcl_loss_is_nt_xent_at_its_temperature",), "GraphCL's loss at the losses' default 0.2"),
    Mutant("graphcl_ignores_augment_both", "graphaug/contrastive/model.py",
           "self.augment_both, self.share_trunk = bool(augment_both), bool(share_trunk)",
           "self.augment_both, self.share_trunk = False, bool(share_trunk)",
           (f"{CONTRASTIVE}::test_augment_both_makes_view_one_an_augmentation",), "view 1 stays the original graph"),
    Mutant("config_ignores_augment_both", "graphaug/contrastive/pipeline.py",
           "augment_both=cfg.augment_both,", "augment_both=False,",
           (CHEMISTRY,), "MethodConfig(augment_both=True) is dropped"),
    Mutant("config_ignores_temperature", "graphaug/contrastive/pipeline.py",
           "temperature=cfg.temperature, loss=\"graphcl\"", "temperature=0.2, loss=\"graphcl\"",
           (f"{CONTRASTIVE}::test_graphcl_loss_is_nt_xent_at_its_temperature",), "MethodConfig(temperature=0.1) trains at 0.2"),
    Mutant("config_ignores_aug_ratio", "graphaug/contrastive/pipeline.py",
           "ViewAugmentation(cfg.input_aug, cfg.aug_ratio,",
           "ViewAugmentation(cfg.input_aug, 0.1,",
           (CHEMISTRY,), "the chemistry views' 20 % become GraphCL TU's 10 %"),
    Mutant("config_ignores_subgraph_keep", "graphaug/contrastive/pipeline.py",
           "subgraph_keep=cfg.subgraph_keep,", "subgraph_keep=0.2,",
           (CHEMISTRY,), "the chemistry subgraph keeps 20 % instead of 80 %"),
    # -- the method (killed before issue 33; kept so that they stay killed) --------------------
    Mutant("dropout_without_rescaling", "graphaug/transforms.py",
           "return x * keep.to(x.dtype) / (1.0 - self.p)", "return x * keep.to(x.dtype)",
           ("tests/test_transforms.py",), "survivors not scaled by 1/(1-p)"),
    Mutant("pca_removes_the_wrong_end", "graphaug/transforms.py",
           "return v[:, :self.k] if self.k > 0 else v[:, self.q + self.k:]",
           "return v[:, -self.k:] if self.k > 0 else v[:, :-self.k]",
           ("tests/test_transforms.py",), "k=+K removes the last K directions and vice versa"),
    Mutant("stop_gradient_removed", "graphaug/transforms.py",
           "            transformed = transformed.detach()\n",
           "            transformed = transformed\n",
           ("tests/test_transforms.py",), "stop_grad=True keeps the gradient path"),
    Mutant("per_node_selection", "graphaug/transforms.py",
           "position_sel = selected[sample_index] if sample_index is not None else selected",
           "position_sel = select_samples(x.size(0), self.apply_prob, x.device, self.generator)",
           ("tests/test_transforms.py",), "each row chosen on its own instead of whole samples"),
    Mutant("transforms_active_in_eval_mode", "graphaug/transforms.py",
           "return self.force or (self.training if training is None else bool(training))",
           "return True", ("tests/test_transforms.py",), "evaluation is augmented too"),
    Mutant("positive_in_the_denominator", "graphaug/contrastive/losses.py",
           "logits.masked_fill(is_positive, float(\"-inf\"))", "logits",
           (f"{CONTRASTIVE}::test_losses_match_direct_loops",), "GraphCL's NT-Xent becomes InfoNCE"),
    Mutant("node_drop_twice_the_ratio", "graphaug/views.py",
           "plan_drop_nodes(view, ratio, active, gen),",
           "plan_drop_nodes(view, 2 * ratio, active, gen),",
           ("tests/test_views.py",), "dnodes at 10 % drops 20 % of the nodes"),
    Mutant("svm_c_chosen_on_the_test_fold", "graphaug/evaluate.py",
           "lambda f: run((splits[f][0], splits[f][1], [c_grid[best[f]]]))[0], order)))",
           "lambda f: max(run((splits[f][0], splits[f][1], c_grid))), order)))",
           ("tests/test_evaluate.py",), "the best test accuracy over the C grid is reported"),
    Mutant("tu_cache_key_without_lr", "graphaug/experiments/tu.py",
           '"method": cfg.to_dict(), "seed": seed,',
           '"method": {k: v for k, v in cfg.to_dict().items() if k != "lr"}, "seed": seed,',
           ("tests/test_harness.py",), "a TU run at another lr reads the cached one"),
    Mutant("ogb_cache_key_without_ft_lr", "graphaug/experiments/ogb.py",
           '("ft_epochs", "ft_batch_size", "ft_lr",', '("ft_epochs", "ft_batch_size",',
           ("tests/test_ogb.py::test_ogb_benchmark_runs_and_resumes",),
           "an OGB run fine-tuned at another lr reads the cached one"),
    Mutant("gathered_views_detached", "graphaug/distributed.py",
           "out = _GatherWithGrad.apply(z, sizes)", "out = _GatherWithGrad.apply(z, sizes).detach()",
           ("tests/test_distributed.py",), "other ranks' views carry no gradient"),
)


def tree_files(root: Path) -> list[str]:
    """The working tree's files that git does not ignore (tracked or not)."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p and (root / p).is_file()]


def copy_tree(root: Path, target: Path) -> None:
    for rel in tree_files(root):
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest)


def snippet_count(root: Path, mutant: Mutant) -> int:
    """How often ``mutant.original`` occurs in its file under ``root`` (-1: no such file)."""
    path = root / mutant.file
    if not path.is_file():
        return -1
    return path.read_text(encoding="utf-8").count(mutant.original)


def apply(root: Path, mutant: Mutant) -> None:
    path = root / mutant.file
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(mutant.original, mutant.replacement, 1), encoding="utf-8")


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, str]:
    """``(pytest exit status, last lines of its output)`` for ``tests`` run in ``copy``."""
    env = dict(os.environ, PYTHONPATH=str(copy), OMP_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    shared = ROOT.parent / "shared" / "datasets"
    env.setdefault("GRAPHAUG_SHARED", str(shared))
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-W", "ignore", *tests]
    try:
        done = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, "\n".join(lines[-3:])


def check_one(mutant: Mutant, timeout: float) -> tuple[str, str]:
    """``(outcome, detail)`` of one mutant: killed, survived or ERROR."""
    count = snippet_count(ROOT, mutant)
    if count != 1:
        where = "file missing" if count < 0 else f"snippet found {count} times"
        return "ERROR", f"{mutant.file}: {where}; update the mutant list"
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        copy = Path(tmp) / ROOT.name
        copy_tree(ROOT, copy)
        apply(copy, mutant)
        status, tail = run_tests(copy, mutant.tests, timeout)
    if status == 1:  # pytest: some test failed
        return "killed", tail.splitlines()[-1] if tail else ""
    if status == 0:
        return "survived", tail.splitlines()[-1] if tail else ""
    return "ERROR", f"pytest exit status {status}: {tail}"


def baseline(mutants: list[Mutant], timeout: float) -> tuple[bool, str]:
    """The listed tests must pass on the unmutated tree, or no kill means anything."""
    tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
    with tempfile.TemporaryDirectory(prefix="mutant-baseline-") as tmp:
        copy = Path(tmp) / ROOT.name
        copy_tree(ROOT, copy)
        status, tail = run_tests(copy, tests, timeout)
    return status == 0, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("words", nargs="*", help="run only mutants whose name contains one")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the unmutated run of the listed tests")
    parser.add_argument("--tests", nargs="+", metavar="PATH",
                        help="run these tests for every mutant instead of the listed ones")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds per pytest run (default: 900)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.words or any(w in m.name for w in args.words)]
    if not chosen:
        parser.error(f"no mutant name contains any of {args.words}")
    if args.tests:
        chosen = [replace(m, tests=tuple(args.tests)) for m in chosen]
    if args.list:
        for m in chosen:
            print(f"{m.name:32s} {m.file:36s} {' '.join(m.tests)}  ({m.why})")
        return 0
    if not args.no_baseline:
        ok, tail = baseline(chosen, args.timeout)
        if not ok:
            print(f"the listed tests fail on the unmutated tree:\n{tail}")
            return 2
    failures = 0
    print(f"{'mutant':32s} {'outcome':9s} {'seconds':>7s}  detail")
    for m in chosen:
        started = time.perf_counter()
        outcome, detail = check_one(m, args.timeout)
        failures += outcome != "killed"
        print(f"{m.name:32s} {outcome:9s} {time.perf_counter() - started:7.1f}  {detail}",
              flush=True)
    print(f"{len(chosen) - failures} of {len(chosen)} killed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
