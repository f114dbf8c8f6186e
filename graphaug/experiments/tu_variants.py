"""Paired comparison of graphaug tu runs made with different preset options (or any
other flags), each in its own `--out` folder: per dataset and method, every variant's
accuracy and its per-seed difference from the baseline variant (mean, 95 % interval, Wilcoxon).

Example (the runs behind `benchmarks/results/tu_options.md`):
  for v in none bn-per-view ...; do graphaug tu ... --out benchmarks/results/tu_options/$v; done
  graphaug tu-variants benchmarks/results/tu_options --baseline none
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


from .report import markdown_table, run_header, write_results
from graphaug.stats import paired_comparison
from .options import HelpFormatter


def main(argv=None, prog: str = "graphaug tu-variants") -> dict:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("folder", type=Path, help="holds one graphaug tu --out folder per variant")
    p.add_argument("--baseline", required=True, help="the variant the others are paired with")
    args = p.parse_args(argv)
    variants = {d.name: load_variant(d)
                for d in sorted(args.folder.iterdir()) if (d / "results.json").is_file()}
    if args.baseline not in variants:
        p.error(f"no variant {args.baseline!r} in {args.folder} (found {sorted(variants)})")
    base = variants[args.baseline]
    rows, commands = [], set()
    for name, runs in variants.items():
        for key, result in sorted(runs.items()):
            commands.add(result["command"])
            values = 100 * np.array(result["per_seed"])
            cells = [key[0], key[1], name, f"{values.mean():.2f} ± {values.std():.2f}"]
            if name != args.baseline and key in base:
                c = paired_comparison(values / 100, np.array(base[key]["per_seed"]))
                cells += [f"{100 * c['mean']:+.2f} [{100 * c['low']:+.2f}, "
                          f"{100 * c['high']:+.2f}]", f"{c['wilcoxon_p']:.3f}"]
            else:
                cells += ["—", "—"]
            rows.append(cells)
    report = {**run_header(prog, argv), "rows": rows, "runs": sorted(commands)}
    body = ["Accuracy % (mean ± std over seeds); difference from the baseline variant paired "
            "per seed (same seed, same folds).", "",
            *markdown_table(["dataset", "method", "variant", "accuracy",
                             f"vs {args.baseline} [95 %]", "Wilcoxon p"], rows, 3),
            "", "Runs:", "", *[f"- `{c}`" for c in sorted(commands)]]
    print(write_results(args.folder.parent, args.folder.name, report,
                        f"TU variants against `{args.baseline}`", body))
    return report


def load_variant(folder: Path) -> dict:
    """`{(dataset, method): result}` of one `graphaug tu --out` folder."""
    report = json.loads((folder / "results.json").read_text())
    return {(name, method): dict(result, command=report["command"])
            for name, entry in report["datasets"].items()
            for method, result in entry["methods"].items()}


if __name__ == "__main__":
    main()
