"""Command-line options shared by the experiments: checked numbers, the common parser
(data root, output folder, threads, progress, downloads)."""
from __future__ import annotations

import argparse
import copy
import inspect
import math
import os
import re
import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = ["HelpFormatter", "plain", "number", "seed_type", "dataset_name", "bench_parser",
           "modality_parser", "require_datasets", "default_out", "with_download"]

PACKAGE = Path(__file__).resolve().parents[1]


def plain(text: str) -> str:
    """Help text without markup: a Sphinx role such as :func:`x`, a reST literal such as
    ``x`` and Markdown code such as `x` all become x."""
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", text).replace("``", "")
    return re.sub(r"`([^`\n]*)`", r"\1", text)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """The help of every graphaug command: descriptions and examples kept as written, Sphinx
    markup removed, and each option's default shown as it would be typed (options without a
    help text too): a list as its items separated by spaces, no default where there is none
    (None, empty) and none for a flag (--bn-per-view is off unless given); an --x/--no-x pair names
    the form that is the default, unless its help already says what the default is."""

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None and action.option_strings:
            shown = self._default_text(action)
            if shown:
                action = copy.copy(action)
                action.help = shown.replace("%", "%%")
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = self._default_text(action)
        if shown and "%(default)" not in text and "(default:" not in text:
            text = f"{text} {shown.replace('%', '%%')}"
        return text

    @staticmethod
    def _default_text(action: argparse.Action) -> str:
        """"(default: ...)" for action, or "" where a default would say nothing true."""
        default = action.default
        if not action.option_strings or default in (None, "", []) or \
                default is argparse.SUPPRESS:
            return ""
        if action.nargs == 0:  # a flag: store_true/store_false/store_const/count/--x --no-x
            if not isinstance(action, argparse.BooleanOptionalAction) or \
                    "default" in (action.help or ""):
                return ""
            names = [s for s in action.option_strings if s.startswith("--")]
            on = [s for s in names if not s.startswith("--no-")]
            off = [s for s in names if s.startswith("--no-")]
            return f"(default: {(on if default else off)[0]})" if on and off else ""
        return f"(default: {_typed(default)})"

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain(super()._expand_help(action))


def _typed(value: Any) -> str:
    """value as it is typed on the command line: list items separated by spaces, a parsed
    spec (kind, rate[, target]) in the spec grammar (dropout:0.25@2), a float in its shortest
    form (0.25, 1e-03 -> 0.001)."""
    if isinstance(value, list):
        return " ".join(_typed(item) for item in value)
    if isinstance(value, tuple):
        from ..spec import spec_label
        return spec_label(*value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def number(kind: type = int, low: Optional[float] = None, high: Optional[float] = None, *,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], Any]:
    """An argparse type that parses kind and checks low <= x <= high (< with *_open), e.g.
    number(int, 1) for a positive count; a float must be finite (inf and nan are refused); the
    error names the value and the range."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (low is not None and (value <= low if low_open else value < low)) or \
                (high is not None and (value >= high if high_open else value > high)):
            lo = "" if low is None else f"{low:g} {'<' if low_open else '<='} "
            hi = "" if high is None else f" {'<' if high_open else '<='} {high:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: need {lo}value{hi}")
        return value
    parse.__name__ = kind.__name__
    return parse


#: seeds seed NumPy and scikit-learn too, which take 0 <= seed < 2**32
seed_type = number(int, 0, 2 ** 32, high_open=True)
seed_type.__name__ = "seed"

_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,99}")


def dataset_name(text: str) -> str:
    """An argparse type for a dataset name (MUTAG, ogbg-molhiv): letters, digits, _ + -, no
    path separator and no "..", checked before any path or URL is built from it."""
    if not _DATASET.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a dataset name: use letters, digits, _, + and - only (no path "
            "separators, no '..'), e.g. MUTAG or ogbg-molhiv; a dataset elsewhere on disk is "
            "found through --root")
    return text


def bench_parser(prog: str, doc: str, *, out: str, examples: str = "",
                 root_help: str = "data root (a writable copy of shared/datasets)",
                 root_default: Optional[str] = None) -> argparse.ArgumentParser:
    """The options every experiment shares: --root (default $GRAPHAUG_DATA, else
    root_default, else graphaug.data.DEFAULT_ROOT, where missing sets are downloaded), --out,
    --cache, --replay, --threads, --progress/--no-progress, --no-download; examples become the
    help epilog."""
    from ..data import DEFAULT_ROOT
    from .runner import default_cache

    root = os.environ.get("GRAPHAUG_DATA") or root_default or str(DEFAULT_ROOT)
    p = argparse.ArgumentParser(prog=prog, description=doc, epilog=examples or None,
                                formatter_class=HelpFormatter)
    p.add_argument("--root", default=root, help=f"{root_help}; $GRAPHAUG_DATA sets the default")
    p.add_argument("--out", default=out, help="folder of the report (tables, JSON, plots, "
                   "runs.jsonl); every file the command writes goes under it")
    p.add_argument("--cache", default=str(default_cache()),
                   help="run cache folder, outside git: runs/ under $GRAPHAUG_CACHE (else "
                        "$XDG_CACHE_HOME/graphaug, else ~/.cache/graphaug)")
    p.add_argument("--replay", default=None, metavar="RUNS_JSONL",
                   help="serve every run from this runs.jsonl (a committed experiment's) "
                        "and compute nothing: remakes its tables (graphaug rebuild)")
    p.add_argument("--threads", type=number(int, 1), default=1,
                   help="torch threads per process (1 is fastest for small graphs on a "
                        "shared CPU)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction,
                   default=sys.stderr.isatty(),
                   help="progress bars on pretraining, SVM folds and fine-tuning (on by "
                        "default when stderr is a terminal)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download: a dataset missing under --root is an error")
    return p


def modality_parser(prog: str, doc: str, folder: str) -> argparse.ArgumentParser:
    """bench_parser of a cross-modality demo (text, vision): it reads <root>/<folder>/
    (default $GRAPHAUG_DATA, else a source checkout's ../shared/datasets when there is one,
    read only) and writes under ./graphaug-runs/<folder>."""
    shared = PACKAGE.parent.parent / "shared" / "datasets"
    return bench_parser(prog, doc, out=default_out(folder),
                        root_help=f"datasets root holding {folder}/",
                        root_default=str(shared) if shared.is_dir() else None)


def require_datasets(p: argparse.ArgumentParser, args: argparse.Namespace, example: str) -> None:
    """Stop (exit status 2) with a one-line example when no --datasets were given: a bare
    command would otherwise start hours of work on the default sets."""
    if not args.datasets:
        p.exit(2, f"{p.prog}: name the datasets to run, e.g.\n  {p.prog} {example}\n")


def default_out(command: str) -> str:
    """The documented default output folder of graphaug command: ./graphaug-runs/<command>."""
    return str(Path("graphaug-runs") / command)


def with_download(loader: Callable, *args, download: bool = True, **kwargs):
    """`loader(*args, download=download, **kwargs)` when `loader` takes `download`; else
    without it (loaders that only read local files never download anyway)."""
    if "download" in inspect.signature(loader).parameters:
        kwargs["download"] = download
    return loader(*args, **kwargs)


class CommandConfig:
    """What the protocols' typed configs (frozen dataclasses: TUConfig, OGBConfig,
    SupervisedConfig, TextConfig, VisionConfig) share: building one from parsed options,
    and the checks every protocol makes (sequences as tuples, dataset names, integer bounds,
    seed range).

    Example::

        >>> cfg = TUConfig.from_namespace(parser().parse_args(argv))  # doctest: +SKIP
    """

    @classmethod
    def from_namespace(cls, args: argparse.Namespace):
        """The config of parsed command-line options (their names are the fields)."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(args).items() if k in names})

    def check_common(self, tuples: tuple, bounds: tuple, seeds: tuple) -> None:
        """Store the fields named in tuples as tuples; check that datasets are dataset names,
        each (name, low) of bounds an integer >= low, and each seed field's seeds in
        [0, 2**32).

        Raises:
            ValueError: naming the field, the bad value and the fix.
        """
        for name in tuples:
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        for name in getattr(self, "datasets", ()):
            try:
                dataset_name(name)
            except argparse.ArgumentTypeError as err:
                raise ValueError(f"datasets: {err}") from None
        for name, low in bounds:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ValueError(f"{name} must be an integer >= {low}, got "
                                 f"{getattr(self, name)!r}")
        for seed in (s for name in seeds for s in getattr(self, name)):
            if not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
                raise ValueError(f"seed {seed!r} out of range: seeds are integers in "
                                 "[0, 2**32)")


def check_rate(name: str, value: Any, low: float = 0.0, high: float = 1.0) -> None:
    """Raise a ValueError naming field name unless value is a finite number in [low, high)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value < high):
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}), got {value!r}")


def check_sweep(cfg: Any) -> None:
    """The checks of a modality sweep's config (text, vision): seed in [0, 2**32), rates in
    [0, 1), PCA components K != 0."""
    if not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2 ** 32:
        raise ValueError(f"seed {cfg.seed!r} out of range: seeds are integers in [0, 2**32)")
    for rate in cfg.rates:
        check_rate("rates", rate)
    if 0 in cfg.pca_k or not all(isinstance(k, int) for k in cfg.pca_k):
        raise ValueError("--pca-k 0 removes nothing: use K != 0")


def command_main(p: argparse.ArgumentParser, config_type: type, run: Callable, argv,
                 prog: str, errors: tuple = (FileNotFoundError,)) -> Any:
    """A command's main: options -> config_type (its ValueError: a usage error) -> run(cfg,
    prog, argv), whose errors (e.g. a missing data file) also become usage errors."""
    try:
        cfg = config_type.from_namespace(p.parse_args(argv))
    except ValueError as err:
        p.error(str(err))
    try:
        return run(cfg, prog, argv)
    except errors as err:
        p.error(str(err))


def _default_cache() -> str:
    from .runner import default_cache  # runner imports this module
    return str(default_cache())


@dataclass(frozen=True)
class BenchConfig(CommandConfig):
    """The fields of bench_parser's options, first in the typed config of a command built on
    it (a command overrides out with its own default folder).

    Args:
        root (str, optional): the datasets root. (default: None)
        out (str): the report's folder.
        cache (str): the run cache folder. (default: graphaug.experiments.runner.default_cache)
        replay (str, optional): a runs.jsonl to serve every run from. (default: None)
        threads (int): torch threads per process. (default: 1)
        progress (bool): progress bars. (default: False)
        download (bool): whether a missing dataset may be downloaded. (default: True)
    """

    root: Optional[str] = None
    out: str = "graphaug-runs"
    cache: str = field(default_factory=_default_cache)
    replay: Optional[str] = None
    threads: int = 1
    progress: bool = False
    download: bool = True
