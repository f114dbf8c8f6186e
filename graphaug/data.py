"""Dataset loading: data-root resolution, TU graph-classification sets and OGB molecules.

The data root comes from `root=` (`--root` on the command line), else the `GRAPHAUG_DATA`
environment variable, else `DEFAULT_ROOT` (`~/.cache/graphaug/datasets`). TU data is
looked up as `<root>/TU/<NAME>/raw` or `<root>/<NAME>/raw`, OGB data as
`<root>/ogb/<name_with_underscores>` or `<root>/<name_with_underscores>`. Missing files are
downloaded (PyG's TU downloader, OGB's own) unless `download=False`; offline, a
`FileNotFoundError` names the files and folders that were searched.

TU raw files are validated before PyG reads them (line counts agree, node ids in range, every
line parses), so a truncated or edited file raises an error naming the file and the line instead
of yielding a partial dataset. Nothing is written into a read-only data root (a folder without
write permission bits, such as a shared copy): processed caches and downloads then go to a
writable cache folder, `processed/` under graphaug's cache root (`$GRAPHAUG_CACHE`, default
`~/.cache/graphaug`: graphaug.utils.cache_root).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ._checksums import KNOWN_RAW_FILES
from .utils import cache_root, file_sha256

__all__ = ["DEFAULT_ROOT", "data_root", "cache_dir", "find_tu_root", "load_tu",
           "validate_tu_files", "find_ogb_root", "load_ogb", "GraphDataset", "SOCIAL_DATASETS",
           "validate_graphs", "check_dataset_name", "KNOWN_RAW_FILES"]

#: Data root used when neither `root=` nor `$GRAPHAUG_DATA` is given.
DEFAULT_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "graphaug" / \
    "datasets"

#: Datasets without node labels; GraphCL gives them constant node features.
SOCIAL_DATASETS = ("COLLAB", "IMDB-BINARY", "IMDB-MULTI", "REDDIT-BINARY", "REDDIT-MULTI-5K",
                   "REDDIT-MULTI-12K")

_TU_REQUIRED = ("A", "graph_indicator", "graph_labels")
# optional TU files: part -> (dtype, what one line describes)
_TU_NODE_FILES = {"node_labels": np.int64, "node_attributes": np.float64}
_TU_EDGE_FILES = {"edge_labels": np.int64, "edge_attributes": np.float64}
_TU_GRAPH_FILES = {"graph_attributes": np.float64}
_FINGERPRINT = "graphaug_raw.json"


def data_root(root: Optional[os.PathLike | str] = None) -> Path:
    """Resolve the data root: `root` if given, else `$GRAPHAUG_DATA`, else
    `DEFAULT_ROOT`."""
    root = root if root is not None else os.environ.get("GRAPHAUG_DATA")
    return Path(root).expanduser() if root else DEFAULT_ROOT


def cache_dir() -> Path:
    """Writable folder for processed caches and downloads of read-only data roots:
    `processed/` under graphaug's cache root (`$GRAPHAUG_CACHE`, else
    `$XDG_CACHE_HOME/graphaug`, else `~/.cache/graphaug`; graphaug.utils.cache_root), beside
    the experiments' `runs/`."""
    return cache_root() / "processed"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def check_dataset_name(name: str, kind: str = "dataset") -> str:
    """Return `name` if it is a plain dataset name: letters, digits, `_` and `-`, starting
    with a letter or digit, at most 100 characters (so no path separator, no `..`, nothing a
    path or URL built from it could escape with).

    Raises:
        ValueError: naming the value and the rule.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r} is not a plain dataset name: use letters, digits, "
                         "'_' and '-' only (no path separators, no '..', no spaces), e.g. "
                         "'MUTAG' or 'ogbg-molhiv'; pass the folder that holds it as root")
    return name


_ANNOUNCED: set = set()


def _announce_fallback(folder: Path, mirror: Path) -> None:
    """Say once per process and folder that a read-only data root is cached elsewhere."""
    if folder not in _ANNOUNCED:
        _ANNOUNCED.add(folder)
        warnings.warn(f"{folder} is read-only: graphaug writes its processed cache and any "
                      f"download to {mirror} instead (set GRAPHAUG_CACHE to choose the cache root)",
                      stacklevel=3)


def _writable(path: Path) -> bool:
    """Whether graphaug may create files in `path` (or, if it does not exist yet, in its
    nearest existing parent). A folder without any write permission bit counts as read-only even
    where the user could write anyway (root): that is how shared data is marked."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


def _mirror(folder: Path) -> Path:
    """The writable stand-in for a read-only `folder`: one cache folder per source path."""
    key = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / key


def _writable_base(base: Path, name: str) -> Path:
    """`base` if `base/<name>` (and its `processed/`) may be written, else its mirror."""
    folder = base / name
    ok = _writable(folder) and (not (folder / "processed").exists() or
                                _writable(folder / "processed"))
    if ok:
        return base
    _announce_fallback(folder, _mirror(base) / name)
    return _mirror(base)


def _fingerprint(raw_dir: Path) -> dict:
    """`{file name: [size, sha256]}` of the raw files: the identity of a processed cache (a
    file edited with its size and mtime kept still changes its hash)."""
    return {f.name: [f.stat().st_size, file_sha256(f)]
            for f in sorted(raw_dir.iterdir()) if f.is_file()} if raw_dir.is_dir() else {}


def _cache_is_stale(processed_file: Path, fingerprint: dict) -> bool:
    """Whether `processed_file` exists but was not built from the raw files `fingerprint`
    describes (a cache is only ever as good as the files it was built from). Nothing is removed:
    a stale cache is rebuilt over (atomically) by the loader."""
    if not fingerprint or not processed_file.is_file():
        return False
    try:
        return json.loads((processed_file.parent / _FINGERPRINT).read_text()) != fingerprint
    except (OSError, ValueError):
        return True


def _record_fingerprint(processed_dir: Path, fingerprint: dict) -> None:
    if fingerprint:  # unique temp file: concurrent workers may record the same dataset
        from .utils import atomic_write_json
        atomic_write_json(processed_dir / _FINGERPRINT, fingerprint)


def _check_known(key: str, folder: Path, hashed: Optional[dict] = None,
                 validate=None) -> None:
    """Compare the files of a documented dataset (`key` such as `"TU/MUTAG"`) under
    `folder` with `KNOWN_RAW_FILES` (size and SHA-256); `hashed` gives the
    `[size, sha256]` of files already hashed, by path relative to `folder`. Datasets
    without an entry pass (their files are validated as usual); absent files are skipped (the
    finders name missing required files). On a mismatch `validate()` runs first, so a damage
    that file validation can locate is reported with its line.

    Raises:
        ValueError: naming the file that differs from the published one.
    """
    for file, expected in KNOWN_RAW_FILES.get(key, {}).items():
        path = folder / file
        record = (hashed or {}).get(file)
        if record is None:
            if not path.is_file():
                continue
            record = [path.stat().st_size, file_sha256(path)]
        if list(record) != list(expected):
            if validate is not None:
                validate()
            change = (f"{record[0]} bytes instead of {expected[0]}" if record[0] != expected[0]
                      else "the right size but other content (its SHA-256 differs)")
            raise ValueError(f"{path} is not the published {key} file: it has {change}, so it "
                             "looks truncated or edited; restore the original (to use an edited "
                             "copy, give its folder and files another dataset name)")


def _find_or_download(find, fetch, name: str, base: Path, download: bool) -> Path:
    """`find(name, base)`; when the files are missing, `fetch(name, base, error)` unless
    `download` is off (then the error, saying nothing was downloaded)."""
    try:
        return find(name, base)
    except FileNotFoundError as missing:
        if not download:
            raise FileNotFoundError(f"{missing} (download=False: nothing was downloaded)") \
                from None
        return fetch(name, base, missing)


# -- TU ---------------------------------------------------------------------------------------

def _tu_candidates(name: str, base: Path) -> list[Path]:
    candidates = [base / "TU", base]
    mirror = _mirror(base / "TU")
    if (mirror / name / "raw").is_dir():  # downloaded earlier for a read-only root
        candidates.append(mirror)
    return candidates


def _tu_missing_message(name: str, candidates: Sequence[Path]) -> str:
    looked = ", ".join(str(c / name / "raw") for c in candidates)
    files = ", ".join(f"{name}_{p}.txt" for p in _TU_REQUIRED)
    return f"TU dataset {name!r} not found: looked for {files} in {looked}"


def find_tu_root(name: str, root: Optional[os.PathLike | str] = None) -> Path:
    """Folder to give PyG's `TUDataset` as `root` (it reads `<that>/<name>/raw`).

    Raises:
        FileNotFoundError: no candidate holds the required raw files; the message lists them.
    """
    check_dataset_name(name, "TU dataset")
    candidates = _tu_candidates(name, data_root(root))
    for candidate in candidates:
        raw = candidate / name / "raw"
        if all((raw / f"{name}_{part}.txt").is_file() for part in _TU_REQUIRED):
            return candidate
    raise FileNotFoundError(_tu_missing_message(name, candidates))


def _read_numbers(path: Path, dtype, columns: Optional[int] = None) -> np.ndarray:
    """Every line of a comma-separated TU file as one row of a `[lines, columns]` array.

    Raises:
        ValueError: naming the file and the first line that is empty, cut off or not numeric.
    """
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{path} is empty")
    lines = data.count(b"\n")
    if not data.endswith(b"\n"):
        # PyG's reader splits on newlines and drops the last piece: an unterminated line would
        # vanish silently; a file cut mid-line ends this way too
        raise ValueError(f"{path}, line {lines + 1}: the file does not end with a newline, so it "
                         "looks cut off mid-line; restore it (or end it with a newline if this "
                         "last line is complete)")
    try:
        text = data.decode("ascii")
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=dtype, ndmin=2,
                           comments=None)
    except ValueError:  # not ASCII or not numeric: find the line below
        table = None
    if table is None or table.shape[0] != lines or (columns and table.shape[1] != columns):
        raise ValueError(_bad_line(path, data, dtype, columns))
    return table


def _bad_line(path: Path, data: bytes, dtype, columns: Optional[int]) -> str:
    """The message for the first line of `data` that does not parse (slow path, errors only)."""
    kind, convert = ("integers", int) if np.issubdtype(dtype, np.integer) else ("numbers", float)
    rows = data.split(b"\n")[:-1]
    # without a fixed column count, the most common one of the first lines (a damaged first
    # line must not make every other line look wrong)
    expected = columns or Counter(row.count(b",") + 1 for row in rows[:1000]).most_common(1)[0][0]
    for number, line in enumerate(rows, start=1):
        text = line.decode("ascii", errors="replace")
        fields = text.split(",")
        try:
            ok = len(fields) == expected
            if ok:
                for value in fields:
                    convert(value)  # raises ValueError on a malformed number
        except ValueError:
            ok = False
        if not ok:
            what = "is empty" if not text.strip() else f"reads {text.strip()!r}"
            return (f"{path}, line {number} {what}: expected {expected} comma-separated {kind} "
                    "(is the file truncated or edited?)")
    return f"{path}: cannot be read as comma-separated {kind}"


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort: several times faster than `np.unique` here)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])]


def _count_error(path: Path, lines: int, expected: int, per: str, source: Path) -> ValueError:
    hint = ("the file looks truncated" if lines < expected else
            f"it has extra lines, or {source.name} looks truncated")
    return ValueError(f"{path} has {lines} lines, but {source.name} implies {expected} "
                      f"(one line per {per}): {hint}; line {min(lines, expected) + 1} is the "
                      "first without a counterpart")


def validate_tu_files(raw_dir: os.PathLike | str, name: str) -> None:
    r"""Check a TU dataset's raw files before PyG reads them.

    Every line must parse; `graph_indicator` gives the node count $N$ and graph ids
    `1..G` in non-decreasing order with no empty graph; `graph_labels` (and
    `graph_attributes`) must have $G$ lines, node files $N$ lines, edge files as
    many lines as `A`; every node id in `A` must lie in `1..N`, join two nodes of the same
    graph and appear in both directions (TU graphs are undirected).

    Args:
        raw_dir (path): the folder holding `<name>_A.txt` etc.
        name (str): the dataset name, the files' prefix.

    Raises:
        FileNotFoundError: a required file is missing.
        ValueError: naming the file and, where there is one, the offending line.
    """
    raw_dir = Path(raw_dir)

    def path(part: str) -> Path:
        return raw_dir / f"{name}_{part}.txt"

    missing = [path(p).name for p in _TU_REQUIRED if not path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"TU dataset {name!r}: {', '.join(missing)} missing in {raw_dir}")
    indicator_path = path("graph_indicator")
    indicator = _read_numbers(indicator_path, np.int64, 1)[:, 0]
    num_nodes = indicator.size
    low = np.flatnonzero(indicator < 1)
    if low.size:
        raise ValueError(f"{indicator_path}, line {low[0] + 1}: graph id {indicator[low[0]]}; "
                         "graph ids start at 1")
    down = np.flatnonzero(indicator[1:] < indicator[:-1])
    if down.size:
        i = down[0] + 1
        raise ValueError(f"{indicator_path}, line {i + 1}: graph id {indicator[i]} after "
                         f"{indicator[i - 1]}; nodes must be listed graph by graph in "
                         "increasing graph id")
    num_graphs = int(indicator[-1])
    empty = np.flatnonzero(np.bincount(indicator, minlength=num_graphs + 1)[1:] == 0)
    if empty.size:
        raise ValueError(f"{indicator_path}: graph {empty[0] + 1} has no node (graph ids go up "
                         f"to {num_graphs}; every id in between needs at least one line)")
    counts = {"graph_labels": (np.int64, num_graphs, "graph"),
              **{p: (t, num_graphs, "graph") for p, t in _TU_GRAPH_FILES.items()},
              **{p: (t, num_nodes, "node") for p, t in _TU_NODE_FILES.items()}}
    for part, (dtype, expected, per) in counts.items():
        if part == "graph_labels" or path(part).is_file():
            table = _read_numbers(path(part), dtype, 1 if part == "graph_labels" else None)
            if table.shape[0] != expected:
                raise _count_error(path(part), table.shape[0], expected, per, indicator_path)
            if part == "node_labels":
                _check_label_span(path(part), table, "node")
            if part == "graph_labels":
                labels = _distinct(table[:, 0])
    if labels.size < 2:
        raise ValueError(f"{path('graph_labels')}: every graph has the label {labels[0]}; a "
                         "graph-classification dataset needs at least 2 classes (is the file "
                         "edited?)")

    a_path = path("A")
    edges = _read_numbers(a_path, np.int64, 2)
    out = np.flatnonzero(((edges < 1) | (edges > num_nodes)).any(axis=1))
    if out.size:
        row = edges[out[0]]
        value = row[0] if not 1 <= row[0] <= num_nodes else row[1]
        raise ValueError(f"{a_path}, line {out[0] + 1}: node id {value} is out of range "
                         f"1..{num_nodes} ({indicator_path.name} has {num_nodes} nodes)")
    graph = indicator[edges - 1]
    cross = np.flatnonzero(graph[:, 0] != graph[:, 1])
    if cross.size:
        (u, v), (gu, gv) = edges[cross[0]], graph[cross[0]]
        raise ValueError(f"{a_path}, line {cross[0] + 1}: edge ({u}, {v}) joins graph {gu} and "
                         f"graph {gv} (per {indicator_path.name})")
    key = edges[:, 0] * (num_nodes + 1) + edges[:, 1]
    reverse = edges[:, 1] * (num_nodes + 1) + edges[:, 0]
    if not np.array_equal(_distinct(key), _distinct(reverse)):  # fast path: symmetric as a set
        first = np.flatnonzero(~np.isin(reverse, key))[0]
        u, v = edges[first]
        raise ValueError(f"{a_path}, line {first + 1}: edge ({u}, {v}) has no reverse ({v}, {u}); "
                         "TU graphs are undirected and list every edge in both directions, so "
                         "the file looks truncated or edited")
    for part, dtype in _TU_EDGE_FILES.items():
        if path(part).is_file():
            table = _read_numbers(path(part), dtype)
            if table.shape[0] != edges.shape[0]:
                raise _count_error(path(part), table.shape[0], edges.shape[0], "edge", a_path)
            if part == "edge_labels":
                _check_label_span(path(part), table, "edge")


#: Node and edge label columns may span at most max(this, lines of the file) values: PyG one-hot
#: encodes every value between the smallest and the largest label.
MAX_LABEL_SPAN = 1000


def _check_label_span(path: Path, table: np.ndarray, what: str) -> None:
    """Refuse a label column whose values spread far beyond the file's size (one edited label
    such as 1000000 would make PyG one-hot `lines x 10^6` values), naming the line."""
    limit = max(MAX_LABEL_SPAN, table.shape[0])
    for column in range(table.shape[1]):
        values = table[:, column]
        low, high = int(values.min()), int(values.max())
        if high - low + 1 <= limit:
            continue
        median = float(np.median(values))
        row = int(values.argmax() if high - median >= median - low else values.argmin())
        others = np.delete(values, row)
        gib = table.shape[0] * (high - low + 1) * 4 / 2 ** 30
        raise ValueError(f"{path}, line {row + 1}: {what} label {values[row]} lies far outside "
                         f"the other labels ({int(others.min())} .. {int(others.max())}); PyG "
                         f"one-hot encodes every value from {low} to {high} ({high - low + 1} "
                         f"columns for {table.shape[0]} lines, {gib:.1f} GiB), and a {what} label "
                         f"column may span at most max({MAX_LABEL_SPAN}, lines) values: fix the "
                         "line (is the file edited?)")


def _processed_once(dataset, rebuild: bool) -> None:
    """PyG's `Dataset._process` without its unpickling of `pre_transform.pt` /
    `pre_filter.pt` (full pickle loads of files in the data root; graphaug passes neither
    argument): process when the processed files are missing, or `rebuild` (stale)."""
    from torch_geometric.data.dataset import files_exist

    if rebuild or not files_exist(dataset.processed_paths):
        os.makedirs(dataset.processed_dir, exist_ok=True)
        dataset.process()


def _load_processed(dataset, what: str):
    """The processed file of `dataset`, read with a weights-only load. An unreadable one
    (empty, cut off by a killed writer) is moved aside to `<file>.corrupt` with a warning and
    rebuilt from the raw files; one that asks for code to run is refused (an error naming it)."""
    from .utils import UnreadableFileError, move_aside, safe_load

    path = dataset.processed_paths[0]
    try:
        return safe_load(path, allowed=_pyg_safe_globals(), what=what)
    except UnreadableFileError as error:
        move_aside(path, str(error))
    _processed_once(dataset, True)
    return safe_load(path, allowed=_pyg_safe_globals(), what=what)


def _pyg_safe_globals() -> list:
    """PyG's data classes, which its processed files reference (weights-only load)."""
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage
    return [Data, DataEdgeAttr, DataTensorAttr, GlobalStorage]


@functools.lru_cache(maxsize=None)
def _tu_class():
    """PyG's `TUDataset` with a chosen processed folder, validation before PyG parses the raw
    files, no download of its own (downloads happen in `load_tu`) and a weights-only load
    of the processed file (PyG falls back to a full unpickling when its safe load fails)."""
    from torch_geometric.data import Data, InMemoryDataset
    from torch_geometric.datasets import TUDataset


    class ValidatedTUDataset(TUDataset):
        def __init__(self, root: str, name: str, processed_dir: str, rebuild: bool) -> None:
            self._processed_dir, self._rebuild = processed_dir, rebuild
            self.name, self.cleaned = name, False
            InMemoryDataset.__init__(self, root)  # TUDataset's own __init__ would load unsafely
            path = self.processed_paths[0]
            out = _load_processed(self, "processed TU dataset")
            if not (isinstance(out, tuple) and len(out) == 4 and isinstance(out[0], dict)
                    and isinstance(out[1], dict) and isinstance(out[2], dict)
                    and out[3] is Data):
                raise ValueError(f"processed TU dataset {path} is not what PyG's TUDataset "
                                 "writes; remove it to rebuild it from the raw files")
            data, self.slices, self.sizes, _ = out
            self.data = Data.from_dict(data)
            # as TUDataset: node/edge attributes off, labels (one-hot) kept
            if self._data.x is not None:
                self._data.x = self._data.x[:, self.num_node_attributes:]
            if self._data.edge_attr is not None:
                self._data.edge_attr = self._data.edge_attr[:, self.num_edge_attributes:]

        @property
        def processed_dir(self) -> str:
            return self._processed_dir

        def download(self) -> None:
            raise FileNotFoundError(f"TU raw files missing in {self.raw_dir}")

        def _process(self) -> None:
            _processed_once(self, self._rebuild)

        def process(self) -> None:
            from torch_geometric.io import read_tu_data

            from .utils import atomic_torch_save
            validate_tu_files(self.raw_dir, self.name)
            data, slices, sizes = read_tu_data(self.raw_dir, self.name)
            atomic_torch_save(self.processed_paths[0],  # what TUDataset writes, atomically
                              (data.to_dict(), slices, sizes, data.__class__))

    return ValidatedTUDataset


def _download_tu(name: str, base: Path, missing: FileNotFoundError) -> Path:
    """Download `name` with PyG's TU downloader into `<base>/TU/<name>/raw` (or the cache's
    mirror of a read-only `base`); returns the folder to give `TUDataset` as root."""
    from torch_geometric.datasets import TUDataset

    target = _writable_base(base / "TU", name)
    folder = target / name
    if (folder / "raw").exists():  # never overwrite what the user placed there
        raise FileNotFoundError(f"{missing}; {folder / 'raw'} exists but is incomplete, so "
                                f"nothing was downloaded over it: complete it or remove it to "
                                f"download {name}")
    url = f"{TUDataset.url}/{name}.zip"
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    # download and check in a temporary folder, then move into place: an interrupted or broken
    # download never leaves a half dataset behind
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    try:
        try:
            TUDataset.download(SimpleNamespace(url=TUDataset.url, cleaned=False, name=name,
                                               raw_dir=str(tmp / "raw")))
        except Exception as error:  # offline, HTTP error, bad zip: say what was tried
            raise FileNotFoundError(f"{missing}; downloading {url} failed "
                                    f"({type(error).__name__}: {error}); pass download=False "
                                    "(--no-download) to skip the download") from error
        validate_tu_files(tmp / "raw", name)
        os.replace(tmp / "raw", folder / "raw")
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass
class GraphDataset:
    """A list of PyG `Data` graphs with the facts a benchmark needs.

    Attributes:
        name (str): dataset name.
        graphs (list): `torch_geometric.data.Data` objects (`x`, `edge_index`, `y`).
        num_features (int): node feature size.
        num_classes (int): number of graph classes.
    """

    name: str
    graphs: list
    num_features: int
    num_classes: int
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index):
        if isinstance(index, (slice, Sequence, Tensor)) and not isinstance(index, int):
            if isinstance(index, slice):
                graphs = self.graphs[index]
            else:
                graphs = [self.graphs[int(i)] for i in index]
            return GraphDataset(self.name, graphs, self.num_features, self.num_classes,
                                dict(self.info))
        return self.graphs[index]

    @property
    def labels(self) -> Tensor:
        return torch.cat([g.y.view(-1) for g in self.graphs])

    def __repr__(self) -> str:
        return (f"GraphDataset({self.name}, graphs={len(self.graphs)}, "
                f"features={self.num_features}, classes={self.num_classes})")


def validate_graphs(graphs: Sequence, name: str = "dataset") -> list:
    """Check a list of PyG graphs before batching; returns it, with a `torch.long` copy of
    every graph whose `edge_index` has another integer dtype (PyG's message passing needs
    `long`; the caller's graphs are not modified).

    Every graph needs nodes, finite node features, and an `edge_index` of shape `[2, E]`
    whose ids lie in `0 .. num_nodes - 1` of *its own* graph: collation shifts each graph's
    ids by the nodes before it, so an id of 7 in a 5-node graph (or -1) would silently link
    into a neighbouring graph of the batch.

    Args:
        graphs (sequence of Data): the dataset.
        name (str): what to call it in messages (default: `"dataset"`).

    Raises:
        ValueError: naming the graph's index and the problem.

    Example:
        >>> graphs = validate_graphs(graphs, "my graphs")
    """
    graphs = list(graphs)
    parts, nodes, counts = [], [], []
    for i, g in enumerate(graphs):
        n = g.num_nodes
        if n is None or n == 0:
            raise ValueError(f"{name}: graph {i} has no nodes")
        if g.x is not None and not bool(torch.isfinite(g.x).all()):
            raise ValueError(f"{name}: graph {i} has NaN/Inf node features")
        edge_index = getattr(g, "edge_index", None)
        if edge_index is None:
            continue
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
            shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else \
                type(edge_index).__name__
            raise ValueError(f"{name}: graph {i} has an edge_index of shape {shape}; expected "
                             "[2, num_edges]")
        if edge_index.dtype != torch.long:
            if edge_index.is_floating_point() or edge_index.is_complex() or \
                    edge_index.dtype == torch.bool:
                raise ValueError(f"{name}: graph {i} has a {edge_index.dtype} edge_index; node "
                                 "ids must be integers (convert with edge_index.long())")
            g = copy.copy(g)
            g.edge_index = edge_index = edge_index.long()
            graphs[i] = g
        parts.append(edge_index)
        nodes.append(n)
        counts.append(edge_index.size(1))
    if parts:
        ids = torch.cat(parts, dim=1)
        owner = torch.repeat_interleave(torch.arange(len(parts)), torch.tensor(counts))
        limit = torch.tensor(nodes).index_select(0, owner)
        bad = ((ids < 0) | (ids >= limit)).any(dim=0).nonzero()
        if bad.numel():
            column = int(bad[0])
            which = [i for i, g in enumerate(graphs) if getattr(g, "edge_index", None) is not None]
            j = int(owner[column])
            first = column - sum(counts[:j])
            value = next(int(v) for v in ids[:, column] if not 0 <= int(v) < nodes[j])
            raise ValueError(f"{name}: graph {which[j]} has node id {value} in edge {first} "
                             f"(edge_index[:, {first}]), outside 0 .. {nodes[j] - 1} for its "
                             f"{nodes[j]} nodes; in a batch it would link into another graph. "
                             "Fix the edge_index (or num_nodes) of that graph")
    return graphs


def load_tu(name: str, root: Optional[os.PathLike | str] = None, *, download: bool = True,
            self_loops: bool = False, constant_features: Optional[bool] = None) -> GraphDataset:
    r"""Load a TU dataset as a `GraphDataset` with GraphCL's node features.

    The raw files are validated before PyG first reads them (`validate_tu_files`); PyG's
    `processed/` cache is written beside `raw/` when that folder is writable, else in
    `cache_dir`, and rebuilt whenever the raw files change.

    Args:
        name (str): e.g. `"MUTAG"`, `"NCI1"`, `"REDDIT-BINARY"`.
        root (path, optional): data root (default `$GRAPHAUG_DATA`, else
            `DEFAULT_ROOT`).
        download (bool): download the raw files with PyG's TU downloader into
            `<root>/TU/<name>/raw` when no candidate folder holds them (default `True`).
        self_loops (bool): add one self-loop per node (GraphCL's official data pipeline does).
        constant_features (bool, optional): use a constant 1 feature per node; default: for
            the social datasets (no node labels) only.

    Raises:
        FileNotFoundError: the files are missing and `download=False` or the download failed;
            the message names the files and the folders searched.
        ValueError: a raw file is malformed (the message names the file and the line).

    Example:
        >>> ds = load_tu("MUTAG", root="/tmp/datasets")
        >>> ds.num_features, ds.num_classes, len(ds)
        (7, 2, 188)
    """
    from torch_geometric.utils import add_remaining_self_loops

    check_dataset_name(name, "TU dataset")
    base = data_root(root)
    tu_root = _find_or_download(find_tu_root, _download_tu, name, base, download)
    processed = _writable_base(tu_root, name) / name / "processed"
    raw = tu_root / name / "raw"
    fingerprint = _fingerprint(raw)
    _check_known(f"TU/{name}", raw, fingerprint, lambda: validate_tu_files(raw, name))
    stale = _cache_is_stale(processed / "data.pt", fingerprint)
    dataset = _tu_class()(str(tu_root), name, str(processed), stale)
    _record_fingerprint(processed, fingerprint)
    if constant_features is None:
        constant_features = name in SOCIAL_DATASETS or dataset.num_node_features == 0
    graphs = []
    for data in dataset:
        data = data.clone()
        if constant_features or data.x is None:
            data.x = torch.ones(data.num_nodes, 1)
        if self_loops:
            data.edge_index, _ = add_remaining_self_loops(data.edge_index,
                                                          num_nodes=data.num_nodes)
            data.edge_attr = None
        graphs.append(data)
    validate_graphs(graphs, name)
    num_features = graphs[0].x.size(1)
    return GraphDataset(name, graphs, num_features, int(dataset.num_classes),
                        {"root": str(tu_root), "self_loops": self_loops})


_OGB_FILES = ("raw/edge.csv.gz", "raw/edge-feat.csv.gz", "raw/node-feat.csv.gz",
              "raw/graph-label.csv.gz", "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz",
              "split/scaffold/train.csv.gz", "split/scaffold/valid.csv.gz",
              "split/scaffold/test.csv.gz")
_OGB_PROCESSED = "geometric_data_processed.pt"


@functools.lru_cache(maxsize=None)
def _ogb_master() -> dict:
    """OGB's table of graph datasets (`master.csv`): name -> meta information."""
    import pandas as pd
    from ogb.graphproppred import dataset_pyg
    master = pd.read_csv(Path(dataset_pyg.__file__).parent / "master.csv", index_col=0,
                         keep_default_na=False)
    return {name: master[name] for name in master.keys()}


def _ogb_meta(name: str):
    check_dataset_name(name, "OGB dataset")
    master = _ogb_master()
    if name not in master:
        raise ValueError(f"unknown OGB graph dataset {name!r}; choose from "
                         f"{', '.join(master)}")
    return master[name]


def _ogb_required(name: str) -> tuple[str, ...]:
    """The files an OGB graph dataset folder must hold: its release file, raw and split."""
    return (f"RELEASE_v{_ogb_meta(name)['version']}.txt", *_OGB_FILES)


def _ogb_candidates(base: Path) -> list[Path]:
    return [base / "ogb", base, _mirror(base / "ogb")]


def find_ogb_root(name: str, root: Optional[os.PathLike | str] = None) -> Path:
    """Folder to give OGB as `root` (it reads `<that>/<name with _>/`).

    A folder counts only when it holds every file OGB reads (the release file of the version
    OGB expects, the raw files and the scaffold split), even when a processed cache exists: OGB
    would otherwise ask whether to update it and delete it on "y". Nothing is ever removed.

    Raises:
        FileNotFoundError: the files OGB needs are missing (listed, with the folders looked in),
            so that OGB never starts a download or asks a question.
        ValueError: `name` is not an OGB graph dataset, or a folder holds another release.
    """
    required = _ogb_required(name)
    base = data_root(root)
    folder = name.replace("-", "_")
    candidates = _ogb_candidates(base)
    for candidate in candidates:
        if all((candidate / folder / f).is_file() for f in required):
            return candidate
    for candidate in candidates:
        releases = sorted(p.name for p in (candidate / folder).glob("RELEASE_v*.txt"))
        if releases and required[0] not in releases:
            raise ValueError(f"{candidate / folder} holds {', '.join(releases)}, an OGB release "
                             f"that ogb {_ogb_version()} does not read (it expects "
                             f"{required[0]}); graphaug never updates or deletes a dataset "
                             "folder: move it away and download the current release")
    first = next((c / folder for c in candidates if (c / folder).is_dir()), candidates[0] / folder)
    missing = [f for f in required if not (first / f).is_file()]
    raise FileNotFoundError(f"OGB dataset {name!r} not found or incomplete: missing "
                            f"{', '.join(missing)} under {first} (looked in "
                            f"{', '.join(str(c / folder) for c in candidates)})")


def _ogb_version() -> str:
    import ogb
    return getattr(ogb, "__version__", "?")


@functools.lru_cache(maxsize=None)
def _ogb_class():
    """OGB's `PygGraphPropPredDataset` with a chosen processed folder, no download of its own
    (downloads happen in `load_ogb`), no question asked (OGB's constructor asks whether to
    update a folder without its release file and deletes it on "y": it is not called) and a
    weights-only load of the processed file and of nothing else (the split is read from its
    CSV files, never from a pickled `split_dict.pt`)."""
    import pandas as pd
    from ogb.graphproppred import PygGraphPropPredDataset
    from torch_geometric.data import InMemoryDataset

    class CachedOGBDataset(PygGraphPropPredDataset):
        def __init__(self, name: str, root: str, processed_dir: str, rebuild: bool) -> None:
            meta = _ogb_meta(name)
            self._processed_dir, self._rebuild = processed_dir, rebuild
            # what PygGraphPropPredDataset.__init__ sets, without its prompt
            self.name, self.meta_info = name, meta
            self.dir_name = name.replace("-", "_")
            self.original_root, self.root = root, os.path.join(root, self.dir_name)
            self.download_name = meta["download_name"]
            self.num_tasks = int(meta["num tasks"])
            self.eval_metric, self.task_type = meta["eval metric"], meta["task type"]
            self.__num_classes__ = int(meta["num classes"])
            self.binary = meta["binary"] == "True"
            InMemoryDataset.__init__(self, self.root)
            path = self.processed_paths[0]
            out = _load_processed(self, "processed OGB dataset")
            if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
                raise ValueError(f"processed OGB dataset {path} is not what OGB writes; remove "
                                 "it to rebuild it from the raw files")
            self.data, self.slices = out

        @property
        def processed_dir(self) -> str:
            return self._processed_dir

        def download(self) -> None:
            raise FileNotFoundError(f"OGB raw files missing in {self.raw_dir}")

        def _process(self) -> None:
            _processed_once(self, self._rebuild)

        def get_idx_split(self, split_type: Optional[str] = None) -> dict:
            split = Path(self.root) / "split" / (split_type or self.meta_info["split"])
            return {part: torch.from_numpy(pd.read_csv(split / f"{part}.csv.gz", compression="gzip",
                                                       header=None).values.T[0]).to(torch.long)
                    for part in ("train", "valid", "test")}

    return CachedOGBDataset


def _download_ogb(name: str, base: Path, missing: FileNotFoundError) -> Path:
    """Download `name` with OGB's own downloader into `<base>/ogb/<name with _>` (or the
    cache's mirror of a read-only `base`); returns the folder to give OGB as root."""
    from ogb.graphproppred import PygGraphPropPredDataset

    meta = _ogb_meta(name)
    dir_name = name.replace("-", "_")
    target = _writable_base(base / "ogb", dir_name)
    folder = target / dir_name
    if folder.exists():  # OGB would delete it; never remove what the user placed there
        raise FileNotFoundError(f"{missing}; {folder} exists but is incomplete, so nothing was "
                                f"downloaded over it: complete it or remove it to download "
                                f"{name}")
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
    try:
        (tmp / dir_name).mkdir()  # OGB's downloader replaces this folder with the download
        stub = SimpleNamespace(meta_info=meta, original_root=str(tmp),
                               root=str(tmp / dir_name), download_name=meta["download_name"])
        try:
            PygGraphPropPredDataset.download(stub)
        except (Exception, SystemExit) as error:  # offline, HTTP error, declined: say so
            raise FileNotFoundError(f"{missing}; downloading {meta['url']} failed "
                                    f"({type(error).__name__}: {error}); pass download=False "
                                    "(--no-download) to skip the download") from error
        lacking = [f for f in _ogb_required(name) if not (tmp / dir_name / f).is_file()]
        if lacking:
            raise FileNotFoundError(f"the download of {name} from {meta['url']} lacks "
                                    f"{', '.join(lacking)}")
        os.replace(tmp / dir_name, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_ogb(name: str, root: Optional[os.PathLike | str] = None, *, download: bool = True):
    r"""Load an `ogbg-mol*` dataset with its official scaffold split.

    graphaug builds OGB's dataset itself: OGB's constructor is never run (it asks on stdin
    whether to update a folder without its release file and deletes the folder on "y"), the
    processed cache is read with a weights-only load (ogb 1.3.6's own `torch.load` of it fails
    on torch >= 2.6; nothing is patched) and the split comes from its CSV files. The
    `processed/` cache goes beside `raw/` when that folder is writable, else in
    `cache_dir`, and is rebuilt whenever the raw files' SHA-256 changes. The raw files of
    the datasets in `KNOWN_RAW_FILES` must match their published sizes and hashes.

    Args:
        name (str): e.g. `"ogbg-molhiv"`.
        root (path, optional): data root (default `$GRAPHAUG_DATA`, else
            `DEFAULT_ROOT`).
        download (bool): download the dataset with OGB's own downloader into
            `<root>/ogb/<name with _>` when no candidate folder holds it (default `True`);
            an existing incomplete folder is never downloaded over.

    Returns:
        `(dataset, split)` with `split = {"train": idx, "valid": idx, "test": idx}`.

    Raises:
        FileNotFoundError: files are missing (the release file included) and
            `download=False` or the download failed; the message names the missing files and
            the folders searched.
        ValueError: an unknown name or release, a published file that was edited, or a
            processed file that fails the safe load (the message names the file).
    """
    _ogb_meta(name)
    base = data_root(root)
    ogb_root = _find_or_download(find_ogb_root, _download_ogb, name, base, download)
    dir_name = name.replace("-", "_")
    processed = _writable_base(ogb_root, dir_name) / dir_name / "processed"
    fingerprint = _fingerprint(ogb_root / dir_name / "raw")
    _check_known(f"ogb/{name}", ogb_root / dir_name,
                 {f"raw/{file}": record for file, record in fingerprint.items()})
    stale = _cache_is_stale(processed / _OGB_PROCESSED, fingerprint)
    dataset = _ogb_class()(name, str(ogb_root), str(processed), stale)
    _record_fingerprint(processed, fingerprint)
    return dataset, dataset.get_idx_split()
