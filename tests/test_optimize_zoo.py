"""optimize_for_mobile on the zoo: node counts, accuracy against eager, and the lite
runtime reproducing the optimized module bit for bit."""
import os

import numpy as np
import pytest

import ptlite
from ptlite.jit.mobile import _load_for_lite_interpreter
from ptlite.utils.mobile_optimizer import optimize_for_mobile
from ptlite.vision import models

# nodes in the traced graph before and after optimize_for_mobile
EXPECTED_NODES = {
    "mobilenet_v2": (152, 65),  # 52 BN folded, 35 relu6 fused
    "resnet18": (69, 32),  # 20 BN folded, 9 relu into conv, 8 into add
    "resnet50": (175, 73),  # 53 BN folded, 33 relu into conv, 16 into add
    "deeplabv3_resnet50": (198, 82),  # 60 BN folded, 40 relu into conv, 16 into add
}
SHAPES = {"deeplabv3_resnet50": (1, 3, 96, 96)}


def _randomize_bn(model):
    """Non-trivial BatchNorm statistics, so folding has something to get wrong."""
    rng = np.random.RandomState(0)
    for m in model.modules():
        if isinstance(m, ptlite.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(ptlite.from_numpy(rng.uniform(-0.5, 0.5, c).astype(np.float32)))
            m.running_var.copy_(ptlite.from_numpy(rng.uniform(0.5, 2.0, c).astype(np.float32)))
            m.weight.data.copy_(ptlite.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
            m.bias.data.copy_(ptlite.from_numpy(rng.uniform(-0.2, 0.2, c).astype(np.float32)))


def _flat(out):
    return list(out.values()) if isinstance(out, dict) else [out]


@pytest.mark.parametrize("name", sorted(EXPECTED_NODES))
def test_zoo_model_optimized(name, tmp_path):
    ptlite.manual_seed(0)
    model = getattr(models, name)().eval()
    _randomize_bn(model)
    x = ptlite.rand(*SHAPES.get(name, (1, 3, 224, 224)))
    with ptlite.no_grad():
        eager = _flat(model(x))
        traced = ptlite.jit.trace(model, x)
    opt = optimize_for_mobile(traced)
    before, after = len(traced._info["nodes"]), len(opt._info["nodes"])
    assert (before, after) == EXPECTED_NODES[name], (before, after)
    assert "batch_norm" not in opt.op_histogram()
    got = _flat(opt(x))
    for a, b in zip(got, eager):
        scale = float(np.abs(b.numpy()).max())
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4 * scale)
    path = tmp_path / f"{name}.ptl"
    opt._save_for_lite_interpreter(str(path))
    raw = sum(t.numel() * t.element_size() for t in opt.state_dict().values())
    assert os.path.getsize(path) <= raw * 1.01 + 4096
    lite = _load_for_lite_interpreter(str(path))
    for a, b in zip(_flat(lite(x)), got):
        assert np.array_equal(a.numpy(), b.numpy())
