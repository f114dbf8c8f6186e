"""One grammar for a Deep Augmentation configuration, parsed in one place.

A spec names the activation transform, its rate and the target index it runs at:

    none              the plain preset (no activation transform)
    dropout:P@T       ActivationDropout(p=P) at target T, 0 <= P < 1
    pca:K@T           ActivationPCA(k=K) at target T, K a non-zero integer, |K| <= q = 6
    dropout:P, pca:K  the same without a target, where the caller supplies it (e.g. --targets)

The printed label of a spec is the spec itself, written the same way everywhere (command line,
tables, cache folders, docs): dropout:0.25@2, pca:-1@3, none. A run's label is its method and
its spec, e.g. "deepaug dropout:0.25@2" or "graphcl none" (config_label).

Example:
    >>> from graphaug.spec import parse_spec
    >>> spec = parse_spec("pca:-1@3")
    >>> spec.kind, spec.rate, spec.target, spec.label
    ('pca', -1.0, 3, 'pca:-1@3')
    >>> parse_spec("dropout:1.5@2")
    Traceback (most recent call last):
    ...
    ValueError: bad spec 'dropout:1.5@2': dropout p must be in [0, 1), got 1.5; ...
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

__all__ = ["AugSpec", "KINDS", "PCA_Q", "parse_spec", "spec_label", "config_label"]

#: the activation transforms a spec can name
KINDS = ("dropout", "pca")
#: principal directions ActivationPCA computes (the authors' q): |k| <= q, and the width at the
#: target must be at least q
PCA_Q = 6

GRAMMAR = "use none, dropout:P@T (0 <= P < 1) or pca:K@T (integer K != 0, |K| <= 6), T >= 0"


@dataclass(frozen=True)
class AugSpec:
    """A parsed spec: kind None is the plain preset (rate and target None too).

    Args:
        kind (str, optional): "dropout", "pca" or None. (default: None)
        rate (float, optional): dropout p or PCA k. (default: None)
        target (int, optional): target index; None when the caller supplies it.
            (default: None)
    """

    kind: Optional[str] = None
    rate: Optional[float] = None
    target: Optional[int] = None

    @property
    def label(self) -> str:
        """The printed form: none, dropout:0.25@2, pca:-1@3 (no @T without a target)."""
        return spec_label(self.kind, self.rate, self.target)

    def at(self, target: int) -> "AugSpec":
        """This spec at target (a plain preset stays the plain preset)."""
        return self if self.kind is None else replace(self, target=int(target))

    def check_width(self, width: int, where: str) -> None:
        """Refuse PCA where the activation has fewer than PCA_Q features.

        Args:
            width (int): features of the activation at the target.
            where (str): what sets that width, for the message (e.g. "--hidden 4").

        Raises:
            ValueError: naming the spec, the width and the fix.
        """
        if self.kind == "pca" and width < PCA_Q:
            raise ValueError(f"{self.label} needs at least {PCA_Q} features at target "
                             f"{self.target} (ActivationPCA computes q = {PCA_Q} principal "
                             f"directions), but {where} gives {width}: use a width of "
                             f"{PCA_Q} or more, another target, or dropout")

    def __str__(self) -> str:
        return self.label


def spec_label(kind: Optional[str], rate: Optional[float] = None,
               target: Optional[int] = None) -> str:
    """The printed label of (kind, rate, target): spec_label("dropout", 0.25, 2) is
    "dropout:0.25@2", spec_label("pca", -1.0, 3) is "pca:-1@3", spec_label(None) is "none"."""
    if kind is None:
        return "none"
    value = f"{rate:g}" if kind == "dropout" else f"{int(rate)}"
    return f"{kind}:{value}" + ("" if target is None else f"@{int(target)}")


def config_label(method: str, kind: Optional[str] = None, rate: Optional[float] = None,
                 target: Optional[int] = None, backend: str = "pyg") -> str:
    """A run's label: its method and its spec ("deepaug dropout:0.25@2", "graphcl none"; DGL
    runs get "dgl:" in front). The graphcl preset has no activation transform: its spec is
    none whatever kind is given."""
    spec = "none" if method == "graphcl" else spec_label(kind, rate, target)
    return f"{'' if backend == 'pyg' else backend + ':'}{method} {spec}"


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad spec {spec!r}: {what} {text!r} is not a number; "
                         f"{GRAMMAR}") from None
    if not math.isfinite(value):
        raise ValueError(f"bad spec {spec!r}: {what} must be finite, got {text}; {GRAMMAR}")
    return value


def parse_spec(text: str, target: Optional[bool] = True) -> AugSpec:
    """Parse a spec (see the module doc).

    Args:
        text (str): e.g. "dropout:0.25@2", "pca:-1@3", "none", or "dropout:0.25" when
            target is False or None.
        target (bool, optional): True: @T is required; False: @T is refused (the caller
            supplies targets); None: either. (default: True)

    Returns:
        AugSpec: kind, rate and target (None when not given).

    Raises:
        ValueError: naming the bad value and the grammar: an unknown kind, a rate that is not
            a finite number or out of range (dropout:1.5, pca:0, pca:2.5, pca:inf, nan), a
            missing, refused or negative target.
    """
    spec = str(text).strip()
    if spec.lower() == "none":
        return AugSpec()
    body, at, where = spec.partition("@")
    kind, colon, value = body.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS or not colon:
        raise ValueError(f"bad spec {spec!r}: unknown transform {kind!r}; {GRAMMAR}")
    rate = _number(value, "dropout p" if kind == "dropout" else "pca k", spec)
    if kind == "dropout" and not 0 <= rate < 1:
        raise ValueError(f"bad spec {spec!r}: dropout p must be in [0, 1), got {value}; "
                         f"{GRAMMAR}")
    if kind == "pca" and (rate != int(rate) or rate == 0 or abs(rate) > PCA_Q):
        raise ValueError(f"bad spec {spec!r}: pca k must be a non-zero integer with |k| <= "
                         f"{PCA_Q}, got {value}; {GRAMMAR}")
    index = None
    if at:
        if target is False:
            raise ValueError(f"bad spec {spec!r}: no @target here (the targets are given "
                             "separately); write it as " + spec_label(kind, rate))
        try:
            index = int(where)
        except ValueError:
            index = -1
        if index < 0:
            raise ValueError(f"bad spec {spec!r}: the target {where!r} must be an integer "
                             f">= 0; {GRAMMAR}")
    elif target is True:
        raise ValueError(f"bad spec {spec!r}: no target; write it as "
                         f"{spec_label(kind, rate)}@T (T = 0 input, i = layer i)")
    return AugSpec(kind, float(rate), index)
