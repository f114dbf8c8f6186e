"""Forward hooks that record an activation around graphaug's own hook (shared by the tests)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


def record(module: nn.Module, where: str, store: list, prepend: bool = False) -> RemovableHandle:
    """Append a copy of ``module``'s first input (``where="input"``) or output tensor to
    ``store`` at every call. graphaug's hook runs first among a module's hooks, so one recorder
    registered after it with ``prepend=True`` sees the raw tensor and one without sees what the
    next layer receives."""
    if where == "input":
        return module.register_forward_pre_hook(
            lambda m, a: store.append(a[0].detach().clone()), prepend=prepend)
    return module.register_forward_hook(
        lambda m, a, o: store.append((o if torch.is_tensor(o) else o[0]).detach().clone()),
        prepend=prepend)
