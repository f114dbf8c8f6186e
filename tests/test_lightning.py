"""graphaug.lightning: a GraphCL LightningModule trains and matches a plain Adam step."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("lightning")

import graphaug as ga  # noqa: E402
from graphaug.lightning import GraphCLModule  # noqa: E402
from graphaug.nn import GraphCLEncoder  # noqa: E402
from graphaug.synthetic import synthetic_graphs  # noqa: E402


def _model():
    torch.manual_seed(0)
    return ga.GraphCL(GraphCLEncoder(7, hidden=16, num_layers=2), input_aug=None,
                      deep_aug=ga.DeepAug(1, ga.ActivationDropout(0.25, seed=1)))


@pytest.mark.parametrize("lr", [0.01, 0.003])
def test_lightning_step_equals_plain_step(lr):
    """One Lightning step = one plain Adam step at the module's lr (0.003 is not Adam's or
    GraphCL's default, so an lr the module ignored would show); the first Adam step moves
    every weight by about lr, so the two lrs also give different weights."""
    import lightning.pytorch as pl
    from torch_geometric.loader import DataLoader

    graphs = synthetic_graphs(32, seed=0).graphs
    loader = DataLoader(graphs, batch_size=32, shuffle=False)
    module = GraphCLModule(_model(), lr=lr)
    assert module.configure_optimizers().param_groups[0]["lr"] == lr
    pl.Trainer(accelerator="cpu", devices=1, max_steps=1, logger=False,
               enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(module, loader)

    plain = _model()
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    optimizer = torch.optim.Adam(plain.parameters(), lr=lr)
    plain.train()
    plain(next(iter(loader))).backward()
    optimizer.step()
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(module.model.state_dict()[key], value, msg=key)
    # the step did move the weights, by about lr (Adam's first step is lr * sign(grad))
    moved = plain.state_dict()["encoder.convs.0.nn.0.weight"] - before["encoder.convs.0.nn.0.weight"]
    assert float(moved.abs().max()) == pytest.approx(lr, rel=1e-3)


def test_lightning_module_checks_its_model():
    with pytest.raises(ValueError, match="GraphCL"):
        GraphCLModule(torch.nn.Linear(2, 2))
