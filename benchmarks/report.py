"""Helpers shared by the modality benchmarks (text, vision): data root, run metadata, result
files (JSON + markdown) and the score-against-target-layer plot."""
from __future__ import annotations

import os
import shlex
import sys
from datetime import date
from pathlib import Path
from typing import Optional, Sequence

from graphaug.data import data_root
from graphaug.utils import atomic_write_json, atomic_write_text

__all__ = ["default_root", "run_header", "write_results", "layer_plot", "select_best",
           "markdown_table"]

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    """The machine a result was measured on, read at run time."""
    import platform

    import torch
    if torch.cuda.is_available():
        return f"GPU ({torch.cuda.get_device_name(0)}), torch {torch.__version__}"
    return (f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), "
            f"torch {torch.__version__}")


def default_root(root: Optional[str] = None) -> Path:
    """``--root``, else ``$GRAPHAUG_DATA``, else ``../shared/datasets`` next to the repo."""
    if root is None and not os.environ.get("GRAPHAUG_DATA"):
        root = str(REPO.parent / "shared" / "datasets")
    return data_root(root)


def run_header(argv: Optional[Sequence[str]], script: str) -> dict:
    """The exact command, machine and date recorded with every result."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = "HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1"
    return {"command": f"{env} python {script} {shlex.join(args)}".rstrip(),
            "machine": machine(), "threads_used": 1, "date": date.today().isoformat()}


def select_best(runs: Sequence[dict], metric: str, baseline: str = "baseline") -> dict:
    """``{kind: name}`` of the run with the best ``metric`` per transform kind (``kind`` None =
    ``baseline``); ties keep the first in sweep order. Only ``metric`` is looked at, so pass a
    validation metric: choices are never made on test scores."""
    best: dict = {}
    for run in runs:
        kind = run["kind"] or baseline
        if kind not in best or run[metric] > best[kind][metric]:
            best[kind] = run
    return {kind: run["name"] for kind, run in best.items()}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], numeric_from: int = 1
                   ) -> list[str]:
    """Lines of a markdown table; columns from ``numeric_from`` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    return [f"| {' | '.join(map(str, line))} |" for line in (header, align, *rows)]


def write_results(out: Path, tag: str, result: dict, table: str) -> None:
    """Write ``<out>/<tag>.json`` and ``<out>/<tag>.md`` (command, machine, date, table)."""
    atomic_write_json(out / f"{tag}.json", result)
    text = (f"# {tag}\n\n- command: `{result['command']}`\n- machine: {result['machine']} "
            f"(one thread used)\n- date: {result['date']}\n- wall time: "
            f"{result.get('total_seconds', '?')} s (CPU time of the process: "
            f"{result.get('cpu_seconds', '?')} s; the 2 cores were shared with other jobs)\n\n"
            f"{table}\n")
    atomic_write_text(out / f"{tag}.md", text)


def layer_plot(path: Path, runs: Sequence[dict], metric: str, ylabel: str, title: str,
               baseline: Optional[float] = None) -> None:
    """Plot ``metric`` against the target layer, one line per transform kind (Agg backend)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    series: dict = {}
    for run in runs:
        if run.get("target") is not None:
            label = run["name"].split("@")[0]
            series.setdefault(label, []).append((run["target"], run[metric]))
    for label, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label="baseline")
    ax.set_xlabel("target index (0 = input/stem, i = output of block i)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
