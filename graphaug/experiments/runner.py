"""The runner of every experiment: run cache, dataset identities and worker processes.

Every protocol in graphaug.experiments (and any experiment of your own) uses it so that a
number it prints is never stale:

* a run is cached as JSON (outside git: $GRAPHAUG_CACHE/runs/<protocol>, by default
  ~/.cache/graphaug/runs/<protocol>, or --cache) under
  a key that hashes its whole resolved configuration, the identity of its dataset (name and the
  size and SHA-256 of every raw file), the torch thread count and NUMERICS_VERSION; a run under
  any other configuration, data or numerics gets another file, and a cache file that does not
  carry its key, or whose fields are not what the protocol writes, is never read;
* its pretraining checkpoint sits under the same key and stores the configuration, so a resume
  under any other configuration stops with an error naming the file and the fields;
* every file is written atomically; an empty or corrupt cache file or checkpoint is named,
  moved aside to <file>.corrupt and recomputed;
* training wall time adds up across resumes (TrainHistory.seconds);
* the runs behind a report are written beside it as runs.jsonl, one compact line per run, from
  which graphaug rebuild remakes its tables.

Example:
    >>> cache = RunCache(default_cache() / "mine")
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

from ..utils import atomic_write_json, cache_root, file_sha256, move_aside
from .options import with_download

__all__ = ["NUMERICS_VERSION", "default_cache", "file_identity", "tu_identity", "ogb_identity",
           "spec_key", "RunCache", "protocol_cache", "field_check", "folder_runs", "run_line",
           "replay_key", "TUDatasets", "run_in_processes",
           "read_json"]

# -- identities and keys ------------------------------------------------------------------------
#: Version of the numbers graphaug computes, part of every run-cache key. Bump it in the same
#: change as anything that alters a result for the same configuration, data and seed (a loss,
#: an initialisation, the order of random draws, an evaluation protocol): every cached run is
#: then recomputed. tests/test_numerics.py pins the losses and accuracy of a tiny seeded run,
#: so a change of numerics without a bump fails the suite; a docstring edit invalidates nothing.
NUMERICS_VERSION = 1

#: spec entries that identify how a run was computed rather than what it is (left out when a
#: committed runs.jsonl is replayed: graphaug rebuild)
RUNTIME_FIELDS = ("numerics", "threads", "code", "world_size")


def default_cache() -> Path:
    """Where runs are cached unless --cache says otherwise: `runs/` under graphaug's cache root
    ($GRAPHAUG_CACHE, else $XDG_CACHE_HOME/graphaug, else ~/.cache/graphaug:
    graphaug.utils.cache_root), beside the datasets' `processed/`; never inside a checkout."""
    return cache_root() / "runs"


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(Path(path))[:16]


def file_identity(files: Iterable[os.PathLike | str], base: os.PathLike | str) -> dict[str, str]:
    """`{path relative to base: "size:sha256-prefix"}` of `files` (hashes cached per
    process for unchanged files, so large datasets are read once)."""
    base, out = Path(base), {}
    for path in sorted(Path(f) for f in files):
        stat = path.stat()
        out[path.relative_to(base).as_posix()] = \
            f"{stat.st_size}:{_file_digest(str(path), stat.st_size, stat.st_mtime_ns)}"
    return out


def tu_identity(name: str, root: Optional[os.PathLike | str] = None) -> dict:
    """Identity of TU dataset `name`: its name and every raw file's size and hash."""
    from ..data import find_tu_root

    raw = find_tu_root(name, root) / name / "raw"
    return {"name": name, "files": file_identity((p for p in raw.iterdir() if p.is_file()), raw)}


class TUDatasets:
    r"""TU datasets of one data root, each loaded once per process with self-loops added (as
    every TU benchmark trains on it), and their identities (`tu_identity`) for run-cache
    keys.

    Args:
        root (path): data root holding `TU/<NAME>/raw`.
        download (bool): fetch a missing dataset; `False` makes it an error.
            (default: `True`)

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
        """The identity of `name`'s raw files (the dataset is loaded first, so a missing one
        fails with the loader's message)."""
        self(name)
        return self._identity[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, loaded={sorted(self._loaded)})"


def ogb_identity(name: str, root: Optional[os.PathLike | str] = None) -> dict:
    """Identity of OGB dataset `name`: its raw files and its official split (`processed/`
    is derived from them by OGB and left out)."""
    from ..data import find_ogb_root

    folder = find_ogb_root(name, root) / name.replace("-", "_")
    files = [p for p in folder.rglob("*") if p.is_file()
             and p.relative_to(folder).parts[0] in ("raw", "split")]
    return {"name": name, "files": file_identity(files, folder)}


def spec_key(spec: Mapping) -> str:
    """SHA-256 of the canonical JSON of `spec` (sorted keys; tuples as lists)."""
    text = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_json(path: os.PathLike | str) -> Optional[Any]:
    """The JSON in `path`; `None` when it is missing, or empty or corrupt (then it is moved
    aside to `<path>.corrupt` with a warning naming it)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        move_aside(path, f"not JSON: {err}")
        return None


Check = Callable[[dict], Optional[str]]


def field_check(*numbers: str, lists: Sequence[str] = ()) -> Check:
    """A RunCache check: each of numbers (dotted paths, e.g. "probe.test") is a finite number,
    each of lists a non-empty list of finite numbers.

    Example::

        >>> check = field_check("test", "val", lists=("fold_test",))
        >>> check({"test": "abc", "val": 0.8, "fold_test": [0.9]})
        "test is 'abc', not a number"
    """
    import math

    def lookup(result: Any, path: str) -> Any:
        for part in path.split("."):
            if not isinstance(result, dict) or part not in result:
                raise KeyError(path)
            result = result[part]
        return result

    def finite(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value)

    def check(result: dict) -> Optional[str]:
        for path in (*numbers, *lists):
            try:
                value = lookup(result, path)
            except KeyError:
                return f"{path} is missing"
            if path in numbers and not finite(value):
                return f"{path} is {value!r}, not a number"
            if path in lists and (not isinstance(value, list) or not value or
                                  not all(finite(v) for v in value)):
                return f"{path} is {str(value)[:60]}, not a list of numbers"
        return None
    return check


def protocol_cache(args, protocol: str, check: Optional[Check] = None) -> "RunCache":
    """The RunCache of a protocol's command-line run: <args.cache>/<protocol>, replaying
    args.replay when it is set (the options of graphaug.experiments.options.bench_parser)."""
    return RunCache(Path(args.cache) / protocol, check=check,
                    replay=getattr(args, "replay", None))


class RunCache:
    r"""Runs cached as JSON files keyed by the hash of their whole specification.

    A run parts = (dataset, label, "seed0") with specification spec lives in
    folder/runs/dataset/label/<key[:12]>/seed0.json (its checkpoint under folder/checkpoints,
    same layout); the file holds the full key and spec, and is read only when they match. The
    key covers spec plus NUMERICS_VERSION and the torch thread count (a 2-thread run gives other
    bits than a 1-thread run).

    Every run served in this process (read or computed) is kept in order, so that a protocol
    writes them as the compact runs.jsonl beside its tables (export). With replay, runs come
    from such a file instead and nothing is computed (graphaug rebuild).

    Args:
        folder (path): the protocol's cache folder (e.g. ~/.cache/graphaug/runs/tu).
        check (callable, optional): check(result) -> None, or a message naming what is wrong
            with a cached result (a field missing, not a number); such a file is moved aside
            with that message and the run recomputed. (default: None)
        replay (path, optional): a runs.jsonl to serve runs from; a run it lacks is an error.
            (default: None)

    Attributes:
        reads (int): runs read that an earlier invocation had written.
    """

    def __init__(self, folder: os.PathLike | str, check: Optional[Check] = None,
                 replay: Optional[os.PathLike | str] = None) -> None:
        self.folder = Path(folder)
        self.check = check
        self.started = time.time()
        self.reads = 0
        self.served: dict[str, dict] = {}
        self.replay = None if replay is None else Path(replay)
        self._replayed = _read_runs(self.replay) if replay is not None else {}

    def key(self, spec: Mapping) -> tuple[str, dict]:
        """(key, full spec) of spec: NUMERICS_VERSION and the torch thread count are added."""
        import torch

        full = {**spec, "numerics": NUMERICS_VERSION, "threads": torch.get_num_threads()}
        return spec_key(full), full

    def path(self, parts: Sequence[str], spec: Mapping, kind: str = "runs",
             suffix: str = ".json") -> Path:
        """Where run parts with spec is cached (kind="checkpoints", suffix=".pt": its
        checkpoint)."""
        key, _ = self.key(spec)
        return self.folder.joinpath(kind, *map(_slug, parts[:-1]), key[:12],
                                    _slug(parts[-1]) + suffix)

    def load(self, parts: Sequence[str], spec: Mapping) -> Optional[dict]:
        """The cached result of the run, or None (missing, corrupt, another key, or fields
        that check rejects: then the file is moved aside)."""
        if self.replay is not None:
            self.reads += 1
            return self._serve(parts, self._replay(parts, spec))
        path = self.path(parts, spec)
        key, _ = self.key(spec)
        stored = read_json(path)
        if stored is None:
            return None
        if not isinstance(stored, dict) or stored.get("cache_key") != key:
            move_aside(path, "its cache key does not match its place")
            return None
        problem = self.check(stored) if self.check is not None else None
        if problem:
            move_aside(path, f"bad result fields: {problem}")
            return None
        if path.stat().st_mtime < self.started:
            self.reads += 1
        return self._serve(parts, stored)

    def run(self, parts: Sequence[str], spec: Mapping, compute: Callable[[Path], dict],
            sidecars: Sequence[str] = ()) -> dict:
        """The cached result of run parts, else compute(checkpoint_path), cached atomically;
        the checkpoint and its sidecars (suffixes) are removed afterwards."""
        cached = self.load(parts, spec)
        if cached is not None:
            return cached
        key, full = self.key(spec)
        checkpoint = self.path(parts, spec, "checkpoints", ".pt")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        result = {**compute(checkpoint), "cache_key": key, "spec": full}
        problem = self.check(result) if self.check is not None else None
        if problem:
            raise RuntimeError(f"run {'/'.join(map(str, parts))} computed a bad result "
                               f"({problem}); nothing was cached")
        atomic_write_json(self.path(parts, spec), result)
        for suffix in (".pt", *sidecars):
            checkpoint.with_suffix(suffix).unlink(missing_ok=True)
        for folder in (checkpoint.parent, *list(checkpoint.parents)[1:len(parts) + 1]):
            try:
                folder.rmdir()  # only when empty: a moved-aside .corrupt file stays
            except OSError:
                break
        return self._serve(parts, result)

    def has(self, parts: Sequence[str], spec: Mapping) -> bool:
        """Whether run parts has a cache file (not yet checked), or a replayed line."""
        if self.replay is not None:
            return self._replay(parts, spec, missing_ok=True) is not None
        return self.path(parts, spec).is_file()

    def export(self, path: os.PathLike | str) -> Path:
        """Write every run served so far as runs.jsonl (one compact line per run, see
        run_line), atomically; return the path."""
        from ..utils import atomic_write_text

        lines = [json.dumps(line, sort_keys=True, separators=(",", ":"))
                 for line in self.served.values()]
        return atomic_write_text(path, "".join(f"{line}\n" for line in lines))

    def _serve(self, parts: Sequence[str], result: dict) -> dict:
        line = run_line(parts, result)
        self.served[replay_key(parts, line["spec"])] = line
        return result

    def _replay(self, parts: Sequence[str], spec: Mapping, missing_ok: bool = False
                ) -> Optional[dict]:
        key = replay_key(parts, self.key(spec)[1])
        lines = self._replayed.get(key, [])
        where = f"{self.replay} has {{}} run {'/'.join(map(str, parts))} with this configuration"
        if len(lines) > 1:
            raise LookupError(where.format(f"{len(lines)} versions of") + " (written by "
                              "different code versions): it cannot say which one the report used")
        if not lines:
            if missing_ok:
                return None
            raise LookupError(where.format("no") + ": rebuild with the command that made it")
        return {**lines[0]["metrics"], "spec": lines[0]["spec"]}

    def __repr__(self) -> str:
        source = f"replay={str(self.replay)!r}" if self.replay else f"{str(self.folder)!r}"
        return f"{type(self).__name__}({source}, served={len(self.served)})"


def run_line(parts: Sequence[str], result: Mapping) -> dict:
    """The compact runs.jsonl line of a cached result: its address (parts: dataset, label,
    seed), the resolved configuration (spec), the metrics (every other field) and the seconds
    it took (the sum of the result's *seconds fields)."""
    metrics = {k: v for k, v in result.items() if k not in ("spec", "cache_key")}
    seconds = sum(v for k, v in metrics.items()
                  if k.endswith("seconds") and isinstance(v, (int, float)))
    spec = result.get("spec") or {}
    return {"parts": [str(p) for p in parts], "label": str(parts[1]) if len(parts) > 2 else "",
            "seed": spec.get("seed"), "spec": spec, "metrics": metrics, "seconds": seconds}


def replay_key(parts: Sequence[str], spec: Mapping) -> str:
    """What identifies a run across machines and versions: its dataset name, its seed part and
    its spec without the runtime fields (RUNTIME_FIELDS) and the dataset's file hashes; a method
    configuration is normalised through MethodConfig (fields added since take their
    defaults)."""
    spec = {k: v for k, v in spec.items() if k not in RUNTIME_FIELDS}
    if isinstance(spec.get("dataset"), dict):
        spec["dataset"] = spec["dataset"].get("name")
    if isinstance(spec.get("method"), dict):
        from ..contrastive import MethodConfig
        spec["method"] = MethodConfig(**spec["method"]).to_dict()
    return spec_key({"seed_part": str(parts[-1]), "spec": spec})


def folder_runs(folder: os.PathLike | str, dataset: Optional[str] = None,
                name: str = "runs.jsonl") -> list[dict]:
    """The runs behind a result folder, as the results they cached (the metrics of each line of
    <folder>/<name>, with its spec), optionally of one dataset only.

    A folder written before runs.jsonl existed still has its per-run JSON files under
    <folder>/runs/: those are read instead.

    Raises:
        FileNotFoundError: the folder has neither.
    """
    folder = Path(folder)
    if (folder / name).is_file():
        lines = [line for group in _read_runs(folder / name).values() for line in group]
        return [{**line["metrics"], "spec": line["spec"]} for line in lines
                if dataset is None or line["parts"][0] == dataset]
    legacy = folder / "runs"
    if legacy.is_dir():
        pattern = f"{dataset}/**/seed*.json" if dataset else "**/seed*.json"
        return [json.loads(path.read_text()) for path in sorted(legacy.glob(pattern))]
    raise FileNotFoundError(f"{folder} has no {name} (nor a runs/ folder of per-run files)")


def _read_runs(path: Path) -> dict[str, list[dict]]:
    """The lines of a runs.jsonl, grouped by replay_key (a folder that older code versions
    also wrote to can hold several runs of one configuration)."""
    if not path.is_file():
        raise FileNotFoundError(f"no runs file {path}")
    runs: dict[str, list[dict]] = {}
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip():
            try:
                line = json.loads(text)
                runs.setdefault(replay_key(line["parts"], line["spec"]), []).append(line)
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{path}, line {number}: not a run line ({err})") from None
    return runs


# -- the one runner ------------------------------------------------------------------------------
class Runner:
    r"""The runner of every cached protocol (TU, OGB, supervised): a job -- a tuple such as
    (dataset, config, seed) -- is run once, its result cached in the protocol's RunCache, so an
    interrupted invocation resumes where it stopped and a finished one is re-read; the jobs
    not cached yet can be computed first on --workers processes (prefetch).

    A protocol supplies only what is its own: parts_spec(*job) (the run's cache address and
    specification: everything its numbers depend on) and compute(checkpoint, spec, *job) (the
    result dict). Optionally task(*job) / job(*task) (a job as picklable values, for the worker
    processes), estimated_seconds(*job) (to start the longest first) and sidecars (files
    beside the checkpoint that go with it).

    Args:
        args: the protocol's validated config (a dataclass with cache, replay, workers,
            threads and progress fields).
        protocol (str): its folder in the run cache (e.g. "tu").
        check (callable, optional): rejects a malformed cached result (see RunCache).
            (default: None)

    Example::

        >>> class Squares(Runner):
        ...     def parts_spec(self, n):
        ...         return ("n", str(n), "seed0"), {"n": n}
        ...     def compute(self, checkpoint, spec, n):
        ...         return {"square": n * n}
        >>> Squares(cfg, "squares").run(3)["square"]  # doctest: +SKIP
        9
    """

    sidecars: Sequence[str] = ()

    def __init__(self, args, protocol: str, check: Optional[Check] = None) -> None:
        self.args = args
        self.cache = protocol_cache(args, protocol, check=check)

    def parts_spec(self, *job) -> tuple[tuple, dict]:
        """The run's cache address (dataset, label, seed part) and specification."""
        raise NotImplementedError

    def compute(self, checkpoint: Path, spec: dict, *job) -> dict:
        """The result of a job not cached yet (checkpoint: where it may resume from)."""
        raise NotImplementedError

    def run(self, *job) -> dict:
        """The cached result of job, else compute(...), cached atomically."""
        parts, spec = self.parts_spec(*job)
        return self.cache.run(parts, spec, lambda checkpoint: self.compute(checkpoint, spec, *job),
                              sidecars=self.sidecars)

    def done(self, *job) -> bool:
        """Whether job's result is cached (or replayed)."""
        return self.cache.has(*self.parts_spec(*job))

    def task(self, *job) -> tuple:
        """job as picklable values for a worker process (default: as is)."""
        return job

    def job(self, *task) -> tuple:
        """The job of a worker's task (the inverse of task; default: as is)."""
        return task

    def estimated_seconds(self, *job) -> float:
        """A rough cost of job, only to start the longest first (default: 0, given order)."""
        return 0.0

    @classmethod
    def for_worker(cls, config: dict) -> "Runner":
        """The runner of one worker process: config's dataclass rebuilt, without progress
        bars, with its --threads torch threads."""
        import torch

        args = cls.config_type(**{**config, "progress": False})
        torch.set_num_threads(args.threads)
        return cls(args)

    def prefetch(self, jobs: Sequence[tuple], kind: str = "run") -> None:
        """With --workers > 1: compute the jobs not cached yet on that many processes, the
        longest first, before the report reads them in turn (one worker, or one job left:
        nothing to do here, the caller computes it in this process).
        kind names the method each worker calls (a protocol may cache several kinds of run,
        e.g. graphaug tu's label-free criteria); only kind "run" is checked against the
        cache beforehand."""
        from dataclasses import asdict

        todo: dict[tuple, tuple] = {}
        for job in jobs:
            parts, spec = self.parts_spec(*job)
            if tuple(parts) not in todo and (kind != "run" or not self.cache.has(parts, spec)):
                todo[tuple(parts)] = job
        if self.args.workers <= 1 or len(todo) <= 1:
            return
        ordered = sorted(todo.values(), key=lambda job: -self.estimated_seconds(*job))
        run_in_processes(_runner_worker, (type(self), asdict(self.args)),
                         [(kind, *self.task(*job)) for job in ordered], self.args.workers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache!r})"


def _runner_worker(state: tuple) -> Callable:
    """The worker of Runner.prefetch: one runner per process (state: its class and config
    dict); a task is (kind, *task) and its result lands in the run cache the parent reads."""
    cls, config = state
    runner = cls.for_worker(config)

    def work(kind: str, *task) -> None:
        getattr(runner, kind)(*runner.job(*task))
    return work


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

        >>> tasks = [("run", "MUTAG", cfg.to_dict(), 0)]
        >>> run_in_processes(_runner_worker, (tu.Runner, asdict(args)), tasks, 2)  # doctest: +SKIP
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


