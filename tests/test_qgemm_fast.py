"""The AVX2 u8 x s8 (vpmaddubsw) path of quantized conv2d / linear (kernels/qgemm_avx2.c,
called from qconv.c's fast functions when every activation byte is <= 127 and the weights
are symmetric). Fast and reference backends must agree bit for bit on both sides of the
127 threshold; a couple of shapes are also checked against torch (qnnpack and x86)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ptlite
from ptlite import _C
from ptlite._ops import qconv as Q

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

from _qtest import q_from_ints, run_both


def weights(rng, shape, per_channel: bool, full_range: bool = True):
    """Symmetric qint8 weights using the whole [-128, 127] range (-128 included)."""
    o = shape[0]
    qi = rng.integers(-128, 128, shape)
    if full_range:
        qi.reshape(o, -1)[:, 0] = -128
    if per_channel:
        s = (rng.uniform(0.002, 0.02, o)).astype(np.float32)
        f = (qi * s.reshape((o,) + (1,) * (len(shape) - 1))).astype(np.float32)
        w = ptlite.quantize_per_channel(ptlite.tensor(f), ptlite.tensor(s),
                                        ptlite.tensor(np.zeros(o, np.int64)), 0, ptlite.qint8)
    else:
        s = float(np.float32(rng.uniform(0.002, 0.02)))
        w = ptlite.quantize_per_tensor(ptlite.tensor((qi * s).astype(np.float32)), s, 0,
                                       ptlite.qint8)
    np.testing.assert_array_equal(w.int_repr().numpy(), qi)
    return w


def act_ints(rng, shape, hi=127, n_hot=0):
    """Activations in [0, hi]; n_hot bytes set above 127 (forcing the slow path)."""
    q = rng.integers(0, hi + 1, shape)
    flat = q.reshape(-1)
    if n_hot:
        idx = rng.choice(flat.size, n_hot, replace=False)
        flat[idx] = rng.integers(128, 256, n_hot)
    return q


CONV_SHAPES = [
    # n, c, h, w, o, k, stride, pad, dilation
    (1, 16, 9, 9, 32, (1, 1), (1, 1), (0, 0), (1, 1)),
    (2, 32, 8, 7, 16, (3, 3), (1, 1), (1, 1), (1, 1)),
    (1, 24, 11, 10, 20, (3, 3), (2, 2), (1, 1), (1, 1)),
    (1, 8, 12, 12, 24, (3, 3), (1, 1), (2, 2), (2, 2)),
    (1, 3, 20, 18, 16, (7, 7), (2, 2), (3, 3), (1, 1)),  # stem layout
    (1, 3, 9, 9, 8, (3, 3), (1, 1), (1, 1), (1, 1)),  # stem layout, N < 16
    (1, 5, 9, 8, 17, (3, 2), (1, 2), (1, 0), (1, 1)),  # K not a multiple of 4
    (2, 6, 8, 8, 33, (1, 1), (2, 2), (0, 0), (1, 1)),  # strided 1x1, N % 16 == 1
    (1, 10, 10, 10, 12, (3, 3), (1, 1), (1, 1), (2, 1)),  # dilation: no stem layout
    (3, 64, 6, 6, 64, (3, 3), (2, 2), (1, 1), (1, 1)),
    (1, 7, 15, 13, 9, (2, 5), (3, 1), (1, 2), (1, 1)),
]


def conv_case(seed, shape, per_channel, relu, hi=127, n_hot=0, xzp=None, cl=True, bias=True):
    n, c, h, w, o, k, s, p, d = shape
    rng = np.random.default_rng(seed)
    xq = act_ints(rng, (n, c, h, w), hi, n_hot)
    if xzp is None:
        xzp = int(rng.integers(0, 128))
    x = q_from_ints(xq, rng.uniform(0.01, 0.05), xzp, channels_last=cl)
    wt = weights(rng, (o, c) + k, per_channel)
    b = ptlite.tensor(rng.standard_normal(o).astype(np.float32)) if bias else None
    osc = float(np.float32(rng.uniform(0.05, 0.3)))
    ozp = int(rng.integers(0, 256))
    return lambda: Q._conv2d(x, wt, b, s, p, d, 1, relu, osc, ozp)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_conv_fast_matches_reference(per_channel, relu):
    for i, shape in enumerate(CONV_SHAPES):
        for hi, n_hot in ((127, 0), (127, 3), (255, 0)):
            fast, ref = run_both(conv_case(i * 7 + hi + n_hot, shape, per_channel, relu, hi, n_hot))
            np.testing.assert_array_equal(fast, ref, err_msg=f"{shape} hi={hi} hot={n_hot}")
            # a test that can fail: the outputs are not constant
            assert len(np.unique(ref)) > 2


def test_conv_at_threshold():
    """Every activation exactly 127 (the largest exact input), x_zp 127 and 0, and one
    byte at 128 (the path switches, the bits do not)."""
    shape = (1, 32, 7, 7, 32, (3, 3), (1, 1), (1, 1), (1, 1))
    for xzp in (0, 127):
        for extra in (None, 128):
            rng = np.random.default_rng(xzp)
            xq = np.full((1, 32, 7, 7), 127)
            if extra:
                xq[0, 5, 3, 3] = extra
            x = q_from_ints(xq, 0.02, xzp, channels_last=True)
            wt = weights(rng, (32, 32, 3, 3), True)
            # weights all -128 on one channel: largest pair sums 2 * 127 * -128
            wq = wt.int_repr().numpy()
            assert wq.min() == -128
            fast, ref = run_both(lambda: Q._conv2d(x, wt, None, (1, 1), (1, 1), (1, 1), 1, False,
                                                   0.5, 128))
            np.testing.assert_array_equal(fast, ref)


def test_conv_all_minus_128_weights():
    """Worst case for vpmaddubsw saturation: x = 127 everywhere, w = -128 everywhere."""
    xq = np.full((1, 16, 6, 6), 127)
    x = q_from_ints(xq, 0.01, 0, channels_last=True)
    s = 0.01
    w = ptlite.quantize_per_tensor(ptlite.tensor(np.full((16, 16, 3, 3), -128 * s, np.float32)),
                                   s, 0, ptlite.qint8)
    fast, ref = run_both(lambda: Q._conv2d(x, w, None, (1, 1), (0, 0), (1, 1), 1, False, 40.0, 255))
    np.testing.assert_array_equal(fast, ref)
    assert ref.min() < 255  # not all clamped: the products were really summed
    # -127 * 128 * 144 * 0.0001 / 40 = -5.85 -> 255 - 6
    assert (ref == 249).all()


def test_conv_layouts_and_batch():
    """NCHW-contiguous input, a channel slice (pixel stride > C) and an NCHW output, with
    a few bytes above 127 (their pixels are read from clamped copies)."""
    rng = np.random.default_rng(5)
    xq = act_ints(rng, (2, 40, 9, 9))
    xq[0, 5, 3, 3], xq[1, 30, 0, 8], xq[1, 0, 8, 8] = 200, 255, 128  # clamped + fixed up
    x_nchw = q_from_ints(xq, 0.03, 10, channels_last=False)
    x_cl = q_from_ints(xq, 0.03, 10, channels_last=True)
    x_slice = x_cl[:, 4:36]
    wt = weights(rng, (24, 32, 3, 3), True)
    wt40 = weights(rng, (24, 40, 3, 3), False)
    for x, w in ((x_nchw, wt40), (x_cl, wt40), (x_slice, wt)):
        fast, ref = run_both(lambda: Q._conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 1, True, 0.2, 3))
        np.testing.assert_array_equal(fast, ref)
    out = ptlite.quantize_per_tensor(ptlite.zeros(2, 24, 9, 9), 1.0, 0, ptlite.quint8)
    fast, ref = run_both(
        lambda: _C.call(Q._QCONV2D, (x_cl, wt40, None), (1, 1, 1, 1, 1, 1, 1, 1, 3), (0.2,), out))
    np.testing.assert_array_equal(fast, ref)


def test_conv_deterministic_across_threads():
    fn = conv_case(11, (1, 64, 14, 14, 96, (3, 3), (1, 1), (1, 1), (1, 1)), True, True)
    prev = ptlite.get_num_threads()
    outs = []
    try:
        for t in (1, 2, 3):
            ptlite.set_num_threads(t)
            outs.append(fn().int_repr().numpy())
    finally:
        ptlite.set_num_threads(prev)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_weight_update_repacks():
    """The packed weights follow in-place changes of the weight (its version)."""
    rng = np.random.default_rng(3)
    x = q_from_ints(act_ints(rng, (1, 16, 8, 8)), 0.02, 5, channels_last=True)
    w = weights(rng, (16, 16, 3, 3), True)
    a = Q._conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 1, False, 0.2, 100).int_repr().numpy()
    w2 = weights(rng, (16, 16, 3, 3), True)
    w.copy_(w2)
    b_fast, b_ref = run_both(lambda: Q._conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 1, False, 0.2,
                                               100))
    np.testing.assert_array_equal(b_fast, b_ref)
    assert not np.array_equal(a, b_fast)


LINEAR_SHAPES = [((4, 64), 32), ((3, 5, 36), 17), ((1, 512), 100), ((7, 13), 40), ((2, 1, 3, 20),
                                                                                    48)]


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_linear_fast_matches_reference(per_channel, relu):
    for i, (lead, n) in enumerate(LINEAR_SHAPES):
        for hi, n_hot in ((127, 0), (127, 1), (255, 0)):
            rng = np.random.default_rng(i + 100 * hi + n_hot)
            x = q_from_ints(act_ints(rng, lead, hi, n_hot), 0.02, int(rng.integers(0, 128)))
            w = weights(rng, (n, lead[-1]), per_channel)
            b = ptlite.tensor(rng.standard_normal(n).astype(np.float32))
            for xs in (x, x[..., ::1]):
                fast, ref = run_both(lambda: Q._linear(xs, w, b, relu, 0.3, 77))
                np.testing.assert_array_equal(fast, ref)
                assert len(np.unique(ref)) > 2


def test_linear_strided_input():
    rng = np.random.default_rng(9)
    xq = act_ints(rng, (6, 80))
    x = q_from_ints(xq, 0.02, 20)[:, ::2]
    w = weights(rng, (24, 40), True)
    fast, ref = run_both(lambda: Q._linear(x, w, None, False, 0.2, 128))
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("engine", ["qnnpack", "x86"])
def test_against_torch(engine):
    """reduce_range-like activations (0..127) through torch's own quantized conv / linear."""
    prev = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        rng = np.random.default_rng(42)
        total = exact = 0
        for shape in ((1, 32, 10, 10, 48, 3, 1, 1), (1, 3, 16, 16, 16, 7, 2, 3),
                      (2, 64, 7, 7, 32, 1, 1, 0)):
            n, c, h, w, o, k, s, p = shape
            xq = act_ints(rng, (n, c, h, w))
            xzp, xs = int(rng.integers(0, 128)), float(np.float32(0.02))
            px = q_from_ints(xq, xs, xzp, channels_last=True)
            tx = torch._make_per_tensor_quantized_tensor(
                torch.from_numpy(xq.astype(np.uint8)), xs, xzp)
            wf = (rng.standard_normal((o, c, k, k)) * 0.1).astype(np.float32)
            sc = (np.abs(wf).reshape(o, -1).max(1) / 127).astype(np.float32)
            tw = torch.quantize_per_channel(torch.from_numpy(wf), torch.from_numpy(sc).double(),
                                            torch.zeros(o, dtype=torch.long), 0, torch.qint8)
            pw = ptlite.quantize_per_channel(ptlite.tensor(wf), ptlite.tensor(sc),
                                             ptlite.tensor(np.zeros(o, np.int64)), 0, ptlite.qint8)
            b = rng.standard_normal(o).astype(np.float32)
            packed = torch.ops.quantized.conv2d_prepack(tw, torch.from_numpy(b), [s, s], [p, p],
                                                        [1, 1], 1)
            ty = torch.ops.quantized.conv2d_relu(tx, packed, 0.1, 0).int_repr().numpy()
            py = Q._conv2d(px, pw, ptlite.tensor(b), (s, s), (p, p), (1, 1), 1, True, 0.1, 0)
            d = np.abs(py.int_repr().numpy().astype(np.int64) - ty)
            assert d.max() <= 1
            total += d.size
            exact += int((d == 0).sum())
        rate = exact / total
        print(f"qgemm vs torch {engine}: exact {rate:.5f} of {total}")
        assert rate >= 0.999
    finally:
        torch.backends.quantized.engine = prev


def _conv_qmax(x, w, b, s, p, d, relu, osc, ozp, qmax):
    """quantized conv2d with the output ceiling i[9] (a fused relu6)."""
    return _C.call(Q._QCONV2D, (x, w, b), (s[0], s[1], p[0], p[1], d[0], d[1], 1,
                                           1 if relu else 0, ozp, qmax), (osc,))


def _threads_fast_vs_ref(fn):
    """fn() on the reference kernels, then on the fast path at 1, 2 and 3 threads: the
    same bits every time."""
    prev = ptlite.get_num_threads()
    try:
        ptlite.set_num_threads(1)
        fast, ref = run_both(fn)
        outs = [fast]
        for t in (2, 3):
            ptlite.set_num_threads(t)
            outs.append(run_both(fn)[0])
    finally:
        ptlite.set_num_threads(prev)
    for o in outs:
        np.testing.assert_array_equal(o, ref)
    return ref


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "sliced"])
def test_stem_any_input_strides(layout):
    """The 3x3 and 7x7 RGB stems (im2col copies gathered straight from the input's
    strides) and an 8x8 one (kernel-row taps): NCHW memory as quantize_per_tensor gives it,
    channels-last, and a strided view; batch 2, bytes above 127 (fixed up), relu, and a
    ceiling below 255."""
    rng = np.random.default_rng(21)
    for k, s, p, hw in ((3, 2, 1, (37, 41)), (7, 2, 3, (29, 30)), (3, 1, 1, (12, 9)),
                        (8, 2, 3, (26, 23))):
        xq = act_ints(rng, (2, 3) + hw, 127, 7)
        xq[1, 2, -1, -1] = 255
        if layout == "sliced":  # rows and columns two apart, channels-last memory
            big = np.zeros((2, 3, 2 * hw[0], 2 * hw[1]), np.int64)
            big[:, :, ::2, ::2] = xq
            x = q_from_ints(big, 0.03, 40, channels_last=True)[:, :, ::2, ::2]
        else:
            x = q_from_ints(xq, 0.03, 40, channels_last=layout == "channels_last")
        np.testing.assert_array_equal(x.int_repr().numpy(), xq)
        wt = weights(rng, (32, 3, k, k), True)
        b = ptlite.tensor(rng.standard_normal(32).astype(np.float32))
        for relu, qmax in ((False, 255), (True, 255), (True, 140)):
            ref = _threads_fast_vs_ref(lambda: _conv_qmax(x, wt, b, (s, s), (p, p), (1, 1), relu,
                                                          0.1, 90, qmax))
            assert len(np.unique(ref)) > 20
            if qmax < 255:
                assert ref.max() == qmax


def test_small_channel_windows():
    """Small-channel windows on the im2col copy (c = 1, 2, 5: segments shorter than the
    16-byte moves, dilation, rows whose moves would spill into the next row) at 1-3
    threads, with hot bytes."""
    rng = np.random.default_rng(8)
    for c, o, k, s, p, d in ((1, 5, (3, 2), (1, 1), (1, 1), (2, 1)), (2, 9, (2, 3), (1, 2),
                                                                     (2, 0), (1, 2)),
                             (5, 17, (3, 3), (1, 1), (1, 1), (1, 1)), (1, 8, (2, 1), (1, 1),
                                                                       (0, 1), (1, 1))):
        xq = act_ints(rng, (2, c, 15, 14), 127, 4)
        for cl in (False, True):
            x = q_from_ints(xq, 0.02, 3, channels_last=cl)
            wt = weights(rng, (o, c) + k, True)
            ref = _threads_fast_vs_ref(lambda: Q._conv2d(x, wt, None, s, p, d, 1, True, 0.05,
                                                         20))
            assert len(np.unique(ref)) > 10


def test_direct_1x1():
    """1x1 stride-1 convs (row pointers without the tap walk): odd pixel counts, output
    channels not a multiple of 8 or 16, a channel slice (pixel stride > C), NCHW memory,
    batch 2, hot bytes, relu and a ceiling."""
    rng = np.random.default_rng(13)
    # pixel counts of every residue mod 6 and 4 (the 6- and 4-row tiles' last tiles)
    for c, o, hw, n in ((16, 96, (7, 9), 2), (32, 16, (5, 5), 2), (24, 21, (9, 11), 1),
                        (40, 7, (3, 13), 2), (16, 24, (5, 5), 1), (8, 40, (1, 29), 1),
                        (16, 8, (7, 9), 1), (32, 17, (4, 5), 1)):
        xq = act_ints(rng, (n, c + 8, hw[0], hw[1]), 127, 5)
        x_cl = q_from_ints(xq, 0.02, 60, channels_last=True)
        x_nchw = q_from_ints(xq[:, :c], 0.02, 60, channels_last=False)
        wt = weights(rng, (o, c, 1, 1), True)
        b = ptlite.tensor(rng.standard_normal(o).astype(np.float32))
        for x in (x_cl[:, 4:4 + c], x_nchw):
            for relu, qmax in ((False, 255), (True, 100)):
                ref = _threads_fast_vs_ref(lambda: _conv_qmax(x, wt, b, (1, 1), (0, 0), (1, 1),
                                                              relu, 0.1, 50, qmax))
                assert len(np.unique(ref)) > 10
