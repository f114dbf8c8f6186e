"""PyG vs DGL on the TU protocol: the same GraphCL preset and Deep Augmentation configs run by
graphaug tu with `--backend pyg` and `--backend dgl`; this command reads their
`results.json` files and writes one side-by-side table with the paired per-seed differences.

Example (the runs behind `benchmarks/results/tu_backends.md`):
  for b in pyg dgl; do
    graphaug tu --root /tmp/gdata --datasets MUTAG --backend $b \\
        --transforms dropout:0.25 --targets 3 --out benchmarks/results/tu_backends/$b/mutag
    graphaug tu --root /tmp/gdata --datasets PROTEINS --backend $b \\
        --transforms dropout:0.5 --targets 0 --out benchmarks/results/tu_backends/$b/proteins
  done
  graphaug tu-backends benchmarks/results/tu_backends
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


from .report import header_lines, markdown_table, run_header
from graphaug.utils import atomic_write_text
from .options import HelpFormatter


def load(folder: Path) -> dict:
    """`{(dataset, method): result entry}` of every `results.json` under `folder`."""
    found = {}
    for path in sorted(folder.glob("*/results.json")):
        report = json.loads(path.read_text())
        for name, entry in report["datasets"].items():
            for method, result in entry["methods"].items():
                found[(name, method)] = dict(result, command=report["command"],
                                             date=report["date"], machine=report["machine"])
    return found


def main(argv=None, prog: str = "graphaug tu-backends") -> str:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("folder", help="holds pyg/<set>/results.json and dgl/<set>/results.json")
    args = p.parse_args(argv)
    folder = Path(args.folder)
    pyg, dgl = load(folder / "pyg"), load(folder / "dgl")
    rows = []
    for key in sorted(set(pyg) & set(dgl)):
        a, b = np.array(pyg[key]["per_seed"]) * 100, np.array(dgl[key]["per_seed"]) * 100
        diff = b - a
        rows.append([key[0], pyg[key]["label"], f"{a.mean():.2f} ± {a.std():.2f}",
                     f"{b.mean():.2f} ± {b.std():.2f}", f"{diff.mean():+.2f} ± {diff.std():.2f}",
                     f"{pyg[key]['train_seconds']:.1f} / {dgl[key]['train_seconds']:.1f}"])
    if not rows:
        raise SystemExit(f"no matching pyg/dgl results under {folder}")
    header = run_header(prog, argv)
    runs = sorted({r["command"] for r in (*pyg.values(), *dgl.values())})
    text = "\n".join([
        "# TU protocol on PyG and on DGL", "",
        *header_lines(header), "(the command reads the runs listed below)", "",
        "Accuracy % (mean ± std over seeds 0-4, RBF-SVC protocol); the difference is DGL − PyG "
        "per seed (same seed, same folds). Pretraining seconds per seed, PyG / DGL.", "",
        *markdown_table(["dataset", "config", "PyG", "DGL", "DGL − PyG (paired)",
                         "pretrain s"], rows, numeric_from=2),
        "", "Runs:", "", *[f"- `{c}`" for c in runs], ""])
    atomic_write_text(folder.with_suffix(".md"), text)
    print(text)
    return text


if __name__ == "__main__":
    main()
