"""Quantized conv2d / conv1d / conv_transpose2d / linear (kernels/qconv.c) against
torch 2.13 with the qnnpack engine. Every sweep asserts the exact-match rate of the
quint8 integers (printed with -s) and max |diff| <= 1; fast and reference paths
must agree bit for bit."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.functional as qF

import ptlite
from ptlite import _C
from ptlite._ops import qconv as Q

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

MIN_EXACT = 0.999


pytestmark = pytest.mark.usefixtures("qnnpack")  # torch's engine: conftest.py


def f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def fscale(v) -> float:
    """A float32-representable scale (ptlite keeps scales as float32, like torch's math)."""
    return float(np.float32(v))


def q_act(x: np.ndarray, scale: float, zp: int):
    t = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, torch.quint8)
    p = ptlite.quantize_per_tensor(ptlite.tensor(x), scale, zp, ptlite.quint8)
    return t, p


def q_weight(rng, w: np.ndarray, per_channel: bool, axis: int = 0, zp_range: int = 0):
    """qint8 weights: per tensor, or per channel along `axis` (qnnpack observers are
    symmetric: zero points 0 unless zp_range asks for some)."""
    if not per_channel:
        s = fscale(np.abs(w).max() / 127 + 1e-3)
        zp = int(rng.integers(-zp_range, zp_range + 1))
        return (torch.quantize_per_tensor(torch.from_numpy(w), s, zp, torch.qint8),
                ptlite.quantize_per_tensor(ptlite.tensor(w), s, zp, ptlite.qint8))
    n = w.shape[axis]
    red = tuple(d for d in range(w.ndim) if d != axis)
    s = (np.abs(w).max(axis=red) / 127 + 1e-3).astype(np.float32)
    zps = rng.integers(-zp_range, zp_range + 1, n).astype(np.int64)
    tw = torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(s).double(),
                                    torch.from_numpy(zps), axis, torch.qint8)
    pw = ptlite.quantize_per_channel(ptlite.tensor(w), ptlite.tensor(s), ptlite.tensor(zps),
                                     axis, ptlite.qint8)
    return tw, pw


def ints(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.int_repr().numpy().astype(np.int64)
    return t.int_repr().numpy().astype(np.int64)


class Tally:
    def __init__(self, name: str) -> None:
        self.name, self.total, self.exact, self.maxdiff = name, 0, 0, 0

    def add(self, ours, theirs) -> None:
        a, b = ints(ours), ints(theirs)
        assert a.shape == b.shape, f"{self.name}: shape {a.shape} != {b.shape}"
        d = np.abs(a - b)
        self.total += d.size
        self.exact += int((d == 0).sum())
        self.maxdiff = max(self.maxdiff, int(d.max()) if d.size else 0)

    def check(self) -> None:
        assert self.total > 0
        rate = self.exact / self.total
        print(f"\n{self.name}: {self.exact}/{self.total} exact ({rate:.6f}), "
              f"max |diff| {self.maxdiff}")
        assert self.maxdiff <= 1
        assert rate >= MIN_EXACT


def conv_cases(seed: int, n: int, big: bool = False):
    """Random conv configurations; `big` ones are past the fast path's minimum size
    (tiny convs run the reference kernel on either backend)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        c = int(rng.choice([1, 2, 3, 4, 8, 16]))
        kind = rng.integers(0, 3)
        if kind == 0 or c == 1:
            g = 1
        elif kind == 1:
            g = c  # depthwise
        else:
            g = int(rng.choice([d for d in (1, 2, 4) if c % d == 0]))
        o = g * int(rng.integers(4 if big else 1, 9 if big else 5))
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        p = (int(rng.integers(0, 3)), int(rng.integers(0, 2)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        lo, hi = (10, 20) if big else (3, 10)
        h, w = int(rng.integers(lo, hi)), int(rng.integers(lo, hi))
        if (k[0] - 1) * d[0] + 1 > h + 2 * p[0] or (k[1] - 1) * d[1] + 1 > w + 2 * p[1]:
            continue
        out.append(dict(n=int(rng.integers(1, 3)), c=c, o=o, g=g, k=k, s=s, p=p, d=d, h=h, w=w,
                        per_channel=bool(rng.integers(0, 2)), bias=bool(rng.integers(0, 3)),
                        relu=bool(rng.integers(0, 2)), cl=bool(rng.integers(0, 2)),
                        xzp=int(rng.choice([0, 1, 128, 254, 255, int(rng.integers(0, 256))])),
                        ozp=int(rng.integers(0, 256)), seed=int(rng.integers(1 << 30))))
    return out


def run_conv_case(cfg, tally: Tally, wzp_range: int = 0):
    rng = np.random.default_rng(cfg["seed"])
    x = f32(rng, cfg["n"], cfg["c"], cfg["h"], cfg["w"], scale=2.0)
    tx, px = q_act(x, fscale(rng.uniform(0.01, 0.1)), cfg["xzp"])
    if cfg["cl"]:
        tx = tx.contiguous(memory_format=torch.channels_last)
        px = ptlite.quantize_per_tensor(
            ptlite.tensor(x).contiguous(memory_format=ptlite.channels_last),
            tx.q_scale(), tx.q_zero_point(), ptlite.quint8)
    w = f32(rng, cfg["o"], cfg["c"] // cfg["g"], *cfg["k"])
    tw, pw = q_weight(rng, w, cfg["per_channel"], 0, wzp_range)
    b = f32(rng, cfg["o"]) if cfg["bias"] else None
    tb = torch.from_numpy(b) if b is not None else None
    pb = ptlite.tensor(b) if b is not None else None
    osc, ozp = fscale(rng.uniform(0.05, 0.5)), cfg["ozp"]
    packed = torch.ops.quantized.conv2d_prepack(tw, tb, list(cfg["s"]), list(cfg["p"]),
                                                list(cfg["d"]), cfg["g"])
    fn = torch.ops.quantized.conv2d_relu if cfg["relu"] else torch.ops.quantized.conv2d
    ty = fn(tx, packed, osc, ozp)
    py = Q._conv2d(px, pw, pb, cfg["s"], cfg["p"], cfg["d"], cfg["g"], cfg["relu"], osc, ozp)
    assert py.dtype == ptlite.quint8
    assert np.float32(py.q_scale()) == np.float32(osc) and py.q_zero_point() == ozp
    assert py.is_contiguous(memory_format=ptlite.channels_last)
    tally.add(py, ty)
    return py


def test_conv2d_sweep(backend):
    tally = Tally(f"conv2d [{backend}]")
    for cfg in conv_cases(1, 120):
        run_conv_case(cfg, tally)
    tally.check()


def test_conv2d_weight_zero_points(backend):
    # torch's qnnpack takes asymmetric qint8 weights too (per tensor and per channel)
    tally = Tally(f"conv2d weight zp != 0 [{backend}]")
    for cfg in conv_cases(2, 40):
        run_conv_case(cfg, tally, wzp_range=20)
    tally.check()


def test_conv2d_fast_matches_reference():
    cases = conv_cases(3, 80, big=True)
    got = {}
    for name, code in (("xnnpack", 0), ("reference", 1)):
        prev = _C.get_backend()
        _C.set_backend(code)
        try:
            tally = Tally(f"conv2d (larger) [{name}]")
            got[name] = [ints(run_conv_case(c, tally)) for c in cases]
            got[name] += [ints(run_conv_case(c, tally, wzp_range=10)) for c in cases[:20]]
            tally.check()
        finally:
            _C.set_backend(prev)
    for a, b in zip(got["xnnpack"], got["reference"]):
        np.testing.assert_array_equal(a, b)


def test_conv2d_modules(backend):
    """nnq.Conv2d and nniq.ConvReLU2d (what converted models run)."""
    rng = np.random.default_rng(5)
    tally = Tally(f"conv2d modules [{backend}]")
    for relu in (False, True):
        for groups, cin, cout in ((1, 8, 16), (8, 8, 8), (2, 4, 6)):
            mod = (nniq.ConvReLU2d if relu else nnq.Conv2d)(cin, cout, 3, stride=1, padding=1,
                                                            groups=groups)
            w = f32(rng, cout, cin // groups, 3, 3, scale=0.3)
            tw, pw = q_weight(rng, w, per_channel=True)
            b = f32(rng, cout)
            mod.set_weight_bias(tw, torch.from_numpy(b))
            mod.scale, mod.zero_point = fscale(0.07), 64
            x = f32(rng, 2, cin, 7, 9)
            tx, px = q_act(x, fscale(0.03), 130)
            ty = mod(tx)
            py = Q._conv2d(px, pw, ptlite.tensor(b), (1, 1), (1, 1), (1, 1), groups, relu,
                           mod.scale, mod.zero_point)
            tally.add(py, ty)
    tally.check()


def test_conv2d_functional_and_conv1d(backend):
    rng = np.random.default_rng(6)
    tally = Tally(f"functional conv2d/conv1d [{backend}]")
    x = f32(rng, 2, 4, 9, 11)
    tx, px = q_act(x, fscale(0.04), 7)
    w = f32(rng, 6, 2, 3, 3)
    tw, pw = q_weight(rng, w, per_channel=False)
    b = f32(rng, 6)
    ty = qF.conv2d(tx, tw, torch.from_numpy(b), stride=2, padding=1, dilation=1, groups=2,
                   scale=0.2, zero_point=90)
    py = Q.conv2d(px, pw, ptlite.tensor(b), stride=2, padding=1, dilation=1, groups=2,
                  scale=0.2, zero_point=90)
    tally.add(py, ty)
    x1 = f32(rng, 3, 4, 17)
    tx1, px1 = q_act(x1, fscale(0.05), 100)
    w1 = f32(rng, 5, 4, 3)
    tw1, pw1 = q_weight(rng, w1, per_channel=True)
    ty1 = qF.conv1d(tx1, tw1, None, stride=2, padding=2, dilation=2, scale=0.1, zero_point=3)
    py1 = Q.conv1d(px1, pw1, None, stride=2, padding=2, dilation=2, scale=0.1, zero_point=3)
    assert py1.shape == tuple(ty1.shape)
    tally.add(py1, ty1)
    tally.check()


def test_conv2d_noncontiguous_and_batch(backend):
    """Sliced / transposed inputs (any strides) and larger batches."""
    rng = np.random.default_rng(7)
    tally = Tally(f"conv2d strided inputs [{backend}]")
    x = f32(rng, 3, 10, 12, 12)
    tx, px = q_act(x, fscale(0.05), 128)
    w = f32(rng, 8, 5, 3, 3)
    tw, pw = q_weight(rng, w, per_channel=False)
    # channel slice of NCHW and of channels-last (XNNPACK reads the wider pixel stride),
    # spatial stride-2 view, H/W transposed view
    tcl = tx.contiguous(memory_format=torch.channels_last)
    pcl = px.contiguous(memory_format=ptlite.channels_last)
    views = [
        (tx[:, 2:7], px[:, 2:7]),
        (tcl[:, 3:8], pcl[:, 3:8]),
        (tx[:, 1::2, ::2, 1::2], px[:, 1::2, ::2, 1::2]),
        (tx[:, :5].transpose(2, 3), px[:, :5].transpose(2, 3)),
    ]
    for tv, pv in views:
        ty = qF.conv2d(tv, tw, None, padding=1, scale=0.3, zero_point=120)
        py = Q.conv2d(pv, pw, None, padding=1, scale=0.3, zero_point=120)
        tally.add(py, ty)
    tally.check()


def test_conv2d_empty_batch(backend):
    rng = np.random.default_rng(8)
    x = np.zeros((0, 4, 5, 5), np.float32)
    _, px = q_act(x, 0.1, 3)
    _, pw = q_weight(rng, f32(rng, 2, 4, 3, 3), per_channel=False)
    py = Q.conv2d(px, pw, None, scale=0.5, zero_point=7)
    assert py.shape == (0, 2, 3, 3) and py.q_zero_point() == 7


# ---- transposed ------------------------------------------------------------------------

def convt_cases(seed: int, n: int, big: bool = False):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        g = int(rng.choice([1, 1, 2]))
        c = g * int(rng.integers(1, 5))
        o = g * int(rng.integers(4 if big else 1, 8 if big else 4))
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        p = (int(rng.integers(0, 2)), int(rng.integers(0, 2)))
        # torch's quantized deconv also takes output_padding >= stride and dilation
        op = tuple(int(rng.integers(0, max(s[i], d[i]) + 1)) for i in range(2))
        lo, hi = (6, 12) if big else (2, 7)
        h, w = int(rng.integers(lo, hi)), int(rng.integers(lo, hi))
        oh = (h - 1) * s[0] - 2 * p[0] + d[0] * (k[0] - 1) + 1 + op[0]
        ow = (w - 1) * s[1] - 2 * p[1] + d[1] * (k[1] - 1) + 1 + op[1]
        if oh <= 0 or ow <= 0:
            continue
        out.append(dict(n=int(rng.integers(1, 3)), c=c, o=o, g=g, k=k, s=s, p=p, d=d, op=op, h=h,
                        w=w, per_channel=bool(g == 1 and rng.integers(0, 2)),
                        bias=bool(rng.integers(0, 3)), xzp=int(rng.integers(0, 256)),
                        ozp=int(rng.integers(0, 256)), seed=int(rng.integers(1 << 30))))
    return out


def run_convt_case(cfg, tally: Tally):
    rng = np.random.default_rng(cfg["seed"])
    x = f32(rng, cfg["n"], cfg["c"], cfg["h"], cfg["w"], scale=2.0)
    tx, px = q_act(x, fscale(rng.uniform(0.01, 0.1)), cfg["xzp"])
    w = f32(rng, cfg["c"], cfg["o"] // cfg["g"], *cfg["k"])
    tw, pw = q_weight(rng, w, cfg["per_channel"], axis=1)
    b = f32(rng, cfg["o"]) if cfg["bias"] else None
    osc, ozp = fscale(rng.uniform(0.05, 0.5)), cfg["ozp"]
    packed = torch.ops.quantized.conv_transpose2d_prepack(
        tw, torch.from_numpy(b) if b is not None else None, list(cfg["s"]), list(cfg["p"]),
        list(cfg["op"]), list(cfg["d"]), cfg["g"])
    ty = torch.ops.quantized.conv_transpose2d(tx, packed, osc, ozp)
    py = Q.conv_transpose2d(px, pw, ptlite.tensor(b) if b is not None else None, cfg["s"],
                            cfg["p"], cfg["op"], cfg["g"], cfg["d"], osc, ozp)
    assert np.float32(py.q_scale()) == np.float32(osc) and py.q_zero_point() == ozp
    tally.add(py, ty)
    return py


def test_conv_transpose2d_sweep(backend):
    tally = Tally(f"conv_transpose2d [{backend}]")
    for cfg in convt_cases(11, 80):
        run_convt_case(cfg, tally)
    tally.check()


def test_conv_transpose2d_fast_matches_reference():
    cases = convt_cases(12, 50, big=True)
    got = {}
    for name, code in (("xnnpack", 0), ("reference", 1)):
        prev = _C.get_backend()
        _C.set_backend(code)
        try:
            tally = Tally(f"conv_transpose2d (larger) [{name}]")
            got[name] = [ints(run_convt_case(c, tally)) for c in cases]
            tally.check()
        finally:
            _C.set_backend(prev)
    for a, b in zip(got["xnnpack"], got["reference"]):
        np.testing.assert_array_equal(a, b)


# ---- linear ----------------------------------------------------------------------------

def linear_cases(seed: int, n: int, big: bool = False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lead = [(int(rng.integers(1, 6)),), (int(rng.integers(1, 4)), int(rng.integers(1, 5))),
                (2, 1, 3)][int(rng.integers(0, 3))]
        if big:
            lead = lead + (4,)
        out.append(dict(lead=lead, k=int(rng.integers(8 if big else 1, 70)),
                        n=int(rng.integers(8 if big else 1, 40)),
                        per_channel=bool(rng.integers(0, 2)), bias=bool(rng.integers(0, 3)),
                        relu=bool(rng.integers(0, 2)),
                        xzp=int(rng.choice([0, 255, int(rng.integers(0, 256))])),
                        ozp=int(rng.integers(0, 256)), seed=int(rng.integers(1 << 30))))
    return out


def run_linear_case(cfg, tally: Tally, wzp_range: int = 0, strided: bool = False):
    rng = np.random.default_rng(cfg["seed"])
    x = f32(rng, *cfg["lead"], cfg["k"] * (2 if strided else 1), scale=2.0)
    tx, px = q_act(x, fscale(rng.uniform(0.01, 0.1)), cfg["xzp"])
    if strided:
        tx, px = tx[..., ::2], px[..., ::2]
    w = f32(rng, cfg["n"], cfg["k"], scale=0.2)
    tw, pw = q_weight(rng, w, cfg["per_channel"], 0, wzp_range)
    b = f32(rng, cfg["n"]) if cfg["bias"] else None
    osc, ozp = fscale(rng.uniform(0.05, 0.5)), cfg["ozp"]
    packed = torch.ops.quantized.linear_prepack(tw, torch.from_numpy(b) if b is not None else None)
    fn = torch.ops.quantized.linear_relu if cfg["relu"] else torch.ops.quantized.linear
    ty = fn(tx.contiguous(), packed, osc, ozp)
    py = Q._linear(px, pw, ptlite.tensor(b) if b is not None else None, cfg["relu"], osc, ozp)
    assert np.float32(py.q_scale()) == np.float32(osc) and py.q_zero_point() == ozp
    tally.add(py, ty)
    return py


def test_linear_sweep(backend):
    tally = Tally(f"linear [{backend}]")
    cases = linear_cases(21, 120)
    for cfg in cases:
        run_linear_case(cfg, tally)
    for cfg in cases[:30]:
        run_linear_case(cfg, tally, wzp_range=15)
        run_linear_case(cfg, tally, strided=True)
    tally.check()


def test_linear_fast_matches_reference():
    cases = linear_cases(22, 80, big=True)
    got = {}
    for name, code in (("xnnpack", 0), ("reference", 1)):
        prev = _C.get_backend()
        _C.set_backend(code)
        try:
            tally = Tally(f"linear (larger) [{name}]")
            got[name] = [ints(run_linear_case(c, tally)) for c in cases]
            got[name] += [ints(run_linear_case(c, tally, strided=True)) for c in cases[:20]]
            tally.check()
        finally:
            _C.set_backend(prev)
    for a, b in zip(got["xnnpack"], got["reference"]):
        np.testing.assert_array_equal(a, b)


def test_linear_modules_and_functional(backend):
    rng = np.random.default_rng(23)
    tally = Tally(f"linear modules [{backend}]")
    for relu in (False, True):
        mod = (nniq.LinearReLU if relu else nnq.Linear)(20, 12)
        w = f32(rng, 12, 20, scale=0.3)
        tw, pw = q_weight(rng, w, per_channel=not relu)
        b = f32(rng, 12)
        mod.set_weight_bias(tw, torch.from_numpy(b))
        mod.scale, mod.zero_point = fscale(0.11), 30
        x = f32(rng, 4, 3, 20)
        tx, px = q_act(x, fscale(0.02), 140)
        tally.add(Q._linear(px, pw, ptlite.tensor(b), relu, mod.scale, mod.zero_point), mod(tx))
    # functional: output qparams default to the input's
    x = f32(rng, 5, 20)
    tx, px = q_act(x, fscale(0.05), 10)
    w = f32(rng, 7, 20, scale=0.1)
    tw, pw = q_weight(rng, w, per_channel=False)
    ty, py = qF.linear(tx, tw), Q.linear(px, pw)
    assert np.float32(py.q_scale()) == np.float32(ty.q_scale())
    assert py.q_zero_point() == ty.q_zero_point()
    tally.add(py, ty)
    tally.check()


def test_output_qparams_reset_on_reuse():
    """A reused output gets the new call's scale / zero point."""
    rng = np.random.default_rng(24)
    _, px = q_act(f32(rng, 3, 8), 0.05, 10)
    _, pw = q_weight(rng, f32(rng, 4, 8), per_channel=False)
    out = Q._linear(px, pw, None, False, 0.5, 3)
    _C.call(Q._QLINEAR, (px, pw, None), (0, 9), (0.25,), out)
    assert np.float32(out.q_scale()) == np.float32(0.25) and out.q_zero_point() == 9


@pytest.mark.parametrize("per_channel", [False, True])
def test_conv2d_into_nchw_output(backend, per_channel):
    """A caller-provided contiguous NCHW output (not the channels-last layout infer asks
    for) gets the same values and the call's qparams."""
    rng = np.random.default_rng(27)
    x = f32(rng, 2, 6, 8, 8)
    tx, px = q_act(x, fscale(0.04), 20)
    tw, pw = q_weight(rng, f32(rng, 5, 6, 3, 3), per_channel)
    ref = Q._conv2d(px, pw, None, (1, 1), (1, 1), (1, 1), 1, True, 0.25, 40)
    out = ptlite.quantize_per_tensor(ptlite.tensor(np.zeros((2, 5, 8, 8), np.float32)), 1.0, 0,
                                     ptlite.quint8)
    assert out.is_contiguous()
    _C.call(Q._QCONV2D, (px, pw, None), (1, 1, 1, 1, 1, 1, 1, 1, 40), (0.25,), out)
    np.testing.assert_array_equal(ints(out), ints(ref))
    assert out.q_zero_point() == 40 and np.float32(out.q_scale()) == np.float32(0.25)
    ty = torch.ops.quantized.conv2d_relu(
        tx, torch.ops.quantized.conv2d_prepack(tw, None, [1, 1], [1, 1], [1, 1], 1), 0.25, 40)
    np.testing.assert_array_equal(ints(out), ints(ty))


def test_deterministic_across_threads():
    rng = np.random.default_rng(28)
    _, px = q_act(f32(rng, 2, 16, 12, 12), fscale(0.03), 100)
    _, pw = q_weight(rng, f32(rng, 32, 16, 3, 3), True)
    prev = ptlite.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            ptlite.set_num_threads(n)
            outs.append(ints(Q._conv2d(px, pw, None, (1, 1), (1, 1), (1, 1), 1, False, 0.2, 9)))
    finally:
        ptlite.set_num_threads(prev)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_weight_cache_follows_input_scale(backend):
    """One weight used with different input / output qparams must not reuse a stale
    operator (the requantization scale and bias depend on them)."""
    rng = np.random.default_rng(25)
    w = f32(rng, 8, 4, 3, 3)
    tw, pw = q_weight(rng, w, per_channel=False)
    b = f32(rng, 8)
    tally = Tally(f"cache [{backend}]")
    x = f32(rng, 1, 4, 6, 6)
    for xs, xzp, osc, ozp in ((0.05, 10, 0.2, 5), (0.02, 200, 0.2, 5), (0.05, 10, 0.1, 250),
                              (0.05, 10, 0.2, 5)):
        tx, px = q_act(x, fscale(xs), xzp)
        ty = qF.conv2d(tx, tw, torch.from_numpy(b), padding=1, scale=fscale(osc), zero_point=ozp)
        py = Q.conv2d(px, pw, ptlite.tensor(b), padding=1, scale=fscale(osc), zero_point=ozp)
        tally.add(py, ty)
    tally.check()


def test_per_channel_cache_follows_changes(backend):
    """The derived per-channel arrays (requantization scales, quantized bias) cached on
    the weight: the same weight and bias tensors called again after the bias is changed
    in place, with another input scale / zero point, another output scale, relu, the
    weight rewritten in place, and a new bias tensor (maybe at the freed one's address)
    must all match torch, for conv2d and linear."""
    rng = np.random.default_rng(31)
    w = f32(rng, 24, 16, 3, 3, scale=0.2)
    tw, pw = q_weight(rng, w, per_channel=True)
    b = f32(rng, 24)
    pb = ptlite.tensor(b.copy())
    tb = torch.from_numpy(b.copy())
    wl = f32(rng, 20, 16, scale=0.2)
    twl, pwl = q_weight(rng, wl, per_channel=True)
    bl = f32(rng, 20)
    pbl, tbl = ptlite.tensor(bl.copy()), torch.from_numpy(bl.copy())
    x = f32(rng, 1, 16, 9, 9)
    tally = Tally(f"per-channel cache [{backend}]")
    prev = None
    steps = ("start", "bias", "xscale", "xzp", "oscale", "relu", "again", "weight", "newbias",
             "numpy")
    for step in steps:
        xs, xzp, osc, relu = 0.03, 20, 0.15, False
        if step == "bias":  # in place: same tensor, same address
            nb = f32(rng, 24) * 3
            pb.copy_(ptlite.tensor(nb))
            tb.copy_(torch.from_numpy(nb))
            nbl = f32(rng, 20) * 3
            pbl.copy_(ptlite.tensor(nbl))
            tbl.copy_(torch.from_numpy(nbl))
        xs = 0.05 if step == "xscale" else xs
        xzp = 90 if step == "xzp" else xzp
        osc = 0.4 if step == "oscale" else osc
        relu = step == "relu"
        if step == "weight":
            w2 = f32(rng, 24, 16, 3, 3, scale=0.2)
            tw, pw2 = q_weight(rng, w2, per_channel=True)
            pw.copy_(pw2)
        if step == "newbias":
            del pb
            nb = f32(rng, 24)
            pb, tb = ptlite.tensor(nb.copy()), torch.from_numpy(nb.copy())
            shared = f32(rng, 24)
            pb = ptlite.from_numpy(shared)  # borrows the numpy memory
            tb = torch.from_numpy(shared.copy())
        if step == "numpy":  # written behind ptlite's back: no version bump
            shared[:] = f32(rng, 24) * 2
            tb = torch.from_numpy(shared.copy())
        tx, px = q_act(x, fscale(xs), xzp)
        fn = qF.conv2d if not relu else None
        if relu:
            packed = torch.ops.quantized.conv2d_prepack(tw, tb, [1, 1], [1, 1], [1, 1], 1)
            ty = torch.ops.quantized.conv2d_relu(tx, packed, fscale(osc), 7)
        else:
            ty = fn(tx, tw, tb, padding=1, scale=fscale(osc), zero_point=7)
        py = Q._conv2d(px, pw, pb, (1, 1), (1, 1), (1, 1), 1, relu, fscale(osc), 7)
        tally.add(py, ty)
        txl, pxl = q_act(x[0, :, 0, :].T.copy(), fscale(xs), xzp)
        tyl = torch.ops.quantized.linear(
            txl, torch.ops.quantized.linear_prepack(twl, tbl), fscale(osc), 9)
        tally.add(Q._linear(pxl, pwl, pbl, False, fscale(osc), 9), tyl)
        cur = ints(py)
        if prev is not None and step != "again":
            assert not np.array_equal(cur, prev), step  # each change moved the output
        prev = cur
    tally.check()


def test_extreme_requantization_scales(backend):
    """Tiny output scales: requantization scales past XNNPACK's limit (reference path)
    and past int32 after scaling, where QNNPACK's float->int conversion overflows to
    the output floor instead of saturating at 255 (reproduced on purpose)."""
    rng = np.random.default_rng(26)
    tally = Tally(f"extreme scales [{backend}]")
    for osc in (1e-3, 1e-4, 1e-6, 1e-9, 1e3):
        for relu in (False, True):
            x = f32(rng, 1, 4, 6, 6)
            w = f32(rng, 3, 4, 3, 3)
            b = f32(rng, 3, scale=0.01)
            tx, px = q_act(x, 0.5, 128)
            tw, pw = (torch.quantize_per_tensor(torch.from_numpy(w), 0.5, 0, torch.qint8),
                      ptlite.quantize_per_tensor(ptlite.tensor(w), 0.5, 0, ptlite.qint8))
            packed = torch.ops.quantized.conv2d_prepack(tw, torch.from_numpy(b), [1, 1], [1, 1],
                                                        [1, 1], 1)
            fn = torch.ops.quantized.conv2d_relu if relu else torch.ops.quantized.conv2d
            ty = fn(tx, packed, fscale(osc), 100)
            py = Q._conv2d(px, pw, ptlite.tensor(b), (1, 1), (1, 1), (1, 1), 1, relu, fscale(osc),
                           100)
            tally.add(py, ty)
    tally.check()
    assert tally.exact == tally.total


# ---- bad input ---------------------------------------------------------------------------

def _qx(shape=(1, 4, 5, 5), zp=3):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return ptlite.quantize_per_tensor(ptlite.tensor(x), 0.1, zp, ptlite.quint8)


def _qw(shape=(2, 4, 3, 3)):
    w = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    return ptlite.quantize_per_tensor(ptlite.tensor(w), 0.05, 0, ptlite.qint8)


def test_bad_inputs():
    x, w = _qx(), _qw()
    fx = ptlite.tensor(np.zeros((1, 4, 5, 5), np.float32))
    # private entry points (what modules call): RuntimeError naming the op and dtype
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*QUInt8.*float32"):
        Q._conv2d(fx, w, None, (1, 1), (0, 0), (1, 1), 1, False, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*QInt8.*quint8"):
        Q._conv2d(x, x, None, (1, 1), (0, 0), (1, 1), 1, False, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_linear.*QUInt8.*float32"):
        Q._linear(ptlite.tensor(np.zeros((2, 4), np.float32)),
                  _qw((3, 4)), None, False, 1.0, 0)
    # functional: torch's NotImplementedError / ValueError
    with pytest.raises(NotImplementedError, match=r"quantized::linear.*quint8"):
        Q.linear(ptlite.tensor(np.zeros((2, 4), np.float32)), _qw((3, 4)), scale=0.1,
                 zero_point=0)
    with pytest.raises(NotImplementedError, match=r"quantized::linear_prepack.*qint8"):
        Q.linear(_qx((2, 4)), ptlite.tensor(np.zeros((3, 4), np.float32)))
    with pytest.raises(RuntimeError, match=r"quantized_linear.*QInt8.*quint8"):
        Q.linear(_qx((2, 4)), _qx((3, 4)))
    with pytest.raises(NotImplementedError, match="quint8"):
        Q.conv2d(fx, w, None)
    with pytest.raises(NotImplementedError, match="qint8"):
        Q.conv2d(x, x, None)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Q.conv2d(_qx((4, 5, 5)), w, None)
    with pytest.raises(NotImplementedError, match="zero-padding"):
        Q.conv2d(x, w, None, padding_mode="reflect")
    # shapes
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*\[2, 3, 3, 3\].*4 channels"):
        Q._conv2d(x, _qw((2, 3, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1, False, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*4 dimensions, got 3"):
        Q._conv2d(_qx((4, 5, 5)), w, None, (1, 1), (0, 0), (1, 1), 1, False, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*Kernel size can't be greater"):
        Q._conv2d(_qx((1, 4, 2, 2)), w, None, (1, 1), (0, 0), (1, 1), 1, False, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*bias.*2 elements.*\[3\]"):
        Q._conv2d(x, w, ptlite.tensor(np.zeros(3, np.float32)), (1, 1), (0, 0), (1, 1), 1,
                  False, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*zero_point 300"):
        Q._conv2d(x, w, None, (1, 1), (0, 0), (1, 1), 1, False, 1.0, 300)
    with pytest.raises(RuntimeError, match="requantization scale"):
        Q._conv2d(x, w, None, (1, 1), (0, 0), (1, 1), 1, False, -1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_linear.*rank should be >= 2"):
        Q._linear(_qx((4,)), _qw((3, 4)), None, False, 1.0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_linear.*got 5 but expected 4"):
        Q._linear(_qx((2, 5)), _qw((3, 4)), None, False, 1.0, 0)
    with pytest.raises(RuntimeError,
                       match=r"quantized_conv_transpose2d.*\[4, 2, 3, 3\].*6 channels"):
        Q.conv_transpose2d(_qx((1, 6, 5, 5)), _qw((4, 2, 3, 3)), None)
    with pytest.raises(RuntimeError, match=r"quantized_conv2d.*per-tensor quantized input"):
        xpc = ptlite.quantize_per_channel(ptlite.tensor(np.ones((1, 4, 5, 5), np.float32)),
                                          ptlite.tensor(np.full(4, 0.1, np.float32)),
                                          ptlite.tensor(np.zeros(4, np.int64)), 1, ptlite.quint8)
        Q._conv2d(xpc, w, None, (1, 1), (0, 0), (1, 1), 1, False, 1.0, 0)


def test_torch_agrees_on_bad_inputs():
    """The cases above fail in torch as well (same exception family)."""
    tx = torch.quantize_per_tensor(torch.randn(1, 4, 5, 5), 0.1, 3, torch.quint8)
    tw = torch.quantize_per_tensor(torch.randn(2, 4, 3, 3), 0.05, 0, torch.qint8)
    with pytest.raises(NotImplementedError, match="quint8"):
        qF.conv2d(tx.dequantize(), tw, None)
    with pytest.raises(ValueError):
        qF.conv2d(tx[0], tw, None)
    with pytest.raises(NotImplementedError, match="quantized::linear"):
        qF.linear(tx.dequantize()[0, 0], tw[:, :, 0, 0].contiguous(), scale=0.1, zero_point=0)
    with pytest.raises(RuntimeError, match="QInt8"):
        qF.linear(tx[0, 0], tx[0, 0])
    with pytest.raises(RuntimeError, match="rank should be >= 2"):
        qF.linear(torch.quantize_per_tensor(torch.randn(4), 0.1, 3, torch.quint8),
                  torch.quantize_per_tensor(torch.randn(3, 4), 0.1, 0, torch.qint8))


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_one_weight_under_many_quantizations(kind):
    """XNNPACK operators bake in the scales: a weight run with ever new output scales (and
    back to earlier ones) keeps a bounded set of operators (qconv.c: 4 slots, rebuilt in
    place). Cycling through 7 scales twice, each result must equal the reference kernel's,
    i.e. no slot ever serves another quantization's operator."""
    from _qtest import q_from_ints, run_both
    rng = np.random.default_rng(21)
    if kind == "conv":
        # activations over 0..255: the XNNPACK path (the own GEMM takes 0..127 only)
        x = q_from_ints(rng.integers(0, 256, (1, 8, 9, 9)), 0.05, 100, channels_last=True)
        w = q_weight(rng, f32(rng, 16, 8, 3, 3, scale=0.3), per_channel=True)[1]
        b = ptlite.tensor(f32(rng, 16))
        fn = lambda s, zp: Q._conv2d(x, w, b, (1, 1), (1, 1), (1, 1), 1, False, s, zp)  # noqa
    else:
        x = q_from_ints(rng.integers(0, 256, (6, 40)), 0.05, 100)
        w = q_weight(rng, f32(rng, 24, 40, scale=0.3), per_channel=False)[1]
        b = ptlite.tensor(f32(rng, 24))
        fn = lambda s, zp: Q._linear(x, w, b, False, s, zp)  # noqa
    # pairs share a scale and differ in the zero point only (part of the key, not the arrays)
    scales = [fscale(v) for v in (0.05, 0.05, 0.1, 0.1, 0.2, 0.3, 0.45)]
    outs = {}
    for rnd in range(2):
        for i, s in enumerate(scales):
            fast, ref = run_both(lambda: fn(s, 60 + i))
            np.testing.assert_array_equal(fast, ref)
            if rnd:
                np.testing.assert_array_equal(fast, outs[i])
            outs[i] = fast
    assert len({o.tobytes() for o in outs.values()}) == len(scales)
