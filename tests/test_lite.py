"""The path to the phone: trace zoo models, save .ptl, run in the lite runtime.

Outputs must be bit-identical to eager mode with 1 and 2 threads; the C example
(build/run_model, no Python) must reproduce the Python output.
"""
import os
import subprocess

import numpy as np
import pytest

import ptlite
from ptlite.jit.mobile import _load_for_lite_interpreter
from ptlite.vision import models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    ("lenet5", (2, 1, 28, 28)),
    ("mobilenet_v2", (1, 3, 224, 224)),
    ("resnet18", (1, 3, 224, 224)),
    ("resnet50", (1, 3, 224, 224)),
    ("deeplabv3_resnet50", (1, 3, 96, 96)),
]


def _flat(out):
    return list(out.values()) if isinstance(out, dict) else [out]


@pytest.fixture
def threads():
    before = ptlite.get_num_threads()
    yield
    ptlite.set_num_threads(before)


@pytest.mark.parametrize("name,shape", CASES, ids=[c[0] for c in CASES])
def test_zoo_model_lite_is_bit_identical_to_eager(name, shape, tmp_path, threads):
    ptlite.manual_seed(0)
    model = getattr(models, name)().eval()
    x = ptlite.rand(*shape)
    with ptlite.no_grad():
        eager = _flat(model(x))
        traced = ptlite.jit.trace(model, x)
    path = tmp_path / f"{name}.ptl"
    traced._save_for_lite_interpreter(str(path))
    raw = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert os.path.getsize(path) <= raw * 1.01 + 4096
    lite = _load_for_lite_interpreter(str(path))
    for n in (1, 2):
        ptlite.set_num_threads(n)
        got = _flat(lite(x))
        assert len(got) == len(eager)
        for a, b in zip(got, eager):
            assert a.shape == b.shape
            assert np.array_equal(a.numpy(), b.numpy()), f"{name}: lite != eager with {n} threads"


@pytest.mark.parametrize("name,shape,classes", [("lenet5", (1, 1, 28, 28), 10),
                                                ("mobilenet_v2", (1, 3, 224, 224), 1000),
                                                ("resnet18", (1, 3, 224, 224), 1000)])
def test_c_example_matches_python(name, shape, classes, tmp_path):
    """build/run_model (C, planned arena, 2 threads, run twice) gives eager's bits."""
    subprocess.run(["make", "-s", "runtime"], cwd=ROOT, check=True, capture_output=True)
    ptlite.manual_seed(1)
    model = getattr(models, name)().eval()
    x = ptlite.rand(*shape)
    traced = ptlite.jit.trace(model, x)
    path = tmp_path / f"{name}.ptl"
    traced.save(str(path))
    x.numpy().tofile(tmp_path / "in.bin")
    out = subprocess.run([os.path.join(ROOT, "build", "run_model"), str(path),
                          str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), "--threads", "2"],
                         capture_output=True, text=True, check=True)
    dims = ", ".join(str(d) for d in shape)
    assert f"input 0 'x': float32 [{dims}]" in out.stdout
    arena = int(out.stdout.split("activation arena: ")[1].split()[0])
    all_values = sum(int(np.prod(v[2])) * 4 for v in traced._info["values"] if v[0] == 2)
    assert 0 < arena < 0.7 * all_values  # liveness reuses memory
    got = np.fromfile(tmp_path / "out.bin", dtype=np.float32).reshape(1, classes)
    with ptlite.no_grad():
        np.testing.assert_array_equal(got, model(x).numpy())


def test_c_example_reports_bad_files(tmp_path):
    subprocess.run(["make", "-s", "runtime"], cwd=ROOT, check=True, capture_output=True)
    bad = tmp_path / "bad.ptl"
    bad.write_bytes(b"not a model at all" * 10)
    out = subprocess.run([os.path.join(ROOT, "build", "run_model"), str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "not a .ptl file: bad magic" in out.stderr


def test_lite_module_runs_planned_and_outputs_survive_the_next_call(tmp_path):
    """The lite module runs in a planned arena: outputs handed back are copies (the
    next call must not overwrite them), new inputs are read each call, and a wrong
    shape still gets the interpreter's clear error."""
    ptlite.manual_seed(3)
    model = models.lenet5().eval()
    x1, x2 = ptlite.rand(2, 1, 28, 28), ptlite.rand(2, 1, 28, 28)
    path = tmp_path / "lenet.ptl"
    ptlite.jit.trace(model, x1).save(str(path))
    lite = _load_for_lite_interpreter(str(path))
    r1 = lite(x1)
    kept = r1.numpy().copy()
    r2 = lite(x2)
    assert lite._plan is not None
    with ptlite.no_grad():
        np.testing.assert_array_equal(r1.numpy(), kept)
        np.testing.assert_array_equal(r1.numpy(), model(x1).numpy())
        np.testing.assert_array_equal(r2.numpy(), model(x2).numpy())
    assert r1.data_ptr() != r2.data_ptr()
    with pytest.raises(RuntimeError, match=r"expected float32 \[2, 1, 28, 28\], got float32 "
                                           r"\[3, 1, 28, 28\]"):
        lite(ptlite.rand(3, 1, 28, 28))
