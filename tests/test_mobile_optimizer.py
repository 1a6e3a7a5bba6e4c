"""optimize_for_mobile: API, report, lints and the seed workflow written for PyTorch."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ptlite
from ptlite import nn
from ptlite.utils.mobile_optimizer import (MobileOptimizerType, generate_mobile_module_lints,
                                           optimize_for_mobile)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _small():
    ptlite.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Dropout(0.2), nn.Flatten(), nn.Linear(8 * 6 * 6, 4)).eval()
    return m, ptlite.rand(2, 3, 6, 6)


def test_torch_members_and_ours():
    for name in ("CONV_BN_FUSION", "INSERT_FOLD_PREPACK_OPS", "REMOVE_DROPOUT", "FUSE_ADD_RELU",
                 "HOIST_CONV_PACKED_PARAMS", "VULKAN_AUTOMATIC_GPU_TRANSFER", "FUSE_ACTIVATION",
                 "LINEAR_BN_FUSION", "CONSTANT_FOLDING", "DEAD_CODE_ELIMINATION"):
        assert isinstance(getattr(MobileOptimizerType, name), MobileOptimizerType)


def test_returns_new_module_and_leaves_input_untouched():
    m, x = _small()
    traced = ptlite.jit.trace(m, x)
    before_nodes = list(traced._info["nodes"])
    before_out = traced(x).numpy().copy()
    weight = m[0].weight.numpy().copy()
    opt = optimize_for_mobile(traced)
    assert opt is not traced
    assert list(ptlite._C.graph_info(traced._graph)["nodes"]) == before_nodes
    np.testing.assert_array_equal(traced(x).numpy(), before_out)
    np.testing.assert_array_equal(m[0].weight.numpy(), weight)
    out = opt(x).numpy()
    np.testing.assert_allclose(out, before_out, rtol=1e-5, atol=1e-5 * np.abs(before_out).max())


def test_report_lists_every_pass_and_survives_save(tmp_path):
    m, x = _small()
    opt = optimize_for_mobile(ptlite.jit.trace(m, x))
    names = [r["pass"] for r in opt.optimization_report()]
    assert names == ["remove_dropout", "conv_bn_fold", "linear_bn_fold", "fuse_activation",
                     "fuse_add_relu", "constant_fold", "dead_code", "prepack"]
    path = tmp_path / "opt.ptl"
    opt._save_for_lite_interpreter(str(path))
    lite = ptlite.jit.mobile._load_for_lite_interpreter(str(path))
    assert [r["pass"] for r in lite.optimization_report()] == names
    assert np.array_equal(lite(x).numpy(), opt(x).numpy())
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    shown = subprocess.run([sys.executable, "-m", "ptlite.tools.inspect_model", str(path)],
                           capture_output=True, text=True, env=env, check=True).stdout
    assert "optimize_for_mobile:" in shown and "conv_bn_fold" in shown


def test_blocklist_turns_passes_off():
    m, x = _small()
    traced = ptlite.jit.trace(m, x)
    opt = optimize_for_mobile(traced, optimization_blocklist={
        MobileOptimizerType.CONV_BN_FUSION, MobileOptimizerType.FUSE_ACTIVATION})
    names = [r["pass"] for r in opt.optimization_report()]
    assert "conv_bn_fold" not in names and "fuse_activation" not in names
    assert sum(1 for n in opt._info["nodes"] if n[0] == "batch_norm") == 1
    with pytest.raises(TypeError, match="MobileOptimizerType"):
        optimize_for_mobile(traced, optimization_blocklist={"CONV_BN_FUSION"})


def test_bad_uses_raise_clear_errors():
    m, x = _small()
    with pytest.raises(TypeError, match="ScriptModule is expected"):
        optimize_for_mobile(m)
    traced = ptlite.jit.trace(m, x)
    for backend in ("Vulkan", "Metal"):
        with pytest.raises(ValueError, match=r"backend '%s' is not supported; ptlite supports "
                                             r"'CPU'" % backend):
            optimize_for_mobile(traced, backend=backend)
    with pytest.raises(RuntimeError, match="preserved method 'reset'"):
        optimize_for_mobile(traced, preserved_methods=["reset"])
    m.train()
    traced_train = ptlite.jit.trace(m, x, check_trace=False)
    with pytest.raises(RuntimeError, match=r"traced in eval mode.*model.eval\(\)"):
        optimize_for_mobile(traced_train)


def test_lints_name_what_hurts():
    m, x = _small()
    m.train()
    lints = generate_mobile_module_lints(ptlite.jit.trace(m, x, check_trace=False))
    names = {entry["name"] for entry in lints}
    assert {"Dropout", "BatchNorm"} <= names
    m.eval()
    opt = optimize_for_mobile(ptlite.jit.trace(m, x))
    assert "Dropout" not in {entry["name"] for entry in generate_mobile_module_lints(opt)}


SEED = """
import ptlite as torch

model = torch.vision.models.mobilenet_v2()
model.eval()
example = torch.rand(1, 3, 224, 224)
traced_script_module = torch.jit.trace(model, example)
optimized = torch.utils.mobile_optimizer.optimize_for_mobile(traced_script_module)
optimized._save_for_lite_interpreter(OUT)
lite = torch.jit.mobile._load_for_lite_interpreter(OUT)
with torch.no_grad():
    y = lite(example)
    ref = model(example)
print(tuple(y.shape), float((y - ref).abs().max()))
"""


def test_seed_workflow_runs_with_ptlite_as_torch(tmp_path):
    """The PyTorch Mobile recipe with `import ptlite as torch` (torchvision's models
    live at torch.vision.models in ptlite)."""
    out = tmp_path / "model.ptl"
    script = f"OUT = {str(out)!r}\n" + SEED
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    shape, diff = res.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert shape == "(1, 1000)"
    assert float(diff) < 1e-4
    assert out.exists()
