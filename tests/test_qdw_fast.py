"""The AVX2 depthwise path of quantized conv2d (kernels/qdw_avx2.c, called from qconv.c's
fast function for groups == channels with symmetric weights). Fast and reference backends
must agree bit for bit: strides 1 and 2, channel counts on and off the 16-channel blocks,
fused relu and a relu6 ceiling (QCONV2D i[9]), kernel sizes 1x1..7x7 and 3x5 / 5x3,
per-channel and per-tensor weights, x_zp 0 / mid / high, batch 2-3, layouts (pixel strides
!= C) and thread counts; a couple of shapes are also checked against torch's qnnpack engine.
csrc/tests/test_qconv.c calls the kernel directly (so a silent fallback cannot pass there)."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import torch

import ptlite
from ptlite import _C
import _qtest
from _qtest import run_both
from ptlite._ops import qconv as Q

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

# these kernels read NHWC: inputs are channels-last unless a test says otherwise
q_from_ints = functools.partial(_qtest.q_from_ints, channels_last=True)


def dw_weights(rng, c, k, per_channel: bool):
    """Symmetric qint8 depthwise weights [c, 1, kh, kw], -128 present in every channel."""
    shape = (c, 1) + k
    qi = rng.integers(-128, 128, shape)
    qi.reshape(c, -1)[:, 0] = -128
    if per_channel:
        s = rng.uniform(0.002, 0.02, c).astype(np.float32)
        f = (qi * s.reshape(c, 1, 1, 1)).astype(np.float32)
        w = ptlite.quantize_per_channel(ptlite.tensor(f), ptlite.tensor(s),
                                        ptlite.tensor(np.zeros(c, np.int64)), 0, ptlite.qint8)
    else:
        s = float(np.float32(rng.uniform(0.002, 0.02)))
        w = ptlite.quantize_per_tensor(ptlite.tensor((qi * s).astype(np.float32)), s, 0,
                                       ptlite.qint8)
    np.testing.assert_array_equal(w.int_repr().numpy(), qi)
    return w


DW_SHAPES = [
    # n, c, h, w, k, stride, pad
    (1, 32, 12, 12, (3, 3), (1, 1), (1, 1)),
    (1, 32, 13, 11, (3, 3), (2, 2), (1, 1)),
    (2, 48, 9, 10, (3, 3), (1, 1), (1, 1)),  # batch 2
    (2, 24, 10, 9, (3, 3), (2, 2), (1, 1)),  # C % 16 == 8
    (1, 7, 11, 12, (3, 3), (1, 1), (1, 1)),  # C < 16
    (1, 33, 8, 8, (3, 3), (2, 2), (1, 1)),  # C % 16 == 1
    (1, 144, 7, 7, (3, 3), (1, 1), (1, 1)),
    (1, 20, 9, 9, (5, 5), (1, 1), (2, 2)),  # 5x5: an odd last kernel row
    (1, 16, 10, 8, (3, 3), (1, 1), (0, 0)),  # no padding
    (1, 18, 9, 11, (2, 4), (1, 2), (0, 1)),  # even kernel height, mixed stride / pad
]


def dw_case(seed, shape, per_channel, relu, xzp=None, cl=True, bias=True, hi=255):
    n, c, h, w, k, s, p = shape
    rng = np.random.default_rng(seed)
    xq = rng.integers(0, hi + 1, (n, c, h, w))
    if xzp is None:
        xzp = int(rng.integers(0, 256))
    x = q_from_ints(xq, rng.uniform(0.01, 0.05), xzp, channels_last=cl)
    wt = dw_weights(rng, c, k, per_channel)
    b = ptlite.tensor(rng.standard_normal(c).astype(np.float32)) if bias else None
    osc = float(np.float32(rng.uniform(0.3, 1.0)))
    ozp = int(rng.integers(64, 192))
    return lambda: Q._conv2d(x, wt, b, s, p, (1, 1), c, relu, osc, ozp)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("xzp", [0, 64, 255, None])
def test_dw_fast_matches_reference(per_channel, relu, xzp):
    for i, shape in enumerate(DW_SHAPES):
        fast, ref = run_both(dw_case(i * 13 + (xzp or 1), shape, per_channel, relu, xzp))
        np.testing.assert_array_equal(fast, ref, err_msg=f"{shape} xzp={xzp}")
        assert len(np.unique(ref)) > 2  # not a constant (fully clamped) output


def test_dw_activation_extremes():
    """x = 255 with x_zp 0 and x = 0 with x_zp 255 against w = -128 everywhere: the
    largest products (|x - x_zp| * |w| = 255 * 128) in every pair."""
    c = 32
    s = 0.01
    w = ptlite.quantize_per_tensor(ptlite.tensor(np.full((c, 1, 3, 3), -128 * s, np.float32)),
                                   s, 0, ptlite.qint8)
    for xv, xzp in ((255, 0), (0, 255)):
        x = q_from_ints(np.full((1, c, 6, 6), xv), 0.01, xzp)
        fast, ref = run_both(lambda: Q._conv2d(x, w, None, (1, 1), (1, 1), (1, 1), c, False,
                                               0.5, 128))
        np.testing.assert_array_equal(fast, ref)
        assert len(np.unique(ref)) > 1  # borders (padding) differ from the interior


def test_dw_layouts_and_out():
    """NCHW input, a channel slice of a channels-last tensor (pixel stride > C), no bias,
    and a caller-provided output reused across backends (qparams set on every run)."""
    rng = np.random.default_rng(5)
    xq = rng.integers(0, 256, (2, 40, 9, 9))
    x_nchw = q_from_ints(xq, 0.03, 10, channels_last=False)
    x_cl = q_from_ints(xq, 0.03, 10, channels_last=True)
    x_slice = x_cl[:, 4:36]
    w40 = dw_weights(rng, 40, (3, 3), True)
    w32 = dw_weights(rng, 32, (3, 3), False)
    for x, w, c in ((x_nchw, w40, 40), (x_cl, w40, 40), (x_slice, w32, 32)):
        for s in ((1, 1), (2, 2)):
            fast, ref = run_both(lambda: Q._conv2d(x, w, None, s, (1, 1), (1, 1), c, True, 0.2, 3))
            np.testing.assert_array_equal(fast, ref)
    out = ptlite.quantize_per_tensor(ptlite.zeros(2, 40, 9, 9), 1.0, 0, ptlite.quint8)
    def into_out():
        r = _C.call(Q._QCONV2D, (x_cl, w40, None), (1, 1, 1, 1, 1, 1, 40, 1, 3), (0.2,), out)
        assert r is out and out.q_zero_point() == 3  # on each backend
        return out

    fast, ref = run_both(into_out)
    np.testing.assert_array_equal(fast, ref)


def test_dw_deterministic_across_threads():
    fns = [dw_case(11, (2, 96, 15, 15, (3, 3), (1, 1), (1, 1)), True, True),
           dw_case(12, (1, 96, 16, 16, (3, 3), (2, 2), (1, 1)), True, False)]
    prev = ptlite.get_num_threads()
    try:
        for fn in fns:
            outs = []
            for t in (1, 2, 3):
                ptlite.set_num_threads(t)
                outs.append(fn().int_repr().numpy())
            for o in outs[1:]:
                np.testing.assert_array_equal(o, outs[0])
            ptlite.set_num_threads(prev)
            fast, ref = run_both(fn)
            np.testing.assert_array_equal(fast, ref)
    finally:
        ptlite.set_num_threads(prev)


def test_dw_weight_update_repacks():
    """The packed weights follow in-place changes of the weight (its version)."""
    rng = np.random.default_rng(3)
    x = q_from_ints(rng.integers(0, 256, (1, 16, 8, 8)), 0.02, 5)
    w = dw_weights(rng, 16, (3, 3), True)
    a = Q._conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 16, False, 0.2, 100).int_repr().numpy()
    w.copy_(dw_weights(rng, 16, (3, 3), True))
    fast, ref = run_both(lambda: Q._conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 16, False, 0.2,
                                           100))
    np.testing.assert_array_equal(fast, ref)
    assert (fast != a).any()


@pytest.mark.parametrize("stride", [1, 2])
def test_dw_matches_torch(qnnpack, stride):
    """torch's qnnpack depthwise conv on the same integers (per-tensor weights, which
    torch's qnnpack takes): exact-match rate printed with -s, >= 99.9% within 1 LSB."""
    rng = np.random.default_rng(stride)
    c = 40
    xq = rng.integers(0, 256, (1, c, 14, 14))
    xs, xzp, osc, ozp = 0.02, 37, 0.08, 120
    x = q_from_ints(xq, xs, xzp)
    w = dw_weights(rng, c, (3, 3), False)
    bias = rng.standard_normal(c).astype(np.float32)
    got = Q._conv2d(x, w, ptlite.tensor(bias), (stride, stride), (1, 1), (1, 1), c, True, osc,
                    ozp).int_repr().numpy().astype(np.int64)
    tx = torch.quantize_per_tensor(torch.from_numpy(((xq - xzp) * np.float32(xs))
                                                    .astype(np.float32)), np.float32(xs), xzp,
                                   torch.quint8)
    tw = torch.quantize_per_tensor(torch.from_numpy(w.dequantize().numpy()), w.q_scale(), 0,
                                   torch.qint8)
    assert (tw.int_repr().numpy() == w.int_repr().numpy()).all()
    conv = torch.ao.nn.quantized.functional.conv2d
    exp = torch.ops.quantized.conv2d_relu(
        tx, torch.ops.quantized.conv2d_prepack(tw, torch.from_numpy(bias), [stride, stride],
                                               [1, 1], [1, 1], c), osc, ozp)
    del conv
    exp = exp.int_repr().numpy().astype(np.int64)
    assert got.shape == exp.shape
    exact = float((got == exp).mean())
    print(f"\nqdw stride {stride}: exact match {exact:.5f}")
    assert float((np.abs(got - exp) <= 1).mean()) >= 0.999
    assert len(np.unique(exp)) > 2


def conv_ints(x, w, b, s, p, c, relu, osc, ozp, qmax):
    """QCONV2D with its version-2 attribute i[9] (the clamp maximum of a fused relu6)."""
    return _C.call(Q._QCONV2D, (x, w, b),
                   (s[0], s[1], p[0], p[1], 1, 1, c, 1 if relu else 0, ozp, qmax), (osc,))


# n, c, h, w, kernel, stride, pad: every kernel size the kernel takes (the 3x3 register kernels
# for horizontal stride 1 / 2, the pair-row path for the rest), channel counts on and off the
# 8 / 16-channel blocks, padding wider than half the kernel, images narrower than the kernel
KERNEL_SHAPES = [
    (1, 16, 9, 9, (1, 1), (1, 1), (0, 0)),
    (1, 9, 10, 9, (2, 2), (1, 1), (1, 0)),
    (1, 17, 8, 11, (3, 3), (1, 1), (2, 2)),
    (2, 31, 7, 9, (3, 3), (2, 2), (0, 2)),
    (1, 8, 9, 3, (3, 3), (1, 1), (1, 1)),  # 3 columns: every output touches padding
    (1, 40, 12, 2, (3, 3), (2, 1), (1, 1)),  # narrower than the kernel
    (1, 24, 10, 10, (3, 3), (3, 3), (1, 1)),  # stride 3: the pair-row path
    (1, 20, 10, 9, (4, 4), (1, 1), (2, 1)),
    (1, 12, 11, 11, (5, 5), (2, 2), (2, 2)),
    (1, 16, 13, 12, (7, 7), (1, 1), (3, 3)),
    (1, 33, 9, 12, (3, 5), (1, 2), (1, 2)),
    (2, 10, 12, 8, (5, 3), (2, 1), (2, 1)),
    (1, 1, 12, 12, (1, 3), (1, 1), (0, 1)),
]


@pytest.mark.parametrize("shape", KERNEL_SHAPES, ids=lambda s: f"k{s[4]}s{s[5]}p{s[6]}c{s[1]}")
@pytest.mark.parametrize("clamp", ["none", "relu", "relu6"])
def test_dw_kernel_sizes_and_clamps(shape, clamp):
    """Fast == reference for every kernel size / stride / padding above, with no clamp, the
    relu floor (qmin = ozp) and a ceiling below 255 (i[9], a fused relu6), at 1 and 2
    threads; the clamps must actually bind somewhere (else they are not tested)."""
    n, c, h, w, k, s, p = shape
    rng = np.random.default_rng(hash(shape) % 1000)
    x = q_from_ints(rng.integers(0, 256, (n, c, h, w)), 0.02, int(rng.integers(0, 256)))
    wt = dw_weights(rng, c, k, per_channel=True)
    b = ptlite.tensor(rng.standard_normal(c).astype(np.float32))
    osc, ozp = 0.012 * (k[0] * k[1]) ** 0.5, 110
    relu, qmax = clamp != "none", 170 if clamp == "relu6" else 255
    prev = ptlite.get_num_threads()
    try:
        for t in (1, 2):
            ptlite.set_num_threads(t)
            fast, ref = run_both(lambda: conv_ints(x, wt, b, s, p, c, relu, osc, ozp, qmax))
            np.testing.assert_array_equal(fast, ref, err_msg=f"{shape} {clamp} threads={t}")
    finally:
        ptlite.set_num_threads(prev)
    assert ref.max() <= qmax and ref.min() >= (ozp if relu else 0)
    if clamp == "relu6":
        assert (ref == qmax).any() and (ref < qmax).any()
    if relu:
        assert (ref == ozp).any() and (ref > ozp).any()
    assert len(np.unique(ref)) > 2


def test_dw_pixel_stride_and_batch_3x3():
    """The 3x3 kernels on a channel slice (pixel stride > C, and not a multiple of 16),
    batch 3, stride 1 and 2, a relu6 ceiling: fast == reference at 1 and 2 threads."""
    rng = np.random.default_rng(21)
    base = q_from_ints(rng.integers(0, 256, (3, 61, 11, 10)), 0.03, 200)
    x = base[:, 3:40]  # 37 channels: 2 full blocks and a 5-channel tail
    assert x.stride()[1] == 1 and x.stride()[3] == 61
    wt = dw_weights(rng, 37, (3, 3), per_channel=True)
    prev = ptlite.get_num_threads()
    try:
        for t in (1, 2):
            ptlite.set_num_threads(t)
            for s in ((1, 1), (2, 2)):
                fast, ref = run_both(lambda: conv_ints(x, wt, None, s, (1, 1), 37, True, 0.05, 90,
                                                       200))
                np.testing.assert_array_equal(fast, ref, err_msg=f"stride {s} threads {t}")
                assert (ref == 200).any() and (ref == 90).any()
    finally:
        ptlite.set_num_threads(prev)
