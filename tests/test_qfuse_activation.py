"""relu6 / hardtanh / clamp / relu after an int8 conv or linear: optimize_for_mobile's
fuse_activation pass turns the separate quint8 clamp into the producer's output clamp
(QCONV2D i[9], QLINEAR i[2]: the clamp maximum, op version 2), with the same bits as the
unfused graph, the eager quantized model, and (for a conv-relu6 model) torch's x86
engine. The kernels' clamp maximum is also checked directly, fast path against
reference, on each path a conv can take (own GEMM, own depthwise, XNNPACK)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ptlite
from ptlite import _C, nn
from ptlite._ops.table import op_id
from ptlite.jit.mobile import _load_for_lite_interpreter
from ptlite.quantization.qconfig_mapping import get_default_qconfig_mapping
from ptlite.quantization.quantize_fx import convert_fx, prepare_fx
from ptlite.utils.mobile_optimizer import optimize_for_mobile

from _qtest import q_from_ints, run_both

warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")

_QCONV2D = op_id("quantized_conv2d")
_QLINEAR = op_id("quantized_linear")


class Net(nn.Module):
    """conv-relu6, depthwise-relu6, linear-relu6 (fused); conv-hardtanh(-0.5, 1) (its
    floor is neither 0 nor the zero point: not fusable), and a relu6 whose input has a
    second user (not fusable)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.r1 = nn.ReLU6()
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.r2 = nn.ReLU6()
        self.c3 = nn.Conv2d(16, 24, 1)
        self.h3 = nn.Hardtanh(-0.5, 1.0)
        self.c4 = nn.Conv2d(24, 24, 1)
        self.r4 = nn.ReLU6()
        self.fc = nn.Linear(24, 10)
        self.r5 = nn.ReLU6()

    def forward(self, x):
        x = self.r2(self.dw(self.r1(self.c1(x))))
        x = self.h3(self.c3(x))
        y = self.c4(x)
        x = self.r4(y) + y
        x = x.mean((2, 3))
        return self.r5(self.fc(x))


def _calib(n=6, seed=0):
    rng = np.random.RandomState(seed)
    return [(rng.randn(2, 3, 20, 20) * 2).astype(np.float32) for _ in range(n)]


def _quantized(model, engine="x86", data=None):
    data = _calib() if data is None else data
    x = ptlite.from_numpy(data[0])
    prepared = prepare_fx(model, get_default_qconfig_mapping(engine), example_inputs=(x,))
    with ptlite.no_grad():
        for b in data:
            prepared(ptlite.from_numpy(b))
    return convert_fx(prepared).eval(), x


def _int(t):
    return t.int_repr().numpy() if t.is_quantized else t.numpy()


@pytest.fixture
def net():
    ptlite.manual_seed(0)
    m = Net().eval()
    with ptlite.no_grad():  # larger biases: some conv outputs go past 6 and below 0
        for c in (m.c1, m.dw, m.c3, m.c4):
            c.bias.copy_(ptlite.from_numpy(np.linspace(-3, 8, c.bias.numel(),
                                                       dtype=np.float32)))
    return m


@pytest.mark.parametrize("engine", ["x86", "qnnpack"])
def test_fused_graph_is_bit_identical_and_has_no_clamp_pass(net, engine, tmp_path):
    q, x = _quantized(net, engine)
    with ptlite.no_grad():
        traced = ptlite.jit.trace(q, x)
    plain_hist = traced.op_histogram()
    assert plain_hist["hardtanh"] == 5  # relu6 x4 and the hardtanh
    opt = optimize_for_mobile(traced)
    hist = opt.op_histogram()
    # three relu6 go; the hardtanh(-0.5, 1) and the relu6 whose input the add reads stay
    assert hist["hardtanh"] == 2
    fused = {op: [] for op in ("quantized_conv2d", "quantized_linear")}
    for op, ints, *_ in opt._info["nodes"]:
        if op in fused:
            fused[op].append(ints)
    conv_max = [i[9] for i in fused["quantized_conv2d"] if len(i) > 9]
    assert len(conv_max) == 2 and all(i[7] == 1 for i in fused["quantized_conv2d"][:2])
    assert len(fused["quantized_linear"][0]) == 3
    # relu6's 6.0 falls inside the first conv's output range: a real ceiling there
    assert min(conv_max) < 255
    path = tmp_path / "m.ptl"
    opt._save_for_lite_interpreter(str(path))
    lite = _load_for_lite_interpreter(str(path))
    for seed in range(3):
        xi = ptlite.from_numpy((np.random.RandomState(seed + 7).randn(2, 3, 20, 20) * 3)
                               .astype(np.float32))
        with ptlite.no_grad():
            eager = q(xi).numpy()
            unfused = traced(xi).numpy()
        np.testing.assert_array_equal(unfused, eager)
        np.testing.assert_array_equal(opt(xi).numpy(), eager)
        np.testing.assert_array_equal(lite(xi).numpy(), eager)


def test_fused_nodes_are_written_as_version_2(net):
    q, x = _quantized(net)
    with ptlite.no_grad():
        traced = ptlite.jit.trace(q, x)
    # a node record starts with u16 op id and u16 version: quantized_conv2d is 134
    qconv_v1, qconv_v2 = b"\x86\x00\x01\x00", b"\x86\x00\x02\x00"
    plain = traced._serialize()
    assert qconv_v1 in plain and qconv_v2 not in plain
    fused = optimize_for_mobile(traced)._serialize()
    assert qconv_v2 in fused


def test_matches_torch_qnnpack_conv_relu6(qnnpack):
    """A conv-relu6 model quantized the same way in both libraries (engine qnnpack, which
    ptlite's int8 arithmetic reproduces exactly): ptlite's fused clamp gives torch's
    integers. torch's quantized relu6 scrambles a channels-last input (its conv output),
    so the oracle applies it to a contiguous copy."""
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU6()).eval()
    with torch.no_grad():
        tm[0].bias.copy_(torch.linspace(-2, 7, 8))
    pm = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6()).eval()
    pm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    data = _calib(4)
    from torch.ao.quantization import get_default_qconfig_mapping as tmapping
    from torch.ao.quantization.quantize_fx import convert_fx as tconvert
    from torch.ao.quantization.quantize_fx import prepare_fx as tprepare
    tp = tprepare(tm, tmapping("qnnpack"), example_inputs=(torch.from_numpy(data[0]),))
    with torch.no_grad():
        for b in data:
            tp(torch.from_numpy(b))
    tq = tconvert(tp)
    q, x = _quantized(pm, "qnnpack", data)
    with ptlite.no_grad():
        opt = optimize_for_mobile(ptlite.jit.trace(q, x))
    assert "hardtanh" not in opt.op_histogram()
    xi = (np.random.RandomState(3).randn(2, 3, 20, 20) * 3).astype(np.float32)
    with torch.no_grad():
        qx = torch.quantize_per_tensor(torch.from_numpy(xi), getattr(tq, "0_input_scale_0"),
                                       getattr(tq, "0_input_zero_point_0"), torch.quint8)
        want = torch.nn.functional.relu6(getattr(tq, "0")(qx).contiguous())
    got = opt(ptlite.from_numpy(xi)).numpy()
    # the output scales can differ by a float32 ulp (each library's float conv feeds the
    # observer): compare the integers
    (ints, floats), = [(n[1], n[2]) for n in opt._info["nodes"] if n[0] == "quantized_conv2d"]
    assert ints[8] == want.q_zero_point()
    np.testing.assert_allclose(floats[0], want.q_scale(), rtol=2e-7)
    got_ints = np.rint(got.astype(np.float64) / np.float32(floats[0])).astype(np.int64) + ints[8]
    np.testing.assert_array_equal(got_ints, want.int_repr().numpy())
    # both clamps are reached: 0 and 6 (to within one step of the output scale)
    assert got_ints.min() == ints[8] and got_ints.max() == ints[9] < 255


# ---- the clamp maximum on each kernel path, fast against reference -------------------
def _weights(rng, shape):
    s = rng.uniform(0.002, 0.02, shape[0]).astype(np.float32)
    qi = rng.integers(-127, 128, shape)
    f = (qi * s.reshape((-1,) + (1,) * (len(shape) - 1))).astype(np.float32)
    return ptlite.quantize_per_channel(ptlite.tensor(f), ptlite.tensor(s),
                                       ptlite.tensor(np.zeros(shape[0], np.int64)), 0,
                                       ptlite.qint8)


@pytest.mark.parametrize("case", ["gemm", "depthwise", "xnnpack_u8", "stem"])
@pytest.mark.parametrize("relu", [False, True])
def test_conv_clamp_maximum_fast_equals_reference(case, relu):
    rng = np.random.default_rng(5)
    c, o, k, groups, hi = {"gemm": (16, 32, 1, 1, 127), "depthwise": (24, 24, 3, 24, 127),
                           "xnnpack_u8": (16, 24, 3, 1, 255), "stem": (3, 16, 3, 1, 127)}[case]
    x = q_from_ints(rng.integers(0, hi + 1, (2, c, 12, 12)), 0.05, 20, channels_last=True)
    w = _weights(rng, (o, c // groups, k, k))
    b = ptlite.tensor(rng.uniform(-2, 2, o).astype(np.float32))
    ozp, qmax = 60, 150

    def run(qmax_attr):
        ints = (1, 1, k // 2, k // 2, 1, 1, groups, int(relu), ozp)
        if qmax_attr is not None:
            ints += (qmax_attr,)
        return _C.call(_QCONV2D, (x, w, b), ints, (0.02,))

    fast, ref = run_both(lambda: run(qmax))
    np.testing.assert_array_equal(fast, ref)
    free, _ = run_both(lambda: run(None))
    floor = ozp if relu else 0
    np.testing.assert_array_equal(fast, np.clip(free, floor, qmax))
    assert (free > qmax).sum() > 0 and fast.max() == qmax


def test_linear_clamp_maximum_fast_equals_reference():
    rng = np.random.default_rng(6)
    x = q_from_ints(rng.integers(0, 128, (9, 40)), 0.05, 10)
    w = _weights(rng, (33, 40))
    b = ptlite.tensor(rng.uniform(-2, 2, 33).astype(np.float32))
    fast, ref = run_both(lambda: _C.call(_QLINEAR, (x, w, b), (1, 70, 140), (0.03,)))
    np.testing.assert_array_equal(fast, ref)
    free, _ = run_both(lambda: _C.call(_QLINEAR, (x, w, b), (1, 70), (0.03,)))
    np.testing.assert_array_equal(fast, np.clip(free, 70, 140))
    assert (free > 140).sum() > 0


@pytest.mark.parametrize("qmax", [30, 256, -1])
def test_clamp_maximum_out_of_range_is_an_error_naming_the_op(qmax):
    rng = np.random.default_rng(7)
    x = q_from_ints(rng.integers(0, 128, (1, 4, 5, 5)), 0.05, 10)
    w = _weights(rng, (4, 4, 1, 1))
    # relu: the floor is the zero point 40, so a maximum of 30 is below it
    with pytest.raises(RuntimeError, match=r"quantized_conv2d: output clamp maximum .* is out "
                                         r"of range: expected \[40, 255\]"):
        _C.call(_QCONV2D, (x, w, None), (1, 1, 0, 0, 1, 1, 1, 1, 40, qmax), (0.02,))
