"""graphaug: Deep Augmentation (activation-level views) for graph contrastive learning.

>>> import graphaug as ga
>>> aug = ga.ActivationDropout(p=0.25, apply_prob=0.5)
>>> with ga.attach(model, 2, aug):          # target index, or a dotted module name
...     out = model(x, edge_index, batch)
"""
from ._dgl import install_import_hook

install_import_hook()  # `import dgl` / `import GCL` work on current torch (DGL loaded lazily)

#: public name -> the module defining it, imported on first use (PEP 562): import graphaug
#: loads no torch, so the graphaug command answers --help at once
_EXPORTS = {"ActivationTransform": "transforms", "ActivationDropout": "transforms",
            "ActivationPCA": "transforms", "select_samples": "transforms",
            "attach": "hooks", "targets": "hooks", "AttachHandle": "hooks",
            "DeepAug": "contrastive", "GraphCL": "contrastive"}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'graphaug' has no attribute {name!r}")


def __dir__() -> list:
    return sorted({*globals(), *_EXPORTS})


__version__ = "0.2.0"

__all__ = ["ActivationTransform", "ActivationDropout", "ActivationPCA", "select_samples",
           "attach", "targets", "AttachHandle", "DeepAug", "GraphCL", "__version__"]
