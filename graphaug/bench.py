"""The benchmark harness: run cache, checkpoints, command-line checks and result files.

Every script in ``benchmarks/`` (and any benchmark of your own) uses it so that a number it
prints is never stale:

* a run is cached as JSON under a key that hashes its whole resolved configuration, the
  identity of its dataset (name and the size and SHA-256 of every raw file) and the version of
  the method code (:func:`code_version`); a run under any other configuration, data or code
  gets another file, and a cache file that does not carry its key is never read;
* its pretraining checkpoint sits under the same key and stores the configuration, so a resume
  under any other configuration stops with an error naming the file and the fields
  (:func:`graphaug.contrastive.train`);
* every file is written atomically; an empty or corrupt cache file or checkpoint is named,
  moved aside to ``<file>.corrupt`` and recomputed;
* training wall time adds up across resumes (``TrainHistory.seconds``);
* every result file starts with the same header: the command, the machine (read at run time)
  and the date (:func:`run_header`).

Example:
    >>> cache = RunCache("out/runs", script=__file__)
    >>> spec = {"config": cfg.to_dict(), "seed": 0, "dataset": tu_identity("MUTAG", root)}
    >>> result = cache.run(("MUTAG", "graphcl", "seed0"), spec,
    ...                    lambda checkpoint: {"acc": evaluate(train(checkpoint))})
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import json
import os
import shlex
import sys
import time
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from .utils import atomic_write_json, atomic_write_text, move_aside

__all__ = ["code_version", "file_identity", "tu_identity", "ogb_identity", "spec_key",
           "RunCache", "machine", "run_header", "bench_parser", "modality_parser", "number",
           "with_download", "markdown_table", "header_lines", "wall_time_line", "write_results",
           "line_plot", "layer_plot", "cka_heatmaps", "coadaptation_table", "cka_section", "sweep_report",
           "select_best", "run_in_processes", "load_script", "read_json"]

PACKAGE = Path(__file__).resolve().parent


# -- identities and keys ------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _code_version(extra: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    files = sorted(PACKAGE.rglob("*.py")) + [Path(p) for p in extra]
    for path in files:
        name = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def code_version(*scripts: os.PathLike | str) -> str:
    """Version of the method code: a hash of every ``graphaug/**/*.py`` source and of
    ``scripts`` (the benchmark's own file).

    A hash rather than a hand-bumped constant because a forgotten bump silently serves numbers
    of old code, which is exactly what the cache must never do; the price is that any edit of
    the package (a docstring too) recomputes the runs of the next invocation. Computed once per
    process: the version of the code this process imported.
    """
    return _code_version(tuple(str(Path(p).resolve()) for p in scripts))


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return _sha256(Path(path))[:16]


def file_identity(files: Iterable[os.PathLike | str], base: os.PathLike | str) -> dict[str, str]:
    """``{path relative to base: "size:sha256-prefix"}`` of ``files`` (hashes cached per
    process for unchanged files, so large datasets are read once)."""
    base, out = Path(base), {}
    for path in sorted(Path(f) for f in files):
        stat = path.stat()
        out[path.relative_to(base).as_posix()] = \
            f"{stat.st_size}:{_file_digest(str(path), stat.st_size, stat.st_mtime_ns)}"
    return out


def tu_identity(name: str, root: Optional[os.PathLike | str] = None) -> dict:
    """Identity of TU dataset ``name``: its name and every raw file's size and hash."""
    from .data import find_tu_root

    raw = find_tu_root(name, root) / name / "raw"
    return {"name": name, "files": file_identity((p for p in raw.iterdir() if p.is_file()), raw)}


class TUDatasets:
    r"""TU datasets of one data root, each loaded once per process with self-loops added (as
    every TU benchmark trains on it), and their identities (:func:`tu_identity`) for run-cache
    keys.

    Args:
        root (path): data root holding ``TU/<NAME>/raw``.
        download (bool): fetch a missing dataset; ``False`` makes it an error.
            (default: ``True``)

    Example::

        >>> datasets = TUDatasets("/tmp/graphaug-data")  # doctest: +SKIP
        >>> datasets("MUTAG").num_features, datasets.identity("MUTAG")["name"]  # doctest: +SKIP
        (7, 'MUTAG')
    """

    def __init__(self, root: Optional[os.PathLike | str], download: bool = True) -> None:
        self.root = root
        self.download = download
        self._loaded: dict = {}
        self._identity: dict = {}

    def __call__(self, name: str):
        if name not in self._loaded:
            from .data import load_tu

            self._loaded[name] = with_download(load_tu, name, self.root, self_loops=True,
                                               download=self.download)
            self._identity[name] = tu_identity(name, self.root)
        return self._loaded[name]

    def identity(self, name: str) -> dict:
        """The identity of ``name``'s raw files (the dataset is loaded first, so a missing one
        fails with the loader's message)."""
        self(name)
        return self._identity[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, loaded={sorted(self._loaded)})"


def ogb_identity(name: str, root: Optional[os.PathLike | str] = None) -> dict:
    """Identity of OGB dataset ``name``: its raw files and its official split (``processed/``
    is derived from them by OGB and left out)."""
    from .data import find_ogb_root

    folder = find_ogb_root(name, root) / name.replace("-", "_")
    files = [p for p in folder.rglob("*") if p.is_file()
             and p.relative_to(folder).parts[0] in ("raw", "split")]
    return {"name": name, "files": file_identity(files, folder)}


def spec_key(spec: Mapping) -> str:
    """SHA-256 of the canonical JSON of ``spec`` (sorted keys; tuples as lists)."""
    text = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_json(path: os.PathLike | str) -> Optional[Any]:
    """The JSON in ``path``; ``None`` when it is missing, or empty or corrupt (then it is moved
    aside to ``<path>.corrupt`` with a warning naming it)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        move_aside(path, f"not JSON: {err}")
        return None


class RunCache:
    r"""Runs cached as JSON files keyed by the hash of their whole specification.

    A run ``parts = (dataset, label, "seed0")`` with specification ``spec`` lives in
    ``folder/dataset/label/<key[:12]>/seed0.json`` (its checkpoint under ``checkpoints/``
    beside ``folder``, same layout); the file holds the full key and spec, and is read only
    when they match. ``spec`` gets ``code`` (:func:`code_version`) added.

    Args:
        folder (path): root of the run files (e.g. ``<out>/runs``).
        script (path, optional): the benchmark script, hashed into the code version.

    Attributes:
        reads (int): runs read that an earlier invocation had written.
    """

    def __init__(self, folder: os.PathLike | str, script: Optional[os.PathLike | str] = None
                 ) -> None:
        self.folder = Path(folder)
        self.code = code_version(*([script] if script else []))
        self.started = time.time()
        self.reads = 0

    def key(self, spec: Mapping) -> tuple[str, dict]:
        """``(key, full spec)`` of ``spec``: the code version is added."""
        full = {**spec, "code": self.code}
        return spec_key(full), full

    def path(self, parts: Sequence[str], spec: Mapping, kind: str = "runs",
             suffix: str = ".json") -> Path:
        """Where run ``parts`` with ``spec`` is cached (``kind="checkpoints"``,
        ``suffix=".pt"``: its checkpoint)."""
        key, _ = self.key(spec)
        base = self.folder if kind == "runs" else self.folder.parent / kind
        return base.joinpath(*map(_slug, parts[:-1]), key[:12], _slug(parts[-1]) + suffix)

    def load(self, parts: Sequence[str], spec: Mapping) -> Optional[dict]:
        """The cached result of the run, or ``None`` (missing, corrupt, or another key)."""
        path = self.path(parts, spec)
        key, _ = self.key(spec)
        stored = read_json(path)
        if stored is None:
            return None
        if not isinstance(stored, dict) or stored.get("cache_key") != key:
            move_aside(path, "its cache key does not match its place")
            return None
        if path.stat().st_mtime < self.started:
            self.reads += 1
        return stored

    def run(self, parts: Sequence[str], spec: Mapping, compute: Callable[[Path], dict],
            sidecars: Sequence[str] = ()) -> dict:
        """The cached result of run ``parts``, else ``compute(checkpoint_path)``, cached
        atomically; the checkpoint and its ``sidecars`` (suffixes) are removed afterwards."""
        cached = self.load(parts, spec)
        if cached is not None:
            return cached
        key, full = self.key(spec)
        checkpoint = self.path(parts, spec, "checkpoints", ".pt")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        result = {**compute(checkpoint), "cache_key": key, "spec": full}
        atomic_write_json(self.path(parts, spec), result)
        for suffix in (".pt", *sidecars):
            checkpoint.with_suffix(suffix).unlink(missing_ok=True)
        try:
            checkpoint.parent.rmdir()  # only when empty: a moved-aside .corrupt file stays
        except OSError:
            pass
        return result

    def has(self, parts: Sequence[str], spec: Mapping) -> bool:
        """Whether run ``parts`` has a cache file (not yet checked)."""
        return self.path(parts, spec).is_file()


# -- worker processes ---------------------------------------------------------------------------
_WORKER: Optional[Callable] = None


def load_script(path: os.PathLike | str, name: Optional[str] = None,
                reload: bool = False) -> ModuleType:
    """The Python file at ``path`` (a benchmark script) as a module.

    A spawned worker cannot import a script by the name its parent gave it, so every process
    loads it by path. The module goes into ``sys.modules`` under ``name`` before the file runs,
    so that its functions can be pickled; a second call returns it unless ``reload``.

    Args:
        path (str or Path): the ``.py`` file.
        name (str, optional): the module's name (default: ``graphaug_worker_<file stem>``,
            the name worker processes use).
        reload (bool): run the file again even if ``name`` is loaded (the CLI does: each
            command runs the file as it is then, with the package as it is then).
            (default: ``False``)

    Example::

        >>> tu = load_script("benchmarks/tu.py")
        >>> tu.main(["--datasets", "MUTAG", "--seeds", "0"])  # doctest: +SKIP
    """
    import importlib.util

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no script at {path}")
    name = name or f"graphaug_worker_{path.stem}"
    if reload or name not in sys.modules:
        previous = sys.modules.get(name)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            # a half-run module must not be served next time; a good earlier load stays
            if previous is None:
                del sys.modules[name]
            else:
                sys.modules[name] = previous
            raise
    return sys.modules[name]


def _start_worker(script: str, factory: str, state: Any) -> None:
    global _WORKER
    _WORKER = getattr(load_script(script), factory)(state)


def _work(task: tuple) -> Any:
    return _WORKER(*task)


def run_in_processes(script: os.PathLike | str, factory: str, state: Any,
                     tasks: Sequence[tuple], workers: int) -> list:
    r"""Run ``tasks`` on ``workers`` spawned processes, in the given order (put the longest
    first), and return their results in that order.

    A task that raises does not stop the others: every task runs (a long sweep keeps -- and
    caches -- every run that can be made), then a ``RuntimeError`` names each failed task and
    chains the first failure's exception.

    Each process loads ``script`` once and calls its ``factory(state)`` to build the callable
    that every task is applied to (``worker(*task)``), so a benchmark keeps its own run logic
    (and its :class:`RunCache`: results written by a worker are what the parent reads back).
    ``spawn``, not ``fork``: torch's thread pools do not survive a fork.

    Args:
        script (path): the benchmark script defining ``factory``.
        factory (str): name of a module-level ``factory(state) -> callable``.
        state: picklable arguments of the factory (e.g. ``vars(args)``).
        tasks (list of tuple): positional arguments of each call.
        workers (int): processes (>= 1).
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_start_worker,
                             initargs=(str(Path(script).resolve()), factory, state)) as pool:
        futures = [pool.submit(_work, task) for task in tasks]
        results, failed = [], []
        for task, future in zip(tasks, futures):
            try:
                results.append(future.result())
            except Exception as exc:  # noqa: BLE001 - collected, re-raised below
                failed.append((task, exc))
    if failed:
        listing = "; ".join(f"{task}: {type(exc).__name__}: {exc}" for task, exc in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        raise RuntimeError(f"{len(failed)} of {len(tasks)} tasks failed (the others ran): "
                           f"{listing}{more}") from failed[0][1]
    return results


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "+-_.=" else "_" for c in str(text))
    return keep.strip("_.") or "_"


# -- header ------------------------------------------------------------------------------------
def machine(device: Optional[str] = None, detail: str = "") -> str:
    """The machine a result is measured on, read at run time: the GPU when ``device`` is CUDA,
    else the CPU and its core count; the torch version; ``detail`` (e.g. threads) appended."""
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
    """``{"command", "machine", "date"}`` recorded with every result: the exact command line
    (with the thread and offline variables that were set), :func:`machine` and today's date."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = " ".join(f"{k}={os.environ[k]}" for k in _ENV if k in os.environ and k != "GRAPHAUG_DATA")
    command = f"{env + ' ' if env else ''}{prog} {shlex.join(args)}".rstrip()
    return {"command": command, "machine": machine(device, detail),
            "date": date.today().isoformat()}


# -- command line ------------------------------------------------------------------------------
def number(kind: type = int, low: Optional[float] = None, high: Optional[float] = None, *,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], Any]:
    """An argparse ``type`` that parses ``kind`` and checks ``low <= x <= high`` (``<`` with
    ``*_open``), e.g. ``number(int, 1)`` for a positive count; the error names the range."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if (low is not None and (value <= low if low_open else value < low)) or \
                (high is not None and (value >= high if high_open else value > high)):
            lo = "" if low is None else f"{low:g} {'<' if low_open else '<='} "
            hi = "" if high is None else f" {'<' if high_open else '<='} {high:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: need {lo}value{hi}")
        return value
    parse.__name__ = kind.__name__
    return parse


def bench_parser(prog: str, doc: str, *, out: str, examples: str = "",
                 root_help: str = "data root (a writable copy of shared/datasets)",
                 root_default: Optional[str] = None) -> argparse.ArgumentParser:
    """The options every benchmark shares: ``--root`` (default ``$GRAPHAUG_DATA``, else
    ``root_default``, else :data:`graphaug.data.DEFAULT_ROOT`, where missing sets are
    downloaded), ``--out``, ``--threads``, ``--progress/--no-progress``, ``--no-download``;
    ``examples`` become the help epilog."""
    from .data import DEFAULT_ROOT

    root = os.environ.get("GRAPHAUG_DATA") or root_default or str(DEFAULT_ROOT)
    p = argparse.ArgumentParser(prog=prog, description=doc, epilog=examples or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=root, help=f"{root_help} (default: {root})")
    p.add_argument("--out", default=out, help=f"results folder (default {out})")
    p.add_argument("--threads", type=number(int, 1), default=1,
                   help="torch threads per process (1 is fastest for small graphs on a "
                        "shared CPU)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction,
                   default=sys.stderr.isatty(),
                   help="progress bars on pretraining, SVM folds and fine-tuning (default: "
                        "when stderr is a terminal)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download: a dataset missing under --root is an error")
    return p


def modality_parser(prog: str, doc: str, folder: str) -> argparse.ArgumentParser:
    """:func:`bench_parser` of a cross-modality demo (text, vision): it reads
    ``<root>/<folder>/`` (default ``$GRAPHAUG_DATA``, else the checkout's
    ``../shared/datasets``, read only) and writes to ``benchmarks/results``."""
    checkout = PACKAGE.parent
    return bench_parser(prog, doc, out=str(checkout / "benchmarks" / "results"),
                        root_help=f"datasets root holding {folder}/",
                        root_default=str(checkout.parent / "shared" / "datasets"))


def with_download(loader: Callable, *args, download: bool = True, **kwargs):
    """``loader(*args, download=download, **kwargs)`` when ``loader`` takes ``download``; else
    without it (loaders that only read local files never download anyway)."""
    if "download" in inspect.signature(loader).parameters:
        kwargs["download"] = download
    return loader(*args, **kwargs)


# -- result files ------------------------------------------------------------------------------
def markdown_table(header: Sequence[str], rows: Sequence[Sequence], numeric_from: int = 1
                   ) -> list[str]:
    """Lines of a markdown table; columns from ``numeric_from`` on are right-aligned."""
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
                  body: Sequence[str]) -> str:
    """Write ``<out>/<tag>.json`` (``result``) and ``<out>/<tag>.md`` (``title``, the header
    lines of ``result``, ``body``); return the markdown."""
    out = Path(out)
    atomic_write_json(out / f"{tag}.json", result)
    text = "\n".join([f"# {title}", "", *header_lines(result), "", *body, ""])
    atomic_write_text(out / f"{tag}.md", text)
    return text


def line_plot(path: os.PathLike | str, panels: Mapping[str, Mapping[str, Sequence[tuple]]],
              xlabel: str, ylabel: str, baselines: Optional[Mapping[str, float]] = None) -> None:
    """One subplot per panel ``{title: {label: [(x, y), ...]}}``, a line per label (sorted by
    x); ``baselines[title]`` draws a grey horizontal line. Written with the Agg backend."""
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
    """:func:`line_plot` of a sweep: ``metric`` against ``target``, one line per transform
    (the run name before ``@``); runs without a target are the baseline's."""
    series: dict = {}
    for run in runs:
        if run.get("target") is not None:
            series.setdefault(run["name"].split("@")[0], []).append((run["target"], run[metric]))
    line_plot(path, {title: series}, "target index (0 = input/stem, i = output of block i)",
              ylabel, None if baseline is None else {title: baseline})


def cka_heatmaps(path: os.PathLike | str, panels: Mapping[str, Mapping[str, Sequence]],
                 labels: Optional[Sequence] = None) -> None:
    """CKA matrices as annotated heatmaps: one figure row per ``panels`` entry
    ``{row: {column: [T, T] matrix}}`` (e.g. ``{"MUTAG": {"graphcl": m, "deepaug": m}}``),
    axes ticked with ``labels`` (default ``0..T-1``). Written with the Agg backend."""
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
    """Markdown rows of :func:`graphaug.select.coadaptation_scores` per ``(row, column)`` of
    ``panels`` (as :func:`cka_heatmaps`), one column per scored target and their mean."""
    import numpy as np

    from .select import coadaptation_scores

    rows = []
    for row, columns in panels.items():
        for column, matrix in columns.items():
            scores = coadaptation_scores(np.asarray(matrix), targets)
            rows.append([row, column, *(f"{scores[t]:.3f}" for t in targets[:-1]),
                         f"{np.mean(list(scores.values())):.3f}"])
    return markdown_table([row_header, "trained with", *map(str, targets[:-1]), "mean"], rows, 2)


def cka_section(out: os.PathLike | str, tag: str, model: str, untrained: Sequence,
                runs: Sequence[dict], where: str) -> list[str]:
    """The co-adaptation part of a sweep's report: heatmaps ``<out>/<tag>_cka.png`` of the
    ``untrained`` model's CKA matrix and each run's ``run["cka"]``, and the markdown lines
    (:func:`coadaptation_table`, the image link); ``where`` names the samples used."""
    panels = {model: {"untrained": untrained, **{r["name"]: r["cka"] for r in runs}}}
    cka_heatmaps(Path(out) / f"{tag}_cka.png", panels)
    size = len(untrained)
    return [f"Co-adaptation: RBF-CKA between the pooled outputs of targets 0..{size - 1} on "
            f"{where}; per target the mean CKA with the targets above it (lower = less "
            "co-adaptation):", "", *coadaptation_table(panels, list(range(size))), "",
            f"![CKA heatmaps]({tag}_cka.png)"]


def sweep_report(out: os.PathLike | str, tag: str, result: dict, table: str,
                 cka: Sequence[str], cache: RunCache, metric: str, ylabel: str,
                 title: str) -> None:
    """Write a modality sweep's report: ``<out>/<tag>.{json,md}`` (``table``, the
    :func:`cka_section` lines ``cka``, the wall-time line) and ``<out>/<tag>_layers.png``
    (:func:`layer_plot` of ``result["runs"]``' ``metric``, the baseline run as a line)."""
    runs = result["runs"]
    write_results(out, tag, result, tag,
                  [table, "", *cka, "", wall_time_line(result["total_seconds"], cache)])
    layer_plot(Path(out) / f"{tag}_layers.png", runs, metric, ylabel, title,
               baseline=next(r[metric] for r in runs if r["kind"] is None))


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
