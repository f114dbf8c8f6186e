"""The report writer of every experiment: the command / machine / date header, markdown
tables, result files (markdown + JSON) and plots."""
from __future__ import annotations

import os
import shlex
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from ..select import CRITERIA, select_config
from ..spec import spec_label
from ..utils import atomic_write_json, atomic_write_text
from .runner import field_check

if TYPE_CHECKING:
    from .runner import RunCache

__all__ = ["machine", "run_header", "markdown_table", "header_lines", "wall_time_line",
           "write_results", "line_plot", "layer_plot", "cka_heatmaps", "coadaptation_table",
           "cka_section", "label_free_picks", "criteria_section", "sweep_report", "select_best",
           "sweep_run", "CRITERIA_CHECK"]

#: the run cache check of a modality sweep: a cached run without every label-free criterion
#: (written before they were computed) is moved aside and recomputed, never reported without
CRITERIA_CHECK = field_check(*(f"criteria.{name}" for name in CRITERIA))


def machine(device: Optional[str] = None, detail: str = "") -> str:
    """The machine a result is measured on, read at run time: the GPU when `device` is CUDA,
    else the CPU and its core count; the torch version; `detail` (e.g. threads) appended."""
    import platform

    import torch
    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        where = f"GPU ({torch.cuda.get_device_name(0)})"
    else:
        where = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return f"{where}{', ' + detail if detail else ''}, torch {torch.__version__}"


_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE", "GRAPHAUG_DATA")


def run_header(prog: str, argv: Optional[Sequence[str]] = None, device: Optional[str] = None,
               detail: str = "") -> dict:
    """`{"command", "machine", "date"}` recorded with every result: the exact command line
    (with the thread and offline variables that were set), `machine` and today's date."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = " ".join(f"{k}={os.environ[k]}" for k in _ENV if k in os.environ and k != "GRAPHAUG_DATA")
    command = f"{env + ' ' if env else ''}{prog} {shlex.join(args)}".rstrip()
    return {"command": command, "machine": machine(device, detail),
            "date": date.today().isoformat()}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], numeric_from: int = 1
                   ) -> list[str]:
    """Lines of a markdown table; columns from `numeric_from` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    return [f"| {' | '.join(map(str, line))} |" for line in (header, align, *rows)]


def header_lines(result: Mapping) -> list[str]:
    """The command / machine / date lines of a result's markdown file."""
    return [f"Command: `{result['command']}`  ", f"Machine: {result['machine']}  ",
            f"Date: {result['date']}  "]


def wall_time_line(seconds: float, cache: Optional[RunCache] = None) -> str:
    """The closing line: wall time of this invocation and, only when some were, how many runs
    were read from an earlier invocation's cache."""
    line = f"Wall time of this invocation: {seconds / 60:.1f} min"
    if cache is not None and cache.reads:
        line += (f" ({cache.reads} run(s) were read from the run cache, written by an earlier "
                 "invocation; not re-run)")
    return line


def write_results(out: os.PathLike | str, tag: str, result: dict, title: str,
                  body: Sequence[str], cache: Optional[RunCache] = None,
                  runs_file: Optional[str] = None) -> str:
    """Write <out>/<tag>.json (result) and <out>/<tag>.md (title, the header lines of result,
    body), and with cache the runs it served as <out>/<runs_file> (default runs.jsonl for the
    tag "results", else <tag>_runs.jsonl: the file graphaug rebuild remakes the tables from);
    return the markdown."""
    out = Path(out)
    atomic_write_json(out / f"{tag}.json", result)
    if cache is not None:
        cache.export(out / (runs_file or ("runs.jsonl" if tag == "results" else
                                          f"{tag}_runs.jsonl")))
    text = "\n".join([f"# {title}", "", *header_lines(result), "", *body, ""])
    atomic_write_text(out / f"{tag}.md", text)
    return text


def line_plot(path: os.PathLike | str, panels: Mapping[str, Mapping[str, Sequence[tuple]]],
              xlabel: str, ylabel: str, baselines: Optional[Mapping[str, float]] = None) -> None:
    """One subplot per panel `{title: {label: [(x, y), ...]}}`, a line per label (sorted by
    x); `baselines[title]` draws a grey horizontal line. Written with the Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.5 * max(len(panels), 1), 3.4),
                             squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for label, points in sorted(series.items()):
            points = sorted(points)
            ax.plot([p[0] for p in points], [p[1] for p in points],
                    "x--" if label.endswith(" val") else "o-", label=label)
        if baselines and title in baselines:
            ax.axhline(baselines[title], color="grey", lw=1, label="baseline")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def layer_plot(path: os.PathLike | str, runs: Sequence[dict], metric: str, ylabel: str,
               title: str, baseline: Optional[float] = None) -> None:
    """`line_plot` of a sweep: `metric` against `target`, one line per transform
    (the run name before `@`); runs without a target are the baseline's."""
    series: dict = {}
    for run in runs:
        if run.get("target") is not None:
            series.setdefault(run["name"].split("@")[0], []).append((run["target"], run[metric]))
    line_plot(path, {title: series}, "target index (0 = input/stem, i = output of block i)",
              ylabel, None if baseline is None else {title: baseline})


def cka_heatmaps(path: os.PathLike | str, panels: Mapping[str, Mapping[str, Sequence]],
                 labels: Optional[Sequence] = None) -> None:
    """CKA matrices as annotated heatmaps: one figure row per `panels` entry
    `{row: {column: [T, T] matrix}}` (e.g. `{"MUTAG": {"graphcl": m, "deepaug": m}}`),
    axes ticked with `labels` (default `0..T-1`). Written with the Agg backend."""
    import matplotlib
    import numpy as np
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(panels)
    cols = max(len(panels[r]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.3 * cols, 3.0 * len(rows)),
                             squeeze=False)
    for r, row in enumerate(rows):
        for c, (column, matrix) in enumerate(panels[row].items()):
            ax, m = axes[r][c], np.asarray(matrix)
            image = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
            ticks = list(range(len(m)))
            ax.set_xticks(ticks, labels if labels is not None else ticks, fontsize=7)
            ax.set_yticks(ticks, labels if labels is not None else ticks, fontsize=7)
            for i in ticks:
                for j in ticks:
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] < 0.6 else "black")
            ax.set_title(f"{row}: {column}", fontsize=9)
            ax.set_xlabel("target"), ax.set_ylabel("target")
        for c in range(len(panels[row]), cols):
            axes[r][c].axis("off")
        fig.colorbar(image, ax=axes[r].tolist(), shrink=0.8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def coadaptation_table(panels: Mapping[str, Mapping[str, Sequence]],
                       targets: Sequence[int], row_header: str = "model") -> list[str]:
    """Markdown rows of `graphaug.select.coadaptation_scores` per `(row, column)` of
    `panels` (as `cka_heatmaps`), one column per scored target and their mean."""
    import numpy as np

    from ..select import coadaptation_scores

    rows = []
    for row, columns in panels.items():
        for column, matrix in columns.items():
            scores = coadaptation_scores(np.asarray(matrix), targets)
            rows.append([row, column, *(f"{scores[t]:.3f}" for t in targets[:-1]),
                         f"{np.mean(list(scores.values())):.3f}"])
    return markdown_table([row_header, "trained with", *map(str, targets[:-1]), "mean"], rows, 2)


def cka_section(out: os.PathLike | str, tag: str, model: str, untrained: Sequence,
                runs: Sequence[dict], where: str) -> list[str]:
    """The co-adaptation part of a sweep's report: heatmaps `<out>/<tag>_cka.png` of the
    `untrained` model's CKA matrix and each run's `run["cka"]`, and the markdown lines
    (`coadaptation_table`, the image link); `where` names the samples used."""
    panels = {model: {"untrained": untrained, **{r["name"]: r["cka"] for r in runs}}}
    cka_heatmaps(Path(out) / f"{tag}_cka.png", panels)
    size = len(untrained)
    return [f"Co-adaptation: RBF-CKA between the pooled outputs of targets 0..{size - 1} on "
            f"{where}; per target the mean CKA with the targets above it (lower = less "
            "co-adaptation):", "", *coadaptation_table(panels, list(range(size))), "",
            f"![CKA heatmaps]({tag}_cka.png)"]


def label_free_picks(runs: Sequence[dict]) -> dict[str, str]:
    """`{criterion: run name}`: the pick of each label-free criterion of
    graphaug.select.CRITERIA among `runs` (each with "name" and "criteria"), by
    graphaug.select.select_config in sweep order (ties: the first run, the preset)."""
    candidates = {r["name"]: r["criteria"] for r in runs}
    return {name: select_config(candidates, name) for name in CRITERIA}


def criteria_section(runs: Sequence[dict], metric: str, test: Mapping[str, float],
                     test_label: str, where: str, baseline: str = "none"
                     ) -> tuple[dict, list[str]]:
    """The label-free selection part of a sweep's report, from each run's `run["criteria"]`
    (graphaug.select.embedding_criteria) and validation `run[metric]`.

    Per criterion of graphaug.select.CRITERIA: its pick (graphaug.select.select_config, runs
    in sweep order, the preset first), the pick's `metric` and test score (`test[name]`,
    evaluated after every choice was made), and the Spearman correlation across the runs
    between the criterion, oriented so that + means its better end goes with a higher
    `metric`, and `metric`. Rows for the validation pick (best `metric`, ties: the first)
    and the preset `baseline` come first.

    Args:
        runs (list of dict): the sweep's runs, each with "name", metric and "criteria".
        metric (str): the validation score (higher is better).
        test (mapping): test score of at least every picked run, by name.
        test_label (str): the test column's header.
        where (str): the samples the criteria were computed on.
        baseline (str): the preset's run name. (default: "none")

    Returns:
        `(summary, lines)`: `{criterion: {"pick", metric, "test", "spearman"}}` (spearman
        None where undefined; "validation" and baseline entries without it) and the
        markdown lines. Runs without criteria (an older runs file) give
        `({}, [a line saying so])`.

    Example:
        >>> summary, lines = criteria_section(runs, "val", {r["name"]: r["test"] for r in runs},
        ...                                   "test acc", "1,000 images")  # doctest: +SKIP
    """
    from scipy.stats import spearmanr

    if not runs or any("criteria" not in r for r in runs):
        return {}, ["Label-free criteria: not available (runs without them)."]
    scores = {r["name"]: r[metric] for r in runs}
    picks = label_free_picks(runs)
    best = max(scores, key=lambda n: (scores[n], -list(scores).index(n)))
    summary = {"validation": {"pick": best}, baseline: {"pick": baseline}}
    for name, (direction, _) in CRITERIA.items():
        sign = 1.0 if direction == "max" else -1.0
        values = [sign * r["criteria"][name] for r in runs]
        defined = len(runs) > 2 and len(set(values)) > 1 and len(set(scores.values())) > 1
        rho = float(spearmanr(values, list(scores.values())).statistic) if defined else None
        summary[name] = {"pick": picks[name], "spearman": rho}
    for entry in summary.values():
        entry.update({metric: scores[entry["pick"]], "test": test[entry["pick"]]})
    shown = {"validation": f"validation ({metric}, labels)", baseline: f"preset {baseline}"}
    rows = [(shown.get(name, name), CRITERIA[name][0] if name in CRITERIA else "-", e["pick"],
             f"{e[metric]:.2f}", f"{e['test']:.2f}",
             "-" if e.get("spearman") is None else f"{e['spearman']:+.2f}")
            for name, e in summary.items()]
    values = [(r["name"], *(f"{r['criteria'][c]:.5g}" for c in CRITERIA), f"{r[metric]:.2f}")
              for r in runs]
    lines = [f"Label-free selection over the {len(runs)} candidates (no labels; computed on "
             f"{where}). Spearman: across the candidates, between "
             f"the criterion oriented so that + means its better end goes with a higher "
             f"{metric}, and {metric} (n/a: `-`, under 3 candidates or a constant column). "
             f"{test_label} is evaluated after selection and never used for it:", "",
             *markdown_table(("criterion", "better", "pick", metric, test_label, "Spearman"),
                             rows, 3), "", "Criteria per candidate:", "",
             *markdown_table(("run", *CRITERIA, metric), values)]
    return summary, lines


def sweep_report(out: os.PathLike | str, tag: str, result: dict, table: str,
                 cka: Sequence[str], cache: RunCache, metric: str, ylabel: str,
                 title: str, criteria: Sequence[str] = ()) -> None:
    """Write a modality sweep's report: `<out>/<tag>.{json,md}` (`table`, the
    `cka_section` lines `cka`, the `criteria_section` lines `criteria`, the wall-time
    line) and `<out>/<tag>_layers.png` (`layer_plot` of `result["runs"]`' `metric`, the
    baseline run as a line)."""
    runs = result["runs"]
    extra = [*criteria, ""] if criteria else []
    write_results(out, tag, result, tag,
                  [table, "", *cka, "", *extra, wall_time_line(result["total_seconds"], cache)],
                  cache)
    layer_plot(Path(out) / f"{tag}_layers.png", runs, metric, ylabel, title,
               baseline=next(r[metric] for r in runs if r["kind"] is None))


def select_best(runs: Sequence[dict], metric: str, baseline: str = "none") -> dict:
    """`{kind: name}` of the run with the best `metric` per transform kind (`kind` None =
    `baseline`, the spec grammar's plain preset "none"); ties keep the first in sweep
    order. Only `metric` is looked at, so pass a validation metric: choices are never made
    on test scores."""
    best: dict = {}
    for run in runs:
        kind = run["kind"] or baseline
        if kind not in best or run[metric] > best[kind][metric]:
            best[kind] = run
    return {kind: run["name"] for kind, run in best.items()}


def sweep_run(cache, config: dict, seed: int, spec: dict, compute, legacy: str) -> dict:
    """The cached run of one configuration of a text / vision sweep (its fields, without the
    cache key and spec). The run without deep augmentation is named by the spec grammar's
    plain preset ("none", graphaug.spec.spec_label(None)) in what is printed and reported,
    but cached under its former name legacy ("baseline", "input-aug only") so that the runs
    made before the rename -- and the committed runs.jsonl files -- keep their keys.

    Args:
        cache (RunCache): the protocol's run cache.
        config (dict): the configuration; "name" and "kind" (None: no deep augmentation).
        seed (int): the run's seed.
        spec (dict): the run's specification, its "run" field the configuration.
        compute (callable): checkpoint -> result, as RunCache.run.
        legacy (str): the cached name of the kind None configuration.
    """
    if config["kind"] is None:
        stored = {**config, "name": legacy}
        spec = {k: (stored if v is config else v) for k, v in spec.items()}
        config = stored
    else:
        stored = config
    run = cache.run((stored["name"], f"seed{seed}"), spec, compute)
    named = spec_label(None) if stored["kind"] is None else stored["name"]
    return {**{k: v for k, v in run.items() if k not in ("cache_key", "spec")}, "name": named}
