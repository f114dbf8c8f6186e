"""A per-epoch training monitor: the effective rank (RankMe), alignment and uniformity of a
graph encoder's readout on a fixed sample, with a warning when the embedding collapses."""
from __future__ import annotations

import warnings
from typing import Sequence

from torch import nn

__all__ = ["CollapseMonitor", "CollapseWarning", "COLLAPSE_RANKME"]

#: RankMe below which `CollapseMonitor` warns. RankMe is about 1 for a rank-one
#: embedding and 2 for two equally strong directions, so below 1.5 one direction carries
#: most of the spectrum: every graph maps to (nearly) the same line, the complete collapse a
#: contrastive loss is meant to prevent. Of 428 encoders re-trained from the TU sweeps none
#: fell below it, but three IMDB-BINARY encoders (constant node features) sat at 1.57-1.76 and
#: still reached the set's median accuracy: the warning flags a geometric collapse, not
#: necessarily a useless embedding (benchmarks/results/label_free).
COLLAPSE_RANKME = 1.5


class CollapseWarning(UserWarning):
    """The monitored embedding has collapsed (RankMe below the threshold)."""


class CollapseMonitor:
    r"""Label-free health of a graph encoder's readout, computed once per epoch by
    `train` (`monitor=`) or `pretrain`
    (`monitor=sample size`).

    Each call embeds a fixed subset of `sample` graphs (and fixed input-augmented views of
    it) with the encoder in eval mode under `no_grad` (its mode is restored; no weight, no
    BatchNorm statistic and no global RNG state changes) and returns
    `{"rankme", "alignment", "uniformity"}` (see `graphaug.select.graph_criteria`).
    When RankMe falls below `threshold` a `CollapseWarning` names the epoch.

    Args:
        encoder (nn.Module): the graph encoder being trained.
        graphs (sequence): PyG graphs the subset is drawn from.
        sample (int): subset size; small keeps it cheap (one eval forward of `2 * sample`
            graphs per epoch). (default: `128`)
        seed (int): seed of the subset and the views. (default: `0`)
        threshold (float): the collapse threshold on RankMe. (default:
            `COLLAPSE_RANKME` = 1.5)

    Example:
        >>> encoder, history = pretrain(graphs, num_features, MethodConfig(), seed=0,
        ...                             monitor=128)
        >>> history.monitor[-1]["rankme"]  # doctest: +SKIP
        14.2
    """

    def __init__(self, encoder: nn.Module, graphs: Sequence, sample: int = 128, seed: int = 0,
                 threshold: float = COLLAPSE_RANKME, input_aug: str = "random2",
                 aug_ratio: float = 0.1) -> None:
        if sample < 2:
            raise ValueError(f"the monitor needs a sample of at least 2 graphs, got {sample}")
        self.encoder, self.graphs = encoder, list(graphs)
        self.sample, self.seed, self.threshold = int(sample), int(seed), float(threshold)
        self.input_aug, self.aug_ratio = input_aug, aug_ratio

    def __call__(self, epoch: int) -> dict[str, float]:
        from ..select import graph_criteria

        values = graph_criteria(self.encoder, self.graphs, sample=self.sample, seed=self.seed,
                                input_aug=self.input_aug, aug_ratio=self.aug_ratio,
                                criteria=("rankme", "alignment", "uniformity"))
        values.pop("sample")
        if values["rankme"] < self.threshold:
            warnings.warn(f"epoch {epoch}: RankMe {values['rankme']:.2f} < {self.threshold}: "
                          "the readout has collapsed to about one direction (check the "
                          "learning rate, the temperature and the augmentation strength)",
                          CollapseWarning, stacklevel=2)
        return values

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(sample={self.sample}, seed={self.seed}, "
                f"threshold={self.threshold})")
