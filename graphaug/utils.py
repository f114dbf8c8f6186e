"""Seeding, atomic result files, safe loading of torch files, resumable checkpoints and a robust
`eigh`."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re
import tempfile
import threading
import warnings
import zipfile
from glob import escape as glob_escape
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import torch

__all__ = ["seed_everything", "finite_hint", "all_finite", "atomic_write_text",
           "atomic_write_json", "atomic_torch_save", "rng_state", "set_rng_state", "move_aside",
           "CorruptFileWarning", "eigh_vectors", "safe_load", "UnreadableFileError",
           "UnsafeFileError", "cache_root", "file_sha256"]


def file_sha256(path: os.PathLike | str) -> str:
    """The SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root() -> Path:
    """The root folder of graphaug's caches: `$GRAPHAUG_CACHE`, else `$XDG_CACHE_HOME/graphaug`,
    else `~/.cache/graphaug`, read at each call. Beneath it: `processed/`, the processed caches
    of read-only data roots (graphaug.data.cache_dir), and `runs/`, the experiments' run cache
    (graphaug.experiments.runner.default_cache).

    Example:
        >>> cache_root() / "runs"   # with GRAPHAUG_CACHE=/tmp/ga set
        PosixPath('/tmp/ga/runs')
    """
    env = os.environ.get("GRAPHAUG_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "graphaug"


def eigh_vectors(matrix: torch.Tensor) -> torch.Tensor:
    """Eigenvectors of the symmetric `matrix` (`[d, d]`) as columns, ascending eigenvalues,
    in `matrix`'s dtype.

    float32 `torch.linalg.eigh` (LAPACK `syevd`) can fail on a valid covariance -- seen on
    DD, whose one-hot input leaves most of its 89 features empty in some batches: it raises, or
    returns NaN without raising -- where float64 does not. Only then is it redone in float64, so
    every matrix float32 handles keeps its float32 answer.

    Raises:
        ValueError: `matrix` is not finite.
        torch.linalg.LinAlgError: float64 fails too.
    """
    try:
        vectors = torch.linalg.eigh(matrix)[1]
    except torch.linalg.LinAlgError:
        vectors = None
    if vectors is not None and all_finite(vectors):
        return vectors
    if not all_finite(matrix):
        raise ValueError(f"eigh of a non-finite {tuple(matrix.shape)} matrix (NaN/Inf in the "
                         "activations it was computed from)")
    if matrix.dtype == torch.float64:
        raise torch.linalg.LinAlgError(f"eigh did not converge on a {tuple(matrix.shape)} "
                                       "float64 matrix")
    return eigh_vectors(matrix.double()).to(matrix.dtype)


def finite_hint(x: torch.Tensor) -> torch.Tensor:
    """A 0-dim bool tensor (on `x`'s device, no host sync) that is `True` only when every
    element of `x` is finite: the finiteness of `x.sum()`, because a NaN or Inf element
    makes the sum NaN or Inf. One reduction, no `[N, d]` bool temporary, about 20x cheaper
    than `torch.isfinite(x).all()` on CPU. `False` can also mean that the sum of large
    finite values overflowed: confirm with `all_finite` before raising."""
    return torch.isfinite(x.sum())


def all_finite(x: torch.Tensor) -> bool:
    """Whether every element of `x` is finite: the cheap `finite_hint`, and the exact
    element-wise check only when the hint fails (a NaN/Inf, or an overflowing sum)."""
    return bool(finite_hint(x)) or bool(torch.isfinite(x).all())


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU `torch.Generator` seeded with `seed`."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists (another user's) or not a pid we can judge: leave its file
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Remove `.<name>.<pid>.*.tmp` files of `path` whose writing process is gone (killed
    before it could clean up): the temporary files of `_atomic_replace` never outlive it."""
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass


def _read_umask() -> int:
    umask = os.umask(0)  # the only way to read it sets it: done once, at import
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def _plain_mode(path: Path) -> int:
    """The permission bits `open(path, "w")` would leave: the replaced file's, else
    0o666 minus the umask (mkstemp's temporary file is 0o600: results would be private).
    The umask is read once at import: setting it per write would open a window in which
    another thread's new files get umask 0."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def _atomic_replace(path: os.PathLike | str, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    # the writer's pid in the name: a later write removes what a killed writer left
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _plain_mode(path))
        os.replace(tmp, path)  # atomic on POSIX: readers see the old or the new file, never half
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: os.PathLike | str, text: str) -> Path:
    """Write `text` to `path` atomically (temporary file + rename)."""
    return _atomic_replace(path, lambda h: h.write(text.encode()))


def atomic_write_json(path: os.PathLike | str, obj: Any) -> Path:
    """Write `obj` as indented JSON to `path` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(path: os.PathLike | str, obj: Any) -> Path:
    """`torch.save` to `path` atomically."""
    return _atomic_replace(path, lambda h: torch.save(obj, h))


class UnreadableFileError(ValueError):
    """A file is empty, truncated or not a torch file at all (the message names it)."""


class UnsafeFileError(ValueError):
    """A torch file holds objects other than tensors, plain containers and the allowed classes:
    unpickling it could run code, so it was refused (the message names it and the object)."""


def _numpy_globals() -> list:
    """What `torch.save` writes for a NumPy array (NumPy's RNG state holds one): its
    reconstructor, `ndarray` and the dtype classes. Arrays only; nothing that runs code."""
    import numpy as np
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import _reconstruct
    dtypes = [type(np.dtype(t)) for t in (np.uint32, np.int64, np.float64, np.float32,
                                          np.bool_, np.int32)]
    return [_reconstruct, np.ndarray, np.dtype, *dtypes]


_SAFE_LOAD_LOCK = threading.RLock()


def _global_id(entry) -> int:
    return id(entry[0] if isinstance(entry, tuple) else entry)


def safe_load(path: os.PathLike | str, *, allowed: Iterable = (), what: str = "file") -> Any:
    r"""`torch.load(path, weights_only=True)` on the CPU, with clear errors.

    Only tensors, plain Python containers and numbers, NumPy arrays and the classes in
    `allowed` are rebuilt; a file that asks for anything else (a pickle that would run code)
    is refused. The extra classes are allowed for this call only (a scoped
    `torch.serialization.safe_globals`), never process-wide. Use it for every file a user or a
    data root supplies: checkpoints, resume files, processed datasets.

    Args:
        path (path): the file.
        allowed (iterable): extra classes or functions the file may reference (default: none).
        what (str): what the file is, for the messages (default: `"file"`).

    Raises:
        FileNotFoundError: `path` does not exist.
        UnsafeFileError: (a `ValueError`) the file references a class or function that is
            not allowed; nothing from it was run.
        UnreadableFileError: (a `ValueError`) the file is empty, truncated or not a torch
            file.

    Example:
        >>> state = safe_load("run.pt", what="checkpoint")
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with _SAFE_LOAD_LOCK:
            # add only what is not allowed already, so leaving the scope never removes a
            # global that someone else registered; the lock keeps concurrent loads from
            # removing each other's
            present = set(map(_global_id, torch.serialization.get_safe_globals()))
            extra = [g for g in [*_numpy_globals(), *allowed] if _global_id(g) not in present]
            with torch.serialization.safe_globals(extra):
                return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = _weights_only_reason(str(error))
        if re.search(r"unsupported global|not an allowed global|blocked|unsupported class|"
                     r"unrecognized function", reason, re.IGNORECASE):
            raise UnsafeFileError(
                f"{what} {path} was refused: {reason.rstrip('.')}. A weights-only load rebuilds "
                "tensors and plain containers only (unpickling this could run code); nothing "
                "from it was run. Load only files written by graphaug or PyTorch") from None
        raise UnreadableFileError(f"{what} {path} is not a readable torch file ({reason}); is it "
                                  "truncated or a different kind of file?") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, KeyError, IndexError,
            TypeError, AttributeError, UnicodeDecodeError, OverflowError) as error:
        first = (str(error).strip().splitlines() or [""])[0][:200]
        kind = "empty" if path.stat().st_size == 0 else "not a readable torch file"
        raise UnreadableFileError(f"{what} {path} is {kind} ({type(error).__name__}: {first}); "
                                  "is it truncated or a different kind of file?") from None


def _weights_only_reason(message: str) -> str:
    """The line of torch's weights-only error that says what was wrong (the rest is advice,
    including the advice to load with weights_only=False, which graphaug never does)."""
    skip = ("Weights only load failed", "Please file an issue", "Check the documentation",
            "(1)", "(2)", "In PyTorch 2.6")
    for line in message.splitlines():
        line = line.replace("WeightsUnpickler error:", "").strip()
        if line and not line.startswith(skip):
            return line.split(" Please use")[0]  # drop the advice to allowlist it
    return "weights-only load failed"


class CorruptFileWarning(UserWarning):
    """A cache or checkpoint file could not be read; it was moved aside and is recomputed."""


def move_aside(path: os.PathLike | str, reason: str) -> Path:
    """Rename an unreadable `path` to `<path>.corrupt` (`.corrupt.1`, ... when taken) and
    warn with both names, so the file is recomputed but kept for inspection.

    Args:
        path (path): the unreadable file.
        reason (str): why it could not be read (shown in the warning).

    Returns:
        The new path of the file.
    """
    path = Path(path)
    target, n = path.with_name(path.name + ".corrupt"), 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt.{n}")
    os.replace(path, target)
    warnings.warn(f"{path} is unreadable ({reason}); moved it to {target} and recomputing",
                  CorruptFileWarning, stacklevel=2)
    return target


def rng_state(generators: Optional[dict[str, torch.Generator]] = None) -> dict:
    """Every RNG state needed for an exact resume (Python, NumPy, torch, named generators)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "generators": {k: g.get_state() for k, g in (generators or {}).items()}}


def set_rng_state(state: dict, generators: Optional[dict[str, torch.Generator]] = None) -> None:
    """Restore what `rng_state` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    for key, generator in (generators or {}).items():
        generator.set_state(state["generators"][key])
