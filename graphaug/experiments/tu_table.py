"""The TU table across graphaug tu result folders: GraphCL preset, Deep Augmentation and
both, paired seeds, with the target layer chosen two ways:

* **recommended**: the target `graphaug.select.recommend_layer` picks from a GraphCL-trained
  encoder's CKA matrix (`--recommended NAME=T`, from graphaug layer-selection or
  `graphaug select-layer`); its runs are read from the folder's sweep, no sweep is needed;
* **nested**: each folder's strict nested selection (per outer fold, on that fold's training part
  only), where the folder swept more than one config; with where the folds' choices land and the
  best config at the input against the best deeper one (claim a).

Per dataset: the number of seeds, mean ± std, the paired difference from the preset (95 %
t-interval, Wilcoxon; none with one seed), the published GraphCL and SimGRACE accuracies, and the
compute of the recommended-layer table: the summed pretraining + SVM seconds of its runs as cached
(one core each), and that sum over the two cores of the machine, which is the wall time of running
them two at a time. A folder may lack a deep-aug method (`graphaug tu --methods graphcl
deepaug`): its cells read "—" in the nested table; the recommended table needs all three.

Example:
  graphaug tu-table benchmarks/results/tu_nested_a benchmarks/results/tu_nested_b \\
      --recommended MUTAG=2 PROTEINS=2 --out benchmarks/results --tag tu_six
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Optional

import numpy as np


from .report import markdown_table, run_header, write_results
from .runner import folder_runs
from graphaug.spec import config_label
from graphaug.stats import paired_comparison

from .tu import PUBLISHED_GRAPHCL, PUBLISHED_SIMGRACE, layer_curve, mean_cell
from .options import HelpFormatter, default_out

METHODS = ("graphcl", "deepaug", "graphcl+deepaug")


# as run by `graphaug tu --targets recommended --transforms dropout:0.25`
RECOMMENDED = ("dropout", 0.25)


def recommended_runs(entry: dict, method: str, target: int) -> dict | None:
    """The per-seed accuracies of `method` with dropout p = 0.25 at `target` from a nested
    entry's sweep; `None` when the folder did not run that config (a full sweep's other rates
    at the target are never taken for it)."""
    m = entry["methods"].get(method, {})
    found = [s for s in m.get("sweep", [])
             if s["target"] == target and (s["transform"], s["rate"]) == RECOMMENDED]
    if not found:
        return None
    s = found[0]
    return {"label": config_label(method, s["transform"], s["rate"], target),
            "per_seed": s["per_seed"]}


def run_seconds(folder: Path, name: str, method: str, target, per_seed: list) -> float:
    """Summed train_seconds + eval_seconds of the runs behind per_seed: the folder's runs of
    name and method (at target), matched to the reported seeds by their exact test accuracy
    (older code versions are ignored that way)."""
    wanted = set(per_seed)
    total, found = 0.0, set()
    for run in folder_runs(folder, name):
        cfg = run.get("config", {})
        if cfg.get("method") != method or run["test"] not in wanted:
            continue
        if target is not None and cfg.get("target") != target:
            continue
        if (run["seed"], run["test"]) in found:
            continue
        found.add((run["seed"], run["test"]))
        total += run["train_seconds"] + run.get("eval_seconds", 0.0)
    if len(found) < len(per_seed):
        raise SystemExit(f"{folder}: found {len(found)} of the {len(per_seed)} cached runs of "
                         f"{name} {method} @{target}")
    return total


def compare(rows: dict) -> dict:
    """Mean/std per method and the paired difference of each deep-aug method from graphcl (not
    with one seed: a single difference has no interval)."""
    out = {}
    base = rows["graphcl"]["per_seed"]
    for method, r in rows.items():
        values = 100 * np.asarray(r["per_seed"])
        out[method] = {**r, "mean": float(values.mean()), "std": float(values.std())}
        if method != "graphcl" and len(base) > 1:
            c = paired_comparison(r["per_seed"], base)
            out[method]["vs_graphcl"] = {k: 100 * v if k in ("mean", "low", "high") else v
                                         for k, v in c.items()}
    return out


def _cell(m: dict | None) -> str:
    return mean_cell(m and {"per_seed": m["per_seed"], "test_mean": m["mean"],
                            "test_std": m["std"]})


def table(block: dict) -> list[str]:
    rows, paired = [], []
    for name, e in block.items():
        paper = PUBLISHED_GRAPHCL.get(name)
        simgrace = PUBLISHED_SIMGRACE.get(name)
        seeds = len(e["methods"]["graphcl"]["per_seed"])
        rows.append([name, e["choice"], seeds,
                     f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "—",
                     f"{simgrace:.2f}" if simgrace else "—",
                     *(_cell(e["methods"].get(m)) for m in METHODS)])
        for method in METHODS[1:]:
            m = e["methods"].get(method)
            if m is None:
                continue
            above = "—" if simgrace is None else ("yes" if m["mean"] > simgrace else "no")
            c = m.get("vs_graphcl")
            if c is None:  # one seed: the difference, nothing to test it with
                diff = 100 * (m["per_seed"][0] - e["methods"]["graphcl"]["per_seed"][0])
                paired.append([name, method, f"{diff:+.2f}", "—", "—",
                               f"{int(diff > 0)}/1", "— (1 seed)", above])
                continue
            verdict = "yes" if c["significant"] and c["mean"] > 0 else \
                ("worse" if c["significant"] else "no")
            paired.append([name, method, f"{c['mean']:+.2f}", f"[{c['low']:+.2f}, {c['high']:+.2f}]",
                           f"{c['wilcoxon_p']:.3f}", f"{c['wins']}/{c['n']}", verdict, above])
    return [*markdown_table(["dataset", "layer", "seeds", "GraphCL (paper)", "SimGRACE (paper)",
                             *METHODS], rows, 2), "",
            *markdown_table(["dataset", "method", "diff vs graphcl", "95 % interval",
                             "Wilcoxon p", "seeds won", "beats the preset?",
                             "beats SimGRACE (paper)?"], paired, 2)]


def tally(block: dict) -> str:
    parts = []
    for method in METHODS[1:]:
        ran = {n: e["methods"][method] for n, e in block.items() if method in e["methods"]}
        tested = [m["vs_graphcl"] for m in ran.values() if "vs_graphcl" in m]
        wins = sum(c["significant"] and c["mean"] > 0 for c in tested)
        above = sum(m["mean"] > PUBLISHED_SIMGRACE[n] for n, m in ran.items()
                    if n in PUBLISHED_SIMGRACE)
        parts.append(f"{method}: beats the preset significantly on {wins}/{len(tested)} "
                     f"(datasets with several seeds), above SimGRACE's published accuracy on "
                     f"{above}/{len(ran)}")
    return "; ".join(parts) + "."


def _target(label: str) -> Optional[int]:
    """The target of a run label ("deepaug dropout:0.25@2", or before the spec grammar
    "deepaug[dropout p=0.25 @2]"); None for the preset ("graphcl none", a candidate of the
    nested selection: no activation transform)."""
    if re.fullmatch(r"(dgl:)?graphcl( none|\[[^\]]*\])", label):
        return None
    found = re.search(r"@(\d+)\]?$", label)
    if found is None:
        raise ValueError(f"no target in the run label {label!r}")
    return int(found.group(1))


def where_chosen(entries: dict) -> list[str]:
    """Per dataset (deepaug's nested selection): how many outer folds choose the input, the
    most frequent choice, and the best config at the input against the best deeper one (test
    accuracy of every swept config, mean and 95 % interval over seeds: for information, not a
    selection)."""
    rows = []
    for name, entry in entries.items():
        m = entry["methods"]["deepaug"]
        choices = [c for fold in m["fold_choices"] for c in fold]
        top, count = next(iter(m["choice_counts"].items()))
        best = {}
        for kind, rate, target, mean, low, high in layer_curve(entry):
            side = "input" if target == 0 else "deeper"
            if side not in best or mean > best[side][0]:
                spread = "" if low is None else f" [{low:.2f}, {high:.2f}]"
                best[side] = (mean, f"{kind} {rate:g} @{target}: {mean:.2f}{spread}")
        rows.append([name, len(m["per_seed"]),
                     f"{sum(_target(c) == 0 for c in choices)}/{len(choices)}",
                     f"`{top}` ×{count}", *(best[s][1] if s in best else "—"
                                             for s in ("input", "deeper"))])
    return markdown_table(["dataset", "seeds", "folds choosing the input", "most frequent choice",
                           "best input config (test %)", "best deeper config (test %)"], rows, 2)


def main(argv=None, prog: str = "graphaug tu-table") -> dict:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("folders", type=Path, nargs="+", help="graphaug tu --out folders (results.json)")
    p.add_argument("--recommended", nargs="+", default=[], metavar="NAME=T",
                   help="the recommended target per dataset")
    p.add_argument("--cores", type=int, default=2, help="cores the runs are spread over")
    p.add_argument("--out", default=default_out("tu-table"), help="folder of the table")
    p.add_argument("--tag", default="tu_six")
    args = p.parse_args(argv)
    try:
        targets = {k: int(v) for k, v in (s.split("=", 1) for s in args.recommended)}
    except ValueError:
        p.error(f"--recommended takes NAME=TARGET pairs, got {args.recommended}")
    entries, commands = {}, {}
    for folder in args.folders:
        path = folder / "results.json"
        if not path.is_file():
            p.error(f"{folder}: no results.json (run graphaug tu --out {folder})")
        report = json.loads(path.read_text())
        for name, entry in report["datasets"].items():
            if name in entries:
                p.error(f"{name} is in two folders: {commands[name][0]} and {folder}")
            if "graphcl" not in entry["methods"]:
                p.error(f"{folder}: {name} has no graphcl run to pair against")
            entries[name] = (folder, entry)
            commands[name] = (folder, report["command"], report["machine"], report["date"])
    missing = sorted(set(targets) - set(entries))
    if missing:
        p.error(f"--recommended names datasets without results: {missing}")
    recommended, nested = {}, {}
    for name, (folder, entry) in entries.items():
        if name in targets:
            t = targets[name]
            rows = {"graphcl": {"label": entry["methods"]["graphcl"]["label"],
                                "per_seed": entry["methods"]["graphcl"]["per_seed"]}}
            for method in METHODS[1:]:
                if method not in entry["methods"]:
                    p.error(f"{folder}: {name} has no {method} runs (the recommended table "
                            f"needs all of {METHODS})")
                found = recommended_runs(entry, method, t)
                if found is None:
                    p.error(f"{folder}: {name} has no {method} run with dropout p = "
                            f"{RECOMMENDED[1]:g} at the recommended target {t}")
                rows[method] = found
            seconds = sum(run_seconds(folder, name, m, t if m != "graphcl" else None,
                                      rows[m]["per_seed"]) for m in METHODS)
            recommended[name] = {"choice": f"recommended: {t}", "methods": compare(rows),
                                 "seconds": seconds}
        sweep = len(entry["methods"].get("deepaug", {}).get("sweep", []))
        if sweep > 1:
            nested[name] = {"choice": f"nested over {sweep}",
                            "methods": compare({m: {"label": entry["methods"][m]["label"],
                                                    "per_seed": entry["methods"][m]["per_seed"]}
                                                for m in METHODS if m in entry["methods"]})}
    result = {**run_header(prog, argv), "sources": {n: list(map(str, c))
                                                    for n, c in commands.items()},
              "recommended": recommended, "nested": nested}
    lines = ["Every number is read from the `graphaug tu` result folders below (paired "
             "seeds: same seed, same folds across methods; the seeds column says how many); "
             "intervals are 95 % t-intervals of the per-seed difference; — : not run, or no "
             "interval or test from one seed.", ""]
    if recommended:
        total = sum(e["seconds"] for e in recommended.values())
        lines += ["## Target chosen by the recommendation (no sweep)", "",
                  f"Dropout p = {RECOMMENDED[1]:g} at the recommended target.", "",
                  *table(recommended), "", tally(recommended), "",
                  "Compute of this table (pretraining + SVM protocol of its "
                  f"{sum(len(e['methods']['graphcl']['per_seed']) for e in recommended.values()) * 3}"
                  " runs, one core each, as cached): " +
                  ", ".join(f"{n} {e['seconds'] / 60:.1f} min" for n, e in recommended.items())
                  + f"; total {total / 60:.1f} core-minutes = {total / 60 / args.cores:.1f} min "
                  f"on {args.cores} cores.", ""]
        result["core_minutes"] = total / 60
    if nested:
        lines += ["## Target chosen by strict nested selection", "", *table(nested), "",
                  tally(nested), "",
                  "Where deepaug's choice lands (outer folds over all seeds), and the best "
                  "config at the input against the best at a deeper target (test accuracy of "
                  "every swept config, mean and 95 % interval over seeds; for information, not "
                  "a selection):", "", *where_chosen({n: entries[n][1] for n in nested}), ""]
    lines += ["Sources:", ""] + [f"- {n}: `{c[1]}` ({c[2]}, {c[3]})"
                                 for n, c in commands.items()]
    print(write_results(args.out, args.tag, result,
                        "TU table: GraphCL preset vs Deep Augmentation, paired seeds", lines))
    return result


if __name__ == "__main__":
    main()
