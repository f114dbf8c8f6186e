"""The TU table across ``benchmarks/tu.py`` result folders: GraphCL preset, Deep Augmentation and
both, 10 paired seeds, with the target layer chosen two ways:

* **recommended**: the target :func:`graphaug.select.recommend_layer` picks from a GraphCL-trained
  encoder's CKA matrix (``--recommended NAME=T``, from ``benchmarks/layer_selection.py`` or
  ``graphaug select-layer``); its runs are read from the folder's sweep, no sweep is needed;
* **nested**: each folder's strict nested selection (per outer fold, on that fold's training part
  only), where the folder swept more than one config.

Per dataset: mean ± std, the paired difference from the preset (95 % t-interval, Wilcoxon), the
published GraphCL and SimGRACE accuracies, and the compute of the recommended-layer table: the
summed pretraining + SVM seconds of its runs as cached (one core each), and that sum over the two
cores of the machine, which is the wall time of running them two at a time.

Example:
  python benchmarks/tu_table.py benchmarks/results/tu_nested_a benchmarks/results/tu_nested_b \\
      --recommended MUTAG=2 PROTEINS=2 --out benchmarks/results --tag tu_six
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphaug.bench import markdown_table, run_header, write_results  # noqa: E402
from graphaug.stats import paired_comparison  # noqa: E402

from tu import PUBLISHED_GRAPHCL, PUBLISHED_SIMGRACE  # noqa: E402

METHODS = ("graphcl", "deepaug", "graphcl+deepaug")


def recommended_runs(entry: dict, method: str, target: int) -> dict | None:
    """The per-seed accuracies of ``method`` at ``target`` (dropout) from a nested entry's sweep;
    ``None`` when the folder did not run that target."""
    m = entry["methods"].get(method, {})
    found = [s for s in m.get("sweep", []) if s["target"] == target]
    if not found:
        return None
    if len(found) > 1:  # several transforms at the target: the one the recommendation names
        found = [s for s in found if s["transform"] == "dropout"][:1] or found[:1]
    s = found[0]
    return {"label": f"{method}[{s['transform']} {s['rate']:g} @{target}]",
            "per_seed": s["per_seed"]}


def run_seconds(folder: Path, name: str, label_prefix: str, target, per_seed: list) -> float:
    """Summed ``train_seconds + eval_seconds`` of the cached runs behind ``per_seed``: the run
    files of ``name`` whose method label starts with ``label_prefix`` (at ``target``), matched to
    the reported seeds by their exact test accuracy (older code versions are ignored that way)."""
    wanted = set(per_seed)
    total, found = 0.0, set()
    for path in (folder / "runs" / name).glob("**/seed*.json"):
        run = json.loads(path.read_text())
        cfg = run.get("config", {})
        if not run.get("label", "").startswith(label_prefix) or run["test"] not in wanted:
            continue
        if target is not None and cfg.get("target") != target:
            continue
        if (run["seed"], run["test"]) in found:
            continue
        found.add((run["seed"], run["test"]))
        total += run["train_seconds"] + run.get("eval_seconds", 0.0)
    if len(found) < len(per_seed):
        raise SystemExit(f"{folder}: found {len(found)} of the {len(per_seed)} cached runs of "
                         f"{name} {label_prefix} @{target}")
    return total


def compare(rows: dict) -> dict:
    """Mean/std per method and the paired difference of each deep-aug method from graphcl."""
    out = {}
    base = rows["graphcl"]["per_seed"]
    for method, r in rows.items():
        values = 100 * np.asarray(r["per_seed"])
        out[method] = {**r, "mean": float(values.mean()), "std": float(values.std())}
        if method != "graphcl":
            c = paired_comparison(r["per_seed"], base)
            out[method]["vs_graphcl"] = {k: 100 * v if k in ("mean", "low", "high") else v
                                         for k, v in c.items()}
    return out


def table(block: dict) -> list[str]:
    rows, paired = [], []
    for name, e in block.items():
        paper = PUBLISHED_GRAPHCL.get(name)
        simgrace = PUBLISHED_SIMGRACE.get(name)
        rows.append([name, e["choice"], f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "—",
                     f"{simgrace:.2f}" if simgrace else "—",
                     *(f"{e['methods'][m]['mean']:.2f} ± {e['methods'][m]['std']:.2f}"
                       for m in METHODS)])
        for method in METHODS[1:]:
            m = e["methods"][method]
            c = m["vs_graphcl"]
            verdict = "yes" if c["significant"] and c["mean"] > 0 else \
                ("worse" if c["significant"] else "no")
            paired.append([name, method, f"{c['mean']:+.2f}", f"[{c['low']:+.2f}, {c['high']:+.2f}]",
                           f"{c['wilcoxon_p']:.3f}", f"{c['wins']}/{c['n']}", verdict,
                           "—" if simgrace is None else
                           ("yes" if m["mean"] > simgrace else "no")])
    return [*markdown_table(["dataset", "layer", "GraphCL (paper)", "SimGRACE (paper)",
                             *METHODS], rows, 2), "",
            *markdown_table(["dataset", "method", "diff vs graphcl", "95 % interval",
                             "Wilcoxon p", "seeds won", "beats the preset?",
                             "beats SimGRACE (paper)?"], paired, 2)]


def tally(block: dict) -> str:
    parts = []
    for method in METHODS[1:]:
        wins = sum(e["methods"][method]["vs_graphcl"]["significant"]
                   and e["methods"][method]["vs_graphcl"]["mean"] > 0 for e in block.values())
        above = sum(e["methods"][method]["mean"] > PUBLISHED_SIMGRACE[n]
                    for n, e in block.items() if n in PUBLISHED_SIMGRACE)
        parts.append(f"{method}: beats the preset significantly on {wins}/{len(block)}, "
                     f"above SimGRACE's published accuracy on {above}/{len(block)}")
    return "; ".join(parts) + "."


def main(argv=None, prog: str = "python benchmarks/tu_table.py") -> dict:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", type=Path, nargs="+", help="tu.py --out folders (results.json)")
    p.add_argument("--recommended", nargs="+", default=[], metavar="NAME=T",
                   help="the recommended target per dataset")
    p.add_argument("--cores", type=int, default=2, help="cores the runs are spread over")
    p.add_argument("--out", default="benchmarks/results")
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
            p.error(f"{folder}: no results.json (run benchmarks/tu.py --out {folder})")
        report = json.loads(path.read_text())
        for name, entry in report["datasets"].items():
            if name in entries:
                p.error(f"{name} is in two folders: {commands[name][0]} and {folder}")
            if any(m not in entry["methods"] for m in METHODS):
                p.error(f"{folder}: {name} lacks one of {METHODS}")
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
                found = recommended_runs(entry, method, t)
                if found is None:
                    p.error(f"{folder}: {name} has no {method} run at the recommended target {t}")
                rows[method] = found
            seconds = sum(run_seconds(folder, name, f"{m}[", t if m != "graphcl" else None,
                                      rows[m]["per_seed"]) for m in METHODS)
            recommended[name] = {"choice": f"recommended: {t}", "methods": compare(rows),
                                 "seconds": seconds}
        sweep = len(entry["methods"]["deepaug"].get("sweep", []))
        if sweep > 1:
            nested[name] = {"choice": f"nested over {sweep}",
                            "methods": compare({m: {"label": entry["methods"][m]["label"],
                                                    "per_seed": entry["methods"][m]["per_seed"]}
                                                for m in METHODS})}
    result = {**run_header(prog, argv), "sources": {n: list(map(str, c))
                                                    for n, c in commands.items()},
              "recommended": recommended, "nested": nested}
    lines = ["Every number is read from the `benchmarks/tu.py` result folders below (10 paired "
             "seeds: same seed, same folds across methods; dropout p = 0.25 at the target); "
             "intervals are 95 % t-intervals of the per-seed difference.", ""]
    if recommended:
        total = sum(e["seconds"] for e in recommended.values())
        lines += ["## Target chosen by the recommendation (no sweep)", "",
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
                  tally(nested), ""]
    lines += ["Sources:", ""] + [f"- {n}: `{c[1]}` ({c[2]}, {c[3]})"
                                 for n, c in commands.items()]
    print(write_results(args.out, args.tag, result,
                        "TU table: GraphCL preset vs Deep Augmentation, 10 paired seeds", lines))
    return result


if __name__ == "__main__":
    main()
