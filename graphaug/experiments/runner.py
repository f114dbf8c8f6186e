"""The runner of every experiment: run cache, dataset identities and worker processes.

Every protocol in graphaug.experiments (and any experiment of your own) uses it so that a
number it prints is never stale:

* a run is cached as JSON under a key that hashes its whole resolved configuration, the
  identity of its dataset (name and the size and SHA-256 of every raw file) and the version of
  the method code; a run under any other configuration, data or code gets another file, and a
  cache file that does not carry its key is never read;
* its pretraining checkpoint sits under the same key and stores the configuration, so a resume
  under any other configuration stops with an error naming the file and the fields;
* every file is written atomically; an empty or corrupt cache file or checkpoint is named,
  moved aside to <file>.corrupt and recomputed;
* training wall time adds up across resumes (TrainHistory.seconds).

Example:
    >>> cache = RunCache("out/runs")
    >>> spec = {"config": cfg.to_dict(), "seed": 0, "dataset": tu_identity("MUTAG", root)}
    >>> result = cache.run(("MUTAG", "graphcl", "seed0"), spec,
    ...                    lambda checkpoint: {"acc": evaluate(train(checkpoint))})
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from ..utils import atomic_write_json, move_aside
from .options import with_download

__all__ = ["code_version", "file_identity", "tu_identity", "ogb_identity", "spec_key",
           "RunCache", "TUDatasets", "run_in_processes", "read_json"]

PACKAGE = Path(__file__).resolve().parents[1]


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
    from ..data import find_tu_root

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
            from ..data import load_tu

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
    from ..data import find_ogb_root

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


def _start_worker(factory: Callable, state: Any) -> None:
    global _WORKER
    _WORKER = factory(state)


def _work(task: tuple) -> Any:
    return _WORKER(*task)


def run_in_processes(factory: Callable[[Any], Callable], state: Any,
                     tasks: Sequence[tuple], workers: int) -> list:
    r"""Run tasks on workers spawned processes, in the given order (put the longest first),
    and return their results in that order.

    A task that raises does not stop the others: every task runs (a long sweep keeps -- and
    caches -- every run that can be made), then a RuntimeError names each failed task and
    chains the first failure's exception.

    Each process calls factory(state) once to build the callable that every task is applied to
    (worker(*task)), so a protocol keeps its own run logic (and its RunCache: results written
    by a worker are what the parent reads back). spawn, not fork: torch's thread pools do not
    survive a fork.

    Args:
        factory (callable): a module-level function state -> callable (pickled by reference:
            each process imports its module).
        state: picklable arguments of the factory (e.g. vars(args)).
        tasks (list of tuple): positional arguments of each call.
        workers (int): processes (>= 1).

    Example::

        >>> run_in_processes(tu.worker, vars(args), [("MUTAG", cfg.to_dict(), 0)], 2)  # doctest: +SKIP
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_start_worker, initargs=(factory, state)) as pool:
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


