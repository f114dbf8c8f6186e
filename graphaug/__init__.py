"""graphaug: Deep Augmentation (activation-level views) for graph contrastive learning.

>>> import graphaug as ga
>>> aug = ga.ActivationDropout(p=0.25, apply_prob=0.5)
>>> with ga.attach(model, "encoder.layer.8", aug):
...     out = model(**batch)
"""
from .hooks import AttachHandle, attach, resolve_module
from .transforms import ActivationDropout, ActivationPCA, ActivationTransform, select_samples
from .contrastive import DeepAug, GraphCL  # noqa: E402  (after transforms: no import cycle)

__version__ = "0.1.0"

__all__ = ["ActivationTransform", "ActivationDropout", "ActivationPCA", "select_samples",
           "attach", "AttachHandle", "resolve_module", "DeepAug", "GraphCL", "__version__"]

from .adapters import TargetHandle, TargetLayout, attach_target, find_layout, resolve_target, \
    target_names  # noqa: E402

__all__ += ["attach_target", "target_names", "find_layout", "resolve_target", "TargetHandle",
            "TargetLayout"]
