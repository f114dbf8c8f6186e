"""graphaug: Deep Augmentation (activation-level views) for graph contrastive learning.

>>> import graphaug as ga
>>> aug = ga.ActivationDropout(p=0.25, apply_prob=0.5)
>>> with ga.attach(model, 2, aug):          # target index, or a dotted module name
...     out = model(x, edge_index, batch)
"""
from ._dgl import install_import_hook

install_import_hook()  # `import dgl` / `import GCL` work on current torch (DGL loaded lazily)

from .transforms import ActivationDropout, ActivationPCA, ActivationTransform, \
    select_samples  # noqa: E402
from .hooks import AttachHandle, attach, targets  # noqa: E402
from .contrastive import DeepAug, GraphCL  # noqa: E402

__version__ = "0.1.0"

__all__ = ["ActivationTransform", "ActivationDropout", "ActivationPCA", "select_samples",
           "attach", "targets", "AttachHandle", "DeepAug", "GraphCL", "__version__"]
