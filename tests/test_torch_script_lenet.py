"""A script written for PyTorch (LeNet-5) runs unchanged with ptlite substituted.

The script text below only imports ``torch``. It is executed twice: once with every
``torch`` import resolved to ptlite, once with real torch after copying ptlite's weights
into it; the outputs and the state_dict must agree.
"""
from __future__ import annotations

import builtins

import numpy as np
import torch

import ptlite
from conftest import assert_close

SCRIPT = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import nn as nn2


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 single-channel images."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),
        )
        self.flatten = nn2.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.flatten(x)
        return self.classifier(x)


def build(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = LeNet5()
    model.eval()
    return model


def run(model: nn.Module, batch: torch.Tensor):
    with torch.no_grad():
        logits = model(batch)
        probs = F.softmax(logits, dim=1)
        pred = logits.argmax(dim=1)
    state = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters())
    return logits, probs, pred, state, n_params
'''


def _import_as_ptlite(name, globals=None, locals=None, fromlist=(), level=0):
    """``__import__`` that resolves ``torch`` and ``torch.*`` to ``ptlite`` and ``ptlite.*``."""
    if level == 0 and (name == "torch" or name.startswith("torch.")):
        name = "ptlite" + name[len("torch"):]
    return builtins.__import__(name, globals, locals, fromlist, level)


def exec_script(with_ptlite: bool) -> dict:
    scope: dict = {"__name__": "lenet_script"}
    if with_ptlite:
        scope["__builtins__"] = dict(vars(builtins), __import__=_import_as_ptlite)
    exec(compile(SCRIPT, "lenet_script.py", "exec"), scope)
    return scope


def test_script_binds_ptlite():
    ns = exec_script(with_ptlite=True)
    assert ns["torch"] is ptlite
    assert ns["nn"] is ptlite.nn and ns["nn2"] is ptlite.nn
    assert ns["F"] is ptlite.nn.functional
    model = ns["build"]()
    assert isinstance(model, ptlite.nn.Module)
    reference = exec_script(with_ptlite=False)["build"]()
    assert repr(model) == repr(reference)


def test_lenet_script_runs_unchanged_and_matches_torch(backend):
    ours_ns = exec_script(with_ptlite=True)
    theirs_ns = exec_script(with_ptlite=False)
    assert theirs_ns["torch"] is torch

    model_p = ours_ns["build"]()
    model_t = theirs_ns["build"]()
    # copy ptlite's (ptlite-initialised) weights into the torch model
    state_p = model_p.state_dict()
    model_t.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in
                             state_p.items()})

    batch = np.random.rand(8, 1, 28, 28).astype(np.float32)
    logits_p, probs_p, pred_p, sd_p, n_p = ours_ns["run"](model_p, ptlite.tensor(batch))
    logits_t, probs_t, pred_t, sd_t, n_t = theirs_ns["run"](model_t, torch.from_numpy(batch))

    assert n_p == n_t == 61706
    assert list(sd_p.keys()) == list(sd_t.keys()) == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "classifier.0.weight", "classifier.0.bias", "classifier.2.weight",
        "classifier.2.bias", "classifier.4.weight", "classifier.4.bias"]
    for k in sd_t:
        assert tuple(sd_p[k].shape) == tuple(sd_t[k].shape)
    assert tuple(logits_p.shape) == (8, 10)
    assert_close(logits_p, logits_t, rtol=1e-5, atol=1e-5)
    assert_close(probs_p, probs_t, rtol=1e-5, atol=1e-6)
    assert_close(pred_p, pred_t)


def test_torch_state_dict_loads_into_script_model(backend):
    """The other direction: a state_dict saved by PyTorch (torch tensors) loads directly."""
    model_p = exec_script(with_ptlite=True)["build"]()
    model_t = exec_script(with_ptlite=False)["build"](seed=3)
    result = model_p.load_state_dict(model_t.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    batch = np.random.rand(2, 1, 28, 28).astype(np.float32)
    with torch.no_grad():
        logits_t = model_t(torch.from_numpy(batch))
    assert_close(model_p(ptlite.tensor(batch)), logits_t, rtol=1e-5, atol=1e-5)
