"""Moved to :mod:`graphaug.bench` (the one harness every benchmark uses); these names stay
importable from here for existing callers."""
from graphaug.bench import layer_plot, markdown_table, run_header, select_best  # noqa: F401

__all__ = ["layer_plot", "markdown_table", "run_header", "select_best"]
