"""The same zoo model in ptlite and torch (tests/_torch_models.py), shared by the
benchmarks."""
from __future__ import annotations

import os

import numpy as np

import _torch_models as tmodels
from ptlite.vision import models as pmodels


def model_pair(name: str, tmp: str):
    """(ptlite model, torch model, state dict as numpy, path of the .npz of the weights):
    torch's random initialisation, copied into ptlite; both in eval mode."""
    tm = getattr(tmodels, name)().eval()
    state = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    weights = os.path.join(tmp, name + ".npz")
    np.savez(weights, **state)
    pm = getattr(pmodels, name)().eval()
    pm.load_state_dict(state)
    return pm, tm, state, weights
