"""Label-free selection, validated on the committed TU sweeps (issue 32).

For every (dataset, seed, candidate) of a full sweep (the deep-aug candidates: target layer x
transform/rate, plus the plain preset ``none`` = GraphCL's random2 without activation
transform) the encoder is re-pretrained with the recorded configuration and seed (pretraining
only), checked against the recorded per-epoch loss, and every label-free criterion of
:mod:`graphaug.select` is computed on its un-augmented embeddings. Where the re-run does not
reproduce the recorded final loss (relative tolerance ``--tol``), that run's SVM protocol is
re-run too, so criterion and accuracy always come from the same encoder.

Steps:
  extract  read the sweeps' runs.jsonl (config, loss per epoch, test, fold_val, fold_test,
           seconds) into one compact JSON-lines file (outside git);
  run      the re-pretraining, one run at a time, cached as one JSON file per run (resumable;
           seeds 0-4 of every dataset before any dataset gets more);
  report   per dataset: Spearman correlation of each criterion with test accuracy across
           candidates, each criterion's pick against the preset and the nested-validation
           pick (paired over seeds), regret and compute; results.md/json and runs.jsonl.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch


from graphaug.contrastive import MethodConfig, pretrain
from graphaug.data import load_tu
from graphaug.evaluate import SVM_C_GRID, embed_graphs, nested_select, svm_protocol
from graphaug.select import CRITERIA, graph_criteria, select_config
from graphaug.stats import paired_comparison
from graphaug.utils import atomic_write_json, atomic_write_text
from .options import HelpFormatter
from .report import markdown_table
from .runner import folder_runs

SWEEPS = {"MUTAG": "tu_sweep_mutag", "PROTEINS": "tu_sweep_proteins",
          "IMDB-BINARY": "tu_sweep_imdb", "NCI1": "tu_sweep_nci1", "DD": "tu_sweep_dd",
          "REDDIT-BINARY": "tu_sweep_reddit"}
ORDER = ["MUTAG", "PROTEINS", "IMDB-BINARY", "NCI1", "DD", "REDDIT-BINARY"]
FIELDS = ("test", "val", "fold_val", "fold_test", "loss", "train_seconds", "eval_seconds")


def spec(config: dict) -> str:
    """The short name of a candidate: ``none`` (the preset), ``dropout:0.25@2``, ``pca:-1@3``."""
    if config["method"] == "graphcl":
        return "none"
    rate = f"{config['rate']:g}" if config["transform"] == "dropout" else \
        f"{int(config['rate'])}"
    return f"{config['transform']}:{rate}@{config['target']}"


def extract(args) -> None:
    """The sweeps' deepaug and graphcl runs -> ``args.records`` (JSON lines)."""
    lines = []
    for name, folder in SWEEPS.items():
        runs = folder_runs(Path(args.results) / folder, name)  # its runs.jsonl
        if not runs:
            raise FileNotFoundError(f"no runs of {name} in {args.results}/{folder}")
        for run in runs:
            if run["config"]["method"] not in ("graphcl", "deepaug"):
                continue
            lines.append(json.dumps({"dataset": name, "seed": run["seed"],
                                     "candidate": spec(run["config"]), "config": run["config"],
                                     **{k: run[k] for k in FIELDS}}))
    atomic_write_text(args.records, "\n".join(lines) + "\n")
    print(f"{len(lines)} runs -> {args.records}")


def read_records(path) -> dict:
    records = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            records[(r["dataset"], r["seed"], r["candidate"])] = r
    return records


def work_order(records: dict, datasets, seeds, large=("DD", "REDDIT-BINARY")) -> list[tuple]:
    """Seeds 0-4 of every dataset before any dataset gets more: the small datasets one after
    the other (in ``datasets`` order), then the ``large`` ones seed by seed, alternating, so
    that each gets some seeds when the time runs out; the preset first within a seed."""
    order = []
    for block in ([s for s in seeds if s < 5], [s for s in seeds if s >= 5]):
        small = [(name, seed) for name in datasets if name not in large for seed in block]
        big = [(name, seed) for seed in block for name in datasets if name in large]
        for name, seed in small + big:
            cands = sorted({c for (d, s, c) in records if d == name and s == seed},
                           key=lambda c: (c != "none", c))
            order += [(name, seed, c) for c in cands]
    return order


def read_runs(path, sample: int, criteria_seed: int) -> list[dict]:
    """The rows of a report's runs.jsonl (the committed one), checked to be scored like this
    run (criteria on ``sample`` graphs drawn with ``criteria_seed``): a row scored otherwise
    would mix two definitions of a criterion, so it is refused, not merged."""
    rows = []
    for number, line in enumerate(open(path), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            row, scored = entry["metrics"], entry["spec"]["criteria"]
            key = (row["dataset"], row["seed"], row["candidate"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}, line {number}: not a label-free run ({error!r}); pass "
                             "the runs.jsonl that `graphaug label-free report` wrote") from None
        if scored != {"sample": sample, "seed": criteria_seed}:
            raise ValueError(f"{path}, line {number}: {key} was scored with {scored}, this run "
                             f"with sample={sample}, seed={criteria_seed}; pass the same "
                             "--sample and --criteria-seed, or leave --runs out")
        rows.append(row)
    return rows


def _key(row: dict) -> tuple:
    return row["dataset"], row["seed"], row["candidate"]


def run(args) -> None:
    records = read_records(args.records)
    cache = Path(args.cache)
    datasets: dict = {}
    order = work_order(records, args.datasets, args.seeds)
    # runs finished in a report's runs.jsonl (e.g. the committed one) are not redone
    done = {_key(r) for r in read_runs(args.runs, args.sample, args.criteria_seed)} \
        if args.runs else set()
    todo = [k for k in order if k not in done
            and not (cache / k[0] / k[2] / f"seed{k[1]}.json").is_file()]
    print(f"{len(order)} runs, {len(todo)} to do"
          + (f" ({len(done & set(order))} done in {args.runs})" if done else ""), flush=True)
    for name, seed, cand in todo:
        rec = records[(name, seed, cand)]
        if name not in datasets:
            datasets[name] = load_tu(name, args.root, self_loops=True, download=False)
        ds = datasets[name]
        cfg = MethodConfig(**rec["config"])
        start = time.perf_counter()
        encoder, history = pretrain(ds.graphs, ds.num_features, cfg, seed)
        train_seconds = time.perf_counter() - start
        recorded = rec["loss"][-1]
        rel = abs(history[-1] - recorded) / abs(recorded)
        start = time.perf_counter()
        crit = graph_criteria(encoder, ds.graphs, sample=args.sample, seed=args.criteria_seed)
        criteria_seconds = time.perf_counter() - start
        out = {"dataset": name, "seed": seed, "candidate": cand, "loss_final": history[-1],
               "loss_recorded": recorded, "loss_rel_diff": rel, "reproduced": rel <= args.tol,
               "train_seconds": train_seconds, "criteria_seconds": criteria_seconds,
               "criteria": crit}
        if not out["reproduced"]:  # criterion and accuracy must come from the same encoder
            start = time.perf_counter()
            x, y = embed_graphs(encoder, ds.graphs)
            res = svm_protocol(x, y, seed=seed, folds=10, inner_folds=5, c_grid=SVM_C_GRID)
            out["svm"] = {k: res[k] for k in ("test", "val", "fold_val", "fold_test")}
            out["svm_seconds"] = time.perf_counter() - start
        atomic_write_json(cache / name / cand / f"seed{seed}.json", out)
        print(f"{time.strftime('%H:%M:%S')} {name:13s} seed {seed} {cand:16s} "
              f"loss {history[-1]:.6f} (recorded {recorded:.6f}, rel {rel:.1e}) "
              f"rankme {crit['rankme']:.2f} align {crit['alignment']:.3f} "
              f"unif {crit['uniformity']:.3f} heldout {crit['loss']:.3f} cka {crit['cka']:.3f} "
              f"({train_seconds:.1f}s + {criteria_seconds:.1f}s)", flush=True)


PRESET = "none"
SELECTIONS = (*CRITERIA, "validation", "validation-deep")


def collect(records: dict, cache) -> list[dict]:
    """One compact row per cached re-run: accuracies (the sweep's, or the re-run SVM's where
    the loss was not reproduced), criteria and seconds."""
    rows = []
    for path in sorted(Path(cache).glob("*/*/seed*.json")):
        r = json.load(open(path))
        rec = records.get(_key(r))
        if rec is None:
            raise ValueError(f"{path}: {_key(r)} is not among the extracted sweep runs; run "
                             "`graphaug label-free extract` first (or pass its --records)")
        acc = r.get("svm") or rec
        rows.append({"dataset": r["dataset"], "seed": r["seed"], "candidate": r["candidate"],
                     "test": acc["test"], "fold_val": acc["fold_val"],
                     "fold_test": acc["fold_test"],
                     "criteria": {k: r["criteria"][k] for k in CRITERIA},
                     "reproduced": r["reproduced"], "loss_rel_diff": r["loss_rel_diff"],
                     "train_seconds": r["train_seconds"],
                     "criteria_seconds": r["criteria_seconds"],
                     "svm_seconds": r.get("svm_seconds", rec["eval_seconds"])})
    return rows


def _spearman(values, tests, direction: str) -> float:
    """Spearman correlation of a criterion with test accuracy, oriented so that a positive
    value means "the criterion's better end goes with higher accuracy"."""
    from scipy.stats import spearmanr

    if np.ptp(values) == 0 or np.ptp(tests) == 0:
        return float("nan")
    rho = float(spearmanr(values, tests).statistic)
    return rho if direction == "max" else -rho


def _paired(a, b) -> dict | None:
    return paired_comparison(a, b) if len(a) >= 2 else None


def analyse(rows: list[dict], preset: str = PRESET, expected: dict | None = None) -> dict:
    """Per dataset: for every selection (each criterion of :data:`CRITERIA`; ``validation`` =
    strict nested selection on ``fold_val`` with the preset among the candidates;
    ``validation-deep`` = the same without the preset, as the sweeps ran it; ``preset``) the
    test accuracy per seed, its regret against the best candidate of that seed, the paired
    comparisons with the preset and with ``validation``, the picks and the compute per seed.
    Only seeds holding every candidate of the dataset (``expected[dataset]``, default: every
    candidate seen) are used."""
    by = collections.defaultdict(lambda: collections.defaultdict(dict))
    for r in rows:
        by[r["dataset"]][r["seed"]][r["candidate"]] = r
    out = {}
    for name in [d for d in ORDER if d in by] + sorted(set(by) - set(ORDER)):
        seeds_map = by[name]
        seen = {c for runs in seeds_map.values() for c in runs}
        cands = sorted(set((expected or {}).get(name, ())) | seen,
                       key=lambda c: (c != preset, c))
        seeds = sorted(s for s, runs in seeds_map.items() if len(runs) == len(cands))
        entry = {"candidates": cands, "seeds": seeds,
                 "partial_seeds": sorted(set(seeds_map) - set(seeds))}
        out[name] = entry
        if not seeds or preset not in cands:
            continue
        tests = {sel: [] for sel in (*SELECTIONS, "preset", "best")}
        picks = {sel: [] for sel in SELECTIONS}
        rho = {c: [] for c in CRITERIA}
        cost = {sel: [] for sel in (*SELECTIONS, "preset")}
        for seed in seeds:
            runs = {c: seeds_map[seed][c] for c in cands}
            acc = {c: runs[c]["test"] for c in cands}
            pretrain_all = sum(r["train_seconds"] for r in runs.values())
            criteria_all = sum(r["criteria_seconds"] for r in runs.values())
            svm = {c: runs[c]["svm_seconds"] for c in cands}
            for crit, (direction, _) in CRITERIA.items():
                values = [runs[c]["criteria"][crit] for c in cands]
                rho[crit].append(_spearman(values, [acc[c] for c in cands], direction))
                pick = select_config({c: runs[c]["criteria"] for c in cands}, crit)
                picks[crit].append(pick)
                tests[crit].append(acc[pick])
                cost[crit].append(pretrain_all + criteria_all + svm[pick] +
                                  (svm[preset] if pick != preset else 0.0))
            for sel, pool in (("validation", cands), ("validation-deep", cands[1:])):
                nested = nested_select({c: runs[c] for c in pool})
                tests[sel].append(nested["test"])
                picks[sel].extend(nested["fold_choice"])
                cost[sel].append(sum(r["train_seconds"] for c, r in runs.items() if c in pool)
                                 + sum(svm[c] for c in pool))
            tests["preset"].append(acc[preset])
            cost["preset"].append(runs[preset]["train_seconds"] + svm[preset])
            tests["best"].append(max(acc.values()))
        sel_rows = {}
        for sel in (*SELECTIONS, "preset"):
            t = tests[sel]
            row = {"test": t, "mean": float(np.mean(t)),
                   "regret": float(np.mean(np.subtract(tests["best"], t))),
                   "vs_preset": _paired(t, tests["preset"]) if sel != "preset" else None,
                   "vs_validation": _paired(t, tests["validation"])
                   if sel != "validation" else None,
                   "seconds_per_seed": float(np.mean(cost[sel]))}
            if sel in picks:
                row["picks"] = collections.Counter(picks[sel]).most_common()
            if sel in rho:
                finite = [v for v in rho[sel] if np.isfinite(v)]
                row["spearman"] = rho[sel]
                row["spearman_mean"] = float(np.mean(finite)) if finite else float("nan")
                row["spearman_sd"] = float(np.std(finite, ddof=1)) if len(finite) > 1 \
                    else float("nan")
            sel_rows[sel] = row
        entry["selections"] = sel_rows
        entry["best"] = tests["best"]
        entry["reproduced"] = [sum(seeds_map[s][c]["reproduced"] for s in seeds for c in cands),
                               len(seeds) * len(cands)]
        entry["max_loss_rel_diff"] = max(seeds_map[s][c]["loss_rel_diff"]
                                         for s in seeds for c in cands)
    return out


def analyse_once(analysis: dict, rows: list[dict], records: dict, preset: str = PRESET) -> dict:
    """The cheaper protocol: each criterion picks one candidate per dataset from the re-runs
    of its first complete seed (labels never read), and that pick is then evaluated on every
    seed of the sweep (the sweep's own SVM results), against the preset and strict nested
    validation (preset among its candidates) on the same seeds. Its cost is one pretraining
    sweep per dataset instead of one per seed."""
    by_rows = {_key(r): r for r in rows}
    out = {}
    for name, entry in analysis.items():
        if not entry.get("seeds"):
            continue
        cands, first = entry["candidates"], entry["seeds"][0]
        seeds = sorted({s for (d, s, _) in records if d == name})
        seeds = [s for s in seeds if all((name, s, c) in records for c in cands)]
        if len(seeds) < 2:
            continue
        acc = {s: {c: records[(name, s, c)]["test"] for c in cands} for s in seeds}
        tests = {"preset": [acc[s][preset] for s in seeds],
                 "validation": [nested_select({c: records[(name, s, c)] for c in cands})["test"]
                                for s in seeds]}

        def pick(crit: str, seed: int) -> str:
            return select_config({c: by_rows[(name, seed, c)]["criteria"] for c in cands}, crit)

        picks = {crit: pick(crit, first) for crit in CRITERIA}
        # how much the outcome depends on the seed the pick is made on: every re-run seed
        stability = {}
        for crit in CRITERIA:
            chosen = [pick(crit, s) for s in entry["seeds"]]
            judged = [(_paired([acc[s][c] for s in seeds], tests["preset"]),
                       _paired([acc[s][c] for s in seeds], tests["validation"])) for c in chosen]
            stability[crit] = {
                "pick_seeds": entry["seeds"], "picks": collections.Counter(chosen).most_common(),
                "worse_than_preset": sum(p["high"] < 0 for p, _ in judged),
                "ties_validation": sum(v["high"] >= 0 for _, v in judged)}
            tests[crit] = [acc[s][picks[crit]] for s in seeds]
        best = [max(acc[s].values()) for s in seeds]
        out[name] = {"pick_seed": first, "seeds": seeds, "picks": picks,
                     "stability": stability, "selections": {
                         sel: {"test": t, "mean": float(np.mean(t)),
                               "regret": float(np.mean(np.subtract(best, t))),
                               "vs_preset": _paired(t, tests["preset"])
                               if sel != "preset" else None,
                               "vs_validation": _paired(t, tests["validation"])
                               if sel != "validation" else None}
                         for sel, t in tests.items()}}
    return out


def goals(analysis: dict) -> dict:
    """Per selection: the sets where it is significantly worse than the preset, and the sets
    where it ties or beats validation (paired 95 % interval's upper end >= 0)."""
    out = {}
    for sel in SELECTIONS:
        worse, ties, judged = [], [], []
        for name, entry in analysis.items():
            row = entry.get("selections", {}).get(sel)
            if row is None or row["vs_preset"] is None:
                continue
            judged.append(name)
            if row["vs_preset"]["high"] < 0:
                worse.append(name)
            if sel == "validation" or row["vs_validation"]["high"] >= 0:
                ties.append(name)
        out[sel] = {"judged": judged, "worse_than_preset": worse, "ties_validation": ties}
    return out


def table_estimate(rows: list[dict], records: dict, seeds: int = 10, cores: int = 2,
                   methods: int = 2) -> dict:
    """Cost of the six-dataset table with label-free selection, from measured seconds: per
    dataset and seed every candidate pretrained (the sweep's recorded seconds: 2 worker
    processes on 2 cores) and scored (this re-run's criteria seconds, where measured), the SVM
    protocol for the pick and the preset only (the sweep's seconds), for ``methods`` deep-aug
    methods (deepaug, graphcl+deepaug: the same candidates) plus the preset, times ``seeds``,
    spread over ``cores`` cores with perfect parallelism."""
    crit = collections.defaultdict(list)
    for r in rows:
        crit[r["dataset"]].append(r["criteria_seconds"])
    per = collections.defaultdict(lambda: collections.defaultdict(list))
    for (name, seed, cand), rec in records.items():
        per[name]["pretrain"].append(rec["train_seconds"])
        per[name]["svm"].append(rec["eval_seconds"])
        per[name]["cands"].append(cand)
    out = {}
    for name in ORDER:
        if name not in per:
            out[name] = None
            continue
        n = len(set(per[name]["cands"]))
        train, svm = float(np.mean(per[name]["pretrain"])), float(np.mean(per[name]["svm"]))
        score = float(np.mean(crit[name])) if crit[name] else None
        deep = (n - 1) * (train + (score or 0.0)) + svm  # every candidate, the pick's SVM
        out[name] = {"candidates": n, "pretrain_s": train, "criteria_s": score, "svm_s": svm,
                     "seconds_per_seed": methods * deep + train + svm,
                     "nested_seconds_per_seed": methods * (n - 1) * (train + svm) + train + svm,
                     # one pick per dataset: one sweep of pretrainings, then a fixed table
                     "once_seconds": methods * (n - 1) * (train + (score or 0.0))
                     + seeds * (methods + 1) * (train + svm)}
    known = [v for v in out.values() if v]
    # one transform at every target (5 deep-aug candidates + the preset) instead of the grid
    small = sum(methods * (5 * (v["pretrain_s"] + (v["criteria_s"] or 0.0)) + v["svm_s"])
                + v["pretrain_s"] + v["svm_s"] for v in known)
    return {"five_target_minutes": small * seeds / cores / 60, "per_dataset": out,
            "seeds": seeds, "cores": cores, "methods": methods,
            "minutes": sum(v["seconds_per_seed"] for v in known) * seeds / cores / 60,
            "nested_minutes": sum(v["nested_seconds_per_seed"] for v in known) * seeds / cores
            / 60, "once_minutes": sum(v["once_seconds"] for v in known) / cores / 60,
            "fixed_minutes": sum(seeds * (methods + 1) * (v["pretrain_s"] + v["svm_s"])
                                 for v in known) / cores / 60,
            "criteria_missing": [k for k, v in out.items() if v and v["criteria_s"] is None]}


def _pts(x: float) -> str:
    return f"{100 * x:+.2f}"


def _cmp(c: dict | None) -> str:
    if c is None:
        return "–"
    return (f"{_pts(c['mean'])} [{_pts(c['low'])}, {_pts(c['high'])}] p {c['wilcoxon_p']:.2f}"
            f"{' *' if c['significant'] else ''}")


def smallest_rankme(rows: list[dict]) -> dict:
    """The re-run encoder with the smallest RankMe (what the monitor's collapse threshold,
    graphaug.contrastive.COLLAPSE_RANKME, is checked against)."""
    low = min(rows, key=lambda r: r["criteria"]["rankme"])
    return {"rankme": low["criteria"]["rankme"], "dataset": low["dataset"],
            "candidate": low["candidate"], "seed": low["seed"], "runs": len(rows),
            "test": low["test"],
            "median_test": float(np.median([r["test"] for r in rows
                                            if r["dataset"] == low["dataset"]]))}


def _goal_lines(goal: dict) -> list[str]:
    return [f"- {sel}: significantly worse than the preset on {len(g['worse_than_preset'])} of "
            f"{len(g['judged'])} sets ({', '.join(g['worse_than_preset']) or 'none'}); ties or "
            f"beats validation on {len(g['ties_validation'])} of {len(g['judged'])}"
            for sel, g in goal.items() if g["judged"]]


def once_markdown(once: dict) -> list[str]:
    """The section of the one-pick-per-dataset protocol (`analyse_once`)."""
    lines = ["## One pick per dataset", "",
             "Each criterion picks once per dataset, from the re-runs of the first complete "
             "seed (no labels), and the pick is evaluated on every seed of the sweep (the "
             "sweep's SVM results), paired with the preset and nested validation on the same "
             "seeds. Cost: one sweep of pretrainings per dataset, then a fixed table.", ""]
    body = []
    for name, entry in once.items():
        for sel, row in entry["selections"].items():
            st = entry["stability"].get(sel)
            body.append([name, str(len(entry["seeds"])), sel,
                         f"`{entry['picks'][sel]}`" if sel in entry["picks"] else "",
                         f"{100 * row['mean']:.2f}", _cmp(row["vs_preset"]),
                         _cmp(row["vs_validation"]), f"{100 * row['regret']:.2f}",
                         "" if st is None else
                         f"{st['worse_than_preset']} / {st['ties_validation']} of "
                         f"{len(st['pick_seeds'])}"])
    head = ["dataset", "seeds", "selection", "pick (first seed's re-runs)", "test %",
            "vs preset", "vs validation", "regret",
            "picked on each re-run seed: worse than preset / ties validation"]
    lines += markdown_table(head, body, numeric_from=len(head))  # every column left-aligned
    return lines + ["", "Goals of this protocol:", "", *_goal_lines(goals(once))]


def markdown(analysis: dict, goal: dict, estimate: dict, header: list[str],
             low: dict | None = None, once: dict | None = None) -> str:
    lines = ["# Label-free selection validated on the TU sweeps", "", *header, ""]
    lines += ["Candidates per set: the sweep's deep-aug configurations (target 0-4 x dropout "
              "0.125/0.25/0.5, PCA k=1/-1; NCI1, REDDIT-BINARY: 23-25) and the preset `none` "
              "(GraphCL random2, no activation transform). Every encoder was re-pretrained "
              "with the sweep's configuration and seed; the criteria are computed on the "
              "un-augmented readout (eval mode) of a fixed subset of up to 512 graphs; test "
              "accuracy and fold_val come from the sweep's SVM protocol (re-run where the "
              "pretraining loss was not reproduced). Differences in accuracy points, paired "
              "over seeds (mean [95 % t-interval] Wilcoxon p; * = interval excludes 0). "
              "Spearman rho: per seed across candidates, oriented so that + means the "
              "criterion's better end goes with higher test accuracy (mean ± sd over seeds). "
              "Regret: the seed's best candidate (by test: a reference, never a selection) "
              "minus the pick. Compute: seconds per seed on this machine (pretraining every "
              "candidate + criteria + SVM for the pick and the preset; validation: every "
              "candidate's SVM).", ""]
    head = ["dataset", "seeds", "selection", "Spearman rho", "test %", "vs preset",
            "vs validation", "regret", "s/seed", "most picked"]
    body = []
    for name, entry in analysis.items():
        if "selections" not in entry:
            body.append([name, "0", "no complete seed yet"] + [""] * 7)
            continue
        for sel, row in entry["selections"].items():
            rho = "" if "spearman_mean" not in row else \
                f"{row['spearman_mean']:+.2f} ± {row['spearman_sd']:.2f}"
            picks = ", ".join(f"`{c}` ×{k}" for c, k in row.get("picks", [])[:2])
            body.append([name, str(len(entry["seeds"])), sel, rho, f"{100 * row['mean']:.2f}",
                         _cmp(row["vs_preset"]), _cmp(row["vs_validation"]),
                         f"{100 * row['regret']:.2f}", f"{row['seconds_per_seed']:.0f}", picks])
    lines += markdown_table(head, body, numeric_from=len(head))
    lines += ["", "## Goals", "", *_goal_lines(goal)]
    if once:
        lines += ["", *once_markdown(once)]
    lines += ["", "## Reproduction", ""]
    for name, entry in analysis.items():
        if "reproduced" in entry:
            ok, n = entry["reproduced"]
            lines.append(f"- {name}: {ok}/{n} re-runs reproduced the recorded final loss "
                         f"(largest relative difference {entry['max_loss_rel_diff']:.1e}); "
                         f"seeds {entry['seeds']}"
                         + (f", incomplete seeds {entry['partial_seeds']}"
                            if entry["partial_seeds"] else ""))
    if low is not None:
        from graphaug.contrastive.monitor import COLLAPSE_RANKME

        lines.append(f"- smallest RankMe of the {low['runs']} re-run encoders: "
                     f"{low['rankme']:.2f} ({low['dataset']}, `{low['candidate']}`, seed "
                     f"{low['seed']}: test {100 * low['test']:.2f} %, the set's median run "
                     f"{100 * low['median_test']:.2f} %); the monitor's collapse threshold is "
                     f"{COLLAPSE_RANKME}")
    lines += ["", "## The six-dataset table with label-free selection (estimate)", ""]
    missing = estimate["criteria_missing"]
    lines.append(f"From measured seconds (pretraining and SVM: the sweeps' recorded per-run "
                 f"seconds, 2 workers on 2 cores; criteria: this re-run), {estimate['methods']} "
                 f"deep-aug methods x every candidate + the preset, {estimate['seeds']} seeds, "
                 f"{estimate['cores']} cores, perfect parallelism: label-free selection "
                 f"**{estimate['minutes']:.0f} min**, strict nested validation "
                 f"{estimate['nested_minutes']:.0f} min"
                 + (f" (criteria not measured on {', '.join(missing)}: counted as 0 s)"
                    if missing else "") + f"; with one transform at the five targets (5 "
                 f"candidates + the preset per method): {estimate['five_target_minutes']:.0f} "
                 f"min; one pick per dataset (one sweep of pretrainings, then the fixed "
                 f"table): {estimate['once_minutes']:.0f} min, of which the fixed table "
                 f"(no selection) is {estimate['fixed_minutes']:.0f} min.")
    lines += ["", "| dataset | candidates | pretrain s/run | criteria s/run | SVM s/run | "
              "label-free s/seed | nested s/seed |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, v in estimate["per_dataset"].items():
        if v:
            score = "–" if v["criteria_s"] is None else f"{v['criteria_s']:.2f}"
            lines.append(f"| {name} | {v['candidates']} | {v['pretrain_s']:.1f} | {score} | "
                         f"{v['svm_s']:.1f} | {v['seconds_per_seed']:.0f} | "
                         f"{v['nested_seconds_per_seed']:.0f} |")
    return "\n".join(lines) + "\n"


def run_line(row: dict, args) -> dict:
    """The runs.jsonl line of a row (the experiments' format: parts, label, seed, spec,
    metrics, seconds); ``--runs`` reads the rows back from its metrics."""
    from .runner import run_line as line

    spec = {"dataset": row["dataset"], "seed": row["seed"], "candidate": row["candidate"],
            "criteria": {"sample": args.sample, "seed": args.criteria_seed},
            "accuracy": "the sweep's SVM protocol (re-run where not reproduced)"}
    return line((row["dataset"], row["candidate"], f"seed{row['seed']}"), {**row, "spec": spec})


def report(args) -> None:
    records = read_records(args.records) if Path(args.records).is_file() else {}
    # the runs of --runs, then the cache's (a run in both: the cache's, the fresher)
    merged = {_key(r): r for r in (read_runs(args.runs, args.sample, args.criteria_seed)
                                   if args.runs else [])}
    if Path(args.cache).is_dir():
        merged.update({_key(r): r for r in collect(records, args.cache)})
    rows = list(merged.values())
    if not rows:
        raise SystemExit("no runs to report: run the `run` step first or pass --runs")
    expected = collections.defaultdict(set)
    for (name, _, cand) in records:
        expected[name].add(cand)
    analysis = analyse(rows, expected=expected)
    goal = goals(analysis)
    estimate = table_estimate(rows, records)
    runs = f" --runs {args.runs}" if args.runs else ""
    header = [f"Command: `graphaug label-free report{runs} --out {args.out}` (after `extract` "
              f"and `run`: `OMP_NUM_THREADS=1 nice -n 10 graphaug label-free run --root DATA"
              f"{runs}`)  ",
              f"Machine: CPU ({platform.machine()}, {os.cpu_count()} cores shared with other "
              f"jobs), up to 2 processes (one per core), 1 torch thread each, torch "
              f"{torch.__version__}  ",
              f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "runs.jsonl", "".join(
        json.dumps(run_line(r, args), sort_keys=True, separators=(",", ":")) + "\n"
        for r in rows))
    low = smallest_rankme(rows)
    once = analyse_once(analysis, rows, records) if records else {}
    atomic_write_json(out / "results.json", {"header": header, "analysis": analysis,
                                             "goals": goal, "table_estimate": estimate,
                                             "smallest_rankme": low, "one_pick": once,
                                             "one_pick_goals": goals(once)})
    atomic_write_text(out / "results.md", markdown(analysis, goal, estimate, header, low, once))
    print((out / "results.md").read_text())


def main(argv=None, prog: str = "graphaug label-free") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("step", choices=("extract", "run", "report"))
    parser.add_argument("--results", default="benchmarks/results",
                        help="folder holding the committed sweeps, a source checkout's "
                             "benchmarks/results (extract)")
    from ..utils import cache_root
    here = cache_root() / "label-free"  # outside git; $GRAPHAUG_CACHE moves it
    parser.add_argument("--records", default=str(here / "sweeps.jsonl"),
                        help="the extracted sweep runs (JSON lines)")
    parser.add_argument("--cache", default=str(here / "runs"),
                        help="one JSON per re-run (outside git; the run resumes from it)")
    parser.add_argument("--root", default=None, help="writable data root holding TU/<NAME>/raw")
    parser.add_argument("--datasets", nargs="+", default=ORDER)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--sample", type=int, default=512,
                        help="graphs the criteria are computed on (fixed subset)")
    parser.add_argument("--criteria-seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-4,
                        help="relative tolerance on the recorded final pretraining loss")
    parser.add_argument("--out", default="benchmarks/results/label_free")
    parser.add_argument("--runs", default=None,
                        help="a report's runs.jsonl (the committed one): its runs count as "
                             "done (run) and are reported with the cache's (report)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.step == "extract":
        extract(args)
    elif args.step == "run":
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
