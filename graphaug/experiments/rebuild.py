"""Remake a committed experiment's tables from its runs.jsonl, computing nothing.

The experiment's results.json records the command that made it; that command runs again with
--replay <folder>/runs.jsonl (every run is served from the file; a run it lacks is an error) and
its tables are compared with the committed ones. The data root is still read, for the datasets'
sizes and features, never trained on.

Example:
  graphaug rebuild benchmarks/results/tu_sweep_mutag --root /tmp/graphaug-data --out /tmp/rebuilt
"""
from __future__ import annotations

import argparse
import importlib
import json
import shlex
from pathlib import Path
from typing import Optional, Sequence

from . import COMMANDS
from .options import HelpFormatter, default_out

__all__ = ["main", "recorded_command", "table_lines"]

#: the report file of each protocol that rebuild can replay (results.json beside results.md)
REPORTS = {"tu": "results", "ogb": "results", "supervised": "supervised"}
#: options of the recorded command that describe where it ran, not what it computed
DROPPED = {"--root": 1, "--out": 1, "--workers": 1, "--cache": 1, "--replay": 1,
           "--progress": 0, "--no-progress": 0}


def recorded_command(command: str) -> tuple[str, list[str]]:
    """(protocol, arguments) of a results.json command line such as "OMP_NUM_THREADS=1 python
    benchmarks/tu.py --datasets MUTAG ..." or "graphaug tu --datasets MUTAG ...", without the
    options that only say where it ran (DROPPED).

    Raises:
        ValueError: the command is not one of the protocols rebuild can replay.
    """
    words = shlex.split(command)
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)  # OMP_NUM_THREADS=1 ...
    protocol, script = None, False
    for i, word in enumerate(words[:3]):
        name = Path(word).stem if word.endswith(".py") else word
        if name in REPORTS and (word.endswith(".py") or (i and words[i - 1] == "graphaug")):
            protocol, words, script = name, words[i + 1:], word.endswith(".py")
            break
    if protocol is None:
        raise ValueError(f"cannot replay {command!r}: rebuild knows the commands of "
                         f"{sorted(REPORTS)}")
    kept, i = [], 0
    while i < len(words):
        if words[i] in DROPPED:
            i += 1 + DROPPED[words[i]]
            continue
        kept.append(words[i])
        i += 1
    if protocol == "tu" and script and "--select" not in kept:
        kept += ["--select", "validation-deep"]  # benchmarks/tu.py left the preset out
    return protocol, kept


def table_lines(markdown: str) -> list[str]:
    """The table rows of a markdown report (lines starting with "|"), alignment rows
    normalised (--- and ---: stay distinct)."""
    return [" ".join(line.split()) for line in markdown.splitlines() if line.startswith("|")]


def main(argv: Optional[Sequence[str]] = None, prog: str = "graphaug rebuild") -> dict:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n")[-1],
                                formatter_class=HelpFormatter)
    p.add_argument("folder", type=Path, help="a committed experiment folder (results.json, "
                   "results.md, runs.jsonl)")
    p.add_argument("--root", default=None, help="data root holding the experiment's datasets "
                   "(default: $GRAPHAUG_DATA, else graphaug.data.DEFAULT_ROOT)")
    p.add_argument("--out", default=default_out("rebuild"),
                   help="folder for the rebuilt report")
    args = p.parse_args(argv)
    folder = args.folder
    runs = folder / "runs.jsonl"
    reports = [folder / f"{tag}.json" for tag in sorted(set(REPORTS.values()))]
    report = next((r for r in reports if r.is_file()), None)
    if report is None or not runs.is_file():
        p.error(f"{folder}: needs runs.jsonl and one of {[r.name for r in reports]}")
    try:
        protocol, rest = recorded_command(json.loads(report.read_text())["command"])
    except (ValueError, KeyError) as err:
        p.error(f"{report}: {err}")
    extra = ["--root", args.root] if args.root else []
    module = importlib.import_module(f"{__package__}.{COMMANDS[protocol][0]}")
    module.main([*rest, *extra, "--out", str(args.out), "--replay", str(runs), "--no-progress"],
                prog=f"graphaug {protocol}")
    tag = REPORTS[protocol]
    old = table_lines((folder / f"{tag}.md").read_text())
    new = table_lines((Path(args.out) / f"{tag}.md").read_text())
    same = old == new
    print(f"{folder}: {len(new)} table rows rebuilt from {runs.name}; "
          + ("identical to the committed tables" if same else "DIFFERENT from the committed "
             "tables:\n" + "\n".join(f"- {a}\n+ {b}" for a, b in zip(old, new) if a != b)))
    if not same:
        raise SystemExit(1)
    return {"protocol": protocol, "rows": len(new), "identical": same}


if __name__ == "__main__":
    main()
