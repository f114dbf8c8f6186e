"""Start-up time of the graphaug command: wall seconds of graphaug --help and of import
graphaug, each in a fresh interpreter, and whether torch was imported on the way.

A measurement, not a test: the numbers depend on the machine and its load (the report header
names both). graphaug --help should stay well under a second; it imports no torch.

Example:
  graphaug startup --repeats 5 --out /tmp/startup
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .options import HelpFormatter, default_out, number
from .report import markdown_table, run_header, write_results

__all__ = ["main", "measure"]

#: what is timed: name -> Python code run by a fresh interpreter
PROBES = {"graphaug --help": "import sys; from graphaug.cli import main\ntry:\n    "
                             "main(['--help'])\nexcept SystemExit:\n    pass\n"
                             "print('torch' in sys.modules, file=sys.stderr)",
          "import graphaug": "import sys, graphaug; print('torch' in sys.modules, "
                             "file=sys.stderr)",
          "import torch (for scale)": "import sys, torch; print('torch' in sys.modules, "
                                      "file=sys.stderr)"}


def measure(code: str, repeats: int) -> dict:
    """Wall seconds of a fresh interpreter running code, repeats times: best, median, and
    whether it imported torch (the probe prints it)."""
    seconds, torch_loaded = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=600)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"probe failed: {done.stderr[-2000:]}")
        torch_loaded = done.stderr.strip().splitlines()[-1] == "True"
    return {"best": min(seconds), "median": statistics.median(seconds), "runs": seconds,
            "imports_torch": torch_loaded}


def main(argv: Optional[Sequence[str]] = None, prog: str = "graphaug startup") -> dict:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n")[-1], formatter_class=HelpFormatter)
    p.add_argument("--repeats", type=number(int, 1), default=5, help="runs of each probe")
    p.add_argument("--out", default=default_out("startup"), help="folder of the report")
    args = p.parse_args(argv)
    result = {**run_header(prog, argv), "probes": {name: measure(code, args.repeats)
                                                   for name, code in PROBES.items()}}
    rows = [[name, f"{r['best']:.2f}", f"{r['median']:.2f}", "yes" if r["imports_torch"] else
             "no"] for name, r in result["probes"].items()]
    body = [f"Fresh interpreter per run, {args.repeats} run(s) each; wall seconds.", "",
            *markdown_table(["probe", "best (s)", "median (s)", "imports torch"], rows)]
    print(write_results(Path(args.out), "startup", result, "Start-up time of graphaug", body))
    return result


if __name__ == "__main__":
    main()
