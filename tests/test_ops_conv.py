"""Convolutions against torch 2.13: conv1d/conv2d/conv_transpose1d/2d.

Tolerance: the fast path (XNNPACK) and the reference loops sum the products in
another order than torch, so fp32 results are compared with rtol=1e-5 and an
absolute tolerance of 5e-6 scaled by the largest output magnitude (outputs are
sums of up to C/g*kH*kW products of N(0, 1) values; cancellation leaves small
entries whose error is relative to the big ones). Measured on the sweep: max
|ours - torch| / max|torch| = 8.6e-7 on both backends.
"""
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ptlite
import ptlite.nn.functional as PF
from ptlite import _C

RTOL = 1e-5
ATOL = 5e-6


def check(ours, theirs):
    a = ours.numpy()
    b = theirs.detach().numpy()
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert a.dtype == b.dtype
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL * scale)


def make_input(x: torch.Tensor, layout: str) -> ptlite.Tensor:
    """A ptlite copy of x (4-d) with the given memory layout (values identical)."""
    a = x.numpy()
    if layout == "contiguous":
        return ptlite.tensor(a)
    if layout == "channels_last":
        nhwc = np.ascontiguousarray(a.transpose(0, 2, 3, 1))
        t = ptlite.from_numpy(nhwc.transpose(0, 3, 1, 2))
        assert t.is_contiguous(memory_format=ptlite.channels_last) or min(a.shape[1:]) == 1
        return t
    if layout == "slice":
        # every other element of a bigger buffer along W, plus an offset along C
        n, c, h, w = a.shape
        big = np.zeros((n, c + 1, h, 2 * w), np.float32)
        big[:, 1:, :, ::2] = a
        t = ptlite.from_numpy(big[:, 1:, :, ::2])
        assert not t.is_contiguous() or w == 1
        return t
    if layout == "transposed_hw":
        t = ptlite.from_numpy(np.ascontiguousarray(a.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2))
        return t
    raise ValueError(layout)


def pt(x: torch.Tensor) -> ptlite.Tensor:
    return ptlite.tensor(x.detach().numpy())


# ---- the sweep ------------------------------------------------------------------------
def _sweep(count: int, seed: int):
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        n = rng.choice([1, 2])
        kind = rng.choice(["g1", "g1", "g1", "g2", "dw", "dwmult"])
        if kind == "g1":
            c, o, g = rng.choice([1, 3, 8, 16, 32]), rng.choice([1, 3, 8, 16, 32]), 1
        elif kind == "g2":
            c, o, g = rng.choice([2, 8, 16]), rng.choice([2, 8, 16, 32]), 2
        elif kind == "dw":
            c = rng.choice([1, 3, 8, 16, 32])
            o, g = c, c
        else:
            c = rng.choice([3, 8, 16])
            o, g = c * rng.choice([2, 3]), c
        kh, kw = rng.choice([(1, 1), (3, 3), (5, 5), (1, 3), (3, 1), (3, 5), (2, 2), (2, 3)])
        stride = rng.choice([1, 1, 2, 3, (1, 2), (2, 1)])
        padding = rng.choice([0, 1, 2, "same", "valid", (0, 1), (2, 1)])
        if padding == "same":
            stride = 1
        dilation = rng.choice([1, 1, 2, (1, 2)])
        h, w = rng.randint(1, 17), rng.randint(1, 17)
        bias = rng.random() < 0.6
        layout = rng.choice(["contiguous", "channels_last", "slice", "transposed_hw"])
        # keep only configs torch accepts
        dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
        if isinstance(padding, str):
            ph = pw = 0 if padding == "valid" else None
        else:
            ph, pw = (padding, padding) if isinstance(padding, int) else padding
        if ph is not None and (h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1):
            continue
        out.append((n, c, o, g, h, w, kh, kw, stride, padding, dilation, bias, layout))
    return out


SWEEP = _sweep(160, 1234)


@pytest.mark.parametrize("cfg", SWEEP, ids=[str(i) for i in range(len(SWEEP))])
def test_conv2d_sweep(backend, cfg):
    n, c, o, g, h, w, kh, kw, stride, padding, dilation, bias, layout = cfg
    x = torch.randn(n, c, h, w)
    wt = torch.randn(o, c // g, kh, kw)
    b = torch.randn(o) if bias else None
    ref = F.conv2d(x, wt, b, stride, padding, dilation, g)
    got = PF.conv2d(make_input(x, layout), pt(wt), pt(b) if bias else None, stride, padding,
                    dilation, g)
    check(got, ref)
    if backend == "xnnpack":
        # fast path output: logical NCHW, NHWC memory
        assert got.is_contiguous(memory_format=ptlite.channels_last)
    else:
        assert got.is_contiguous()


@pytest.mark.parametrize("cfg", SWEEP[::3], ids=[str(i) for i in range(0, len(SWEEP), 3)])
def test_conv2d_fast_matches_reference(cfg):
    n, c, o, g, h, w, kh, kw, stride, padding, dilation, bias, layout = cfg
    x = torch.randn(n, c, h, w)
    wt = torch.randn(o, c // g, kh, kw)
    b = torch.randn(o) if bias else None
    args = (make_input(x, layout), pt(wt), pt(b) if bias else None, stride, padding, dilation, g)
    prev = _C.get_backend()
    try:
        _C.set_backend(0)
        fast = PF.conv2d(*args)
        _C.set_backend(1)
        slow = PF.conv2d(*args)
    finally:
        _C.set_backend(prev)
    a, r = fast.numpy(), slow.numpy()
    scale = max(1.0, float(np.abs(r).max()))
    np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL * scale)


MOBILENET_SHAPES = [
    # (C, H, W, O, k, stride, pad, groups)
    (3, 32, 32, 16, 3, 2, 1, 1),     # stem
    (16, 16, 16, 16, 3, 1, 1, 16),   # depthwise s1
    (32, 16, 16, 32, 3, 2, 1, 32),   # depthwise s2
    (32, 8, 8, 64, 1, 1, 0, 1),      # pointwise
    (64, 8, 8, 64, 5, 1, 2, 64),     # depthwise 5x5
    (64, 7, 7, 128, 3, 2, 1, 1),     # resnet downsample 3x3
    (64, 7, 7, 128, 1, 2, 0, 1),     # resnet downsample 1x1
    (24, 9, 9, 24, 3, 1, 1, 24),
]


@pytest.mark.parametrize("shape", MOBILENET_SHAPES)
def test_conv2d_mobilenet_shapes(backend, shape):
    c, h, w, o, k, s, p, g = shape
    x = torch.randn(2, c, h, w)
    wt = torch.randn(o, c // g, k, k) * 0.2
    b = torch.randn(o)
    check(PF.conv2d(make_input(x, "channels_last"), pt(wt), pt(b), s, p, 1, g),
          F.conv2d(x, wt, b, s, p, 1, g))
    check(PF.conv2d(pt(x), pt(wt), pt(b), s, p, 1, g), F.conv2d(x, wt, b, s, p, 1, g))


@pytest.mark.parametrize("shape", [
    # (N, C, H, W, O, kh, kw, stride, padding, dilation, groups)
    (1, 256, 5, 6, 40, 3, 3, 1, 1, 1, 1),     # K = 2304: weight panels in several blocks
    (2, 4, 12, 11, 20, 9, 9, 1, 4, 2, 1),     # 81 taps: indirection beyond the stack buffer
    (1, 3, 23, 19, 64, 7, 7, 2, 3, 1, 1),     # resnet stem (padded dense copy, 7 row taps)
    (3, 5, 9, 9, 7, 1, 1, 1, 0, 1, 1),        # pointwise, pixel count not a multiple of 6
    (1, 12, 7, 7, 9, 3, 1, 2, (1, 0), 1, 1),  # O <= 8 tail after a full panel
    (2, 32, 8, 9, 64, 3, 3, 1, 1, 1, 4),      # grouped: 16 outputs per group
    (1, 16, 6, 7, 40, 3, 3, 2, 1, 1, 2),      # grouped: 20 per group, 4-wide tail panels
    (1, 8, 6, 6, 32, 3, 3, 1, 1, 1, 4),       # grouped, 2 inputs per group
])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "slice"])
def test_conv2d_dense_kernel_edges(backend, shape, layout):
    n, c, h, w, o, kh, kw, s, p, d, g = shape
    x = torch.randn(n, c, h, w)
    wt = torch.randn(o, c // g, kh, kw) * 0.1
    b = torch.randn(o)
    check(PF.conv2d(make_input(x, layout), pt(wt), pt(b), s, p, d, g),
          F.conv2d(x, wt, b, s, p, d, g))


def test_conv2d_unbatched(backend):
    x = torch.randn(4, 9, 7)
    wt = torch.randn(6, 2, 3, 3)
    b = torch.randn(6)
    check(PF.conv2d(pt(x), pt(wt), pt(b), padding=1, groups=2),
          F.conv2d(x, wt, b, padding=1, groups=2))
    w1 = torch.randn(5, 4, 2, 3)
    check(ptlite.conv2d(pt(x), pt(w1), stride=2), torch.conv2d(x, w1, stride=2))


def test_conv2d_same_even_kernel_is_asymmetric(backend):
    # torch pads the extra row/column at the bottom/right
    x = torch.randn(1, 3, 6, 7)
    for k, d in [((2, 2), 1), ((4, 3), 1), ((2, 4), (2, 1)), ((3, 3), 2)]:
        wt = torch.randn(5, 3, *k)
        check(PF.conv2d(pt(x), pt(wt), None, 1, "same", d), F.conv2d(x, wt, None, 1, "same", d))


def test_conv2d_empty_batch(backend):
    x = torch.randn(0, 3, 5, 5)
    wt = torch.randn(4, 3, 3, 3)
    got = PF.conv2d(pt(x), pt(wt))
    assert tuple(got.shape) == (0, 4, 3, 3)


def test_conv2d_chain_stays_channels_last():
    prev = _C.get_backend()
    _C.set_backend(0)
    try:
        x = torch.randn(1, 8, 12, 12)
        w1, w2 = torch.randn(16, 8, 3, 3) * 0.2, torch.randn(16, 1, 3, 3) * 0.2
        y1 = PF.conv2d(pt(x), pt(w1), padding=1)
        # the second conv's input is already NHWC: the fast path takes it as is
        assert y1.is_contiguous(memory_format=ptlite.channels_last)
        assert y1.stride() == (16 * 12 * 12, 1, 16 * 12, 16)
        y2 = PF.conv2d(y1, pt(w2), padding=1, groups=16)
        assert y2.is_contiguous(memory_format=ptlite.channels_last)
        check(y2, F.conv2d(F.conv2d(x, w1, padding=1), w2, padding=1, groups=16))
    finally:
        _C.set_backend(prev)


def test_conv2d_weight_cache_invalidation(backend):
    x = torch.randn(2, 4, 8, 8)
    w = torch.randn(6, 4, 3, 3)
    b = torch.randn(6)
    px, pw, pb = pt(x), pt(w), pt(b)
    y1 = PF.conv2d(px, pw, pb, padding=1)
    y2 = PF.conv2d(px, pw, pb, padding=1)
    # packed once: the second call gives identical bits
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    check(y1, F.conv2d(x, w, b, padding=1))
    # in-place weight change must invalidate the packed operator
    w2 = torch.randn(6, 4, 3, 3)
    pw.copy_(pt(w2))
    check(PF.conv2d(px, pw, pb, padding=1), F.conv2d(x, w2, b, padding=1))
    # and so must an in-place bias change
    b2 = torch.randn(6)
    pb.copy_(pt(b2))
    check(PF.conv2d(px, pw, pb, padding=1), F.conv2d(x, w2, b2, padding=1))
    # same weight without bias, then another configuration of the same weight
    check(PF.conv2d(px, pw, None, padding=1), F.conv2d(x, w2, None, padding=1))
    check(PF.conv2d(px, pw, pb, stride=2), F.conv2d(x, w2, b2, stride=2))
    check(PF.conv2d(px, pw, pb, padding=1), F.conv2d(x, w2, b2, padding=1))


def test_conv2d_new_bias_each_call(backend):
    # bias tensors made and freed in a loop may reuse an address and version
    x = torch.randn(1, 3, 5, 5)
    w = torch.randn(4, 3, 3, 3)
    pw, px = pt(w), pt(x)
    for i in range(6):
        b = torch.full((4,), float(i))
        check(PF.conv2d(px, pw, pt(b)), F.conv2d(x, w, b))


def test_conv2d_fused_clamp_attr(backend):
    # i[7] fused clamp (used by graph fusion): conv + hardtanh in one op
    x = torch.randn(1, 4, 6, 6)
    w = torch.randn(8, 4, 3, 3)
    b = torch.randn(8)
    table = _C.op_table()
    got = _C.call(table["conv2d"][0], (pt(x), pt(w), pt(b)), (1, 1, 1, 1, 1, 1, 1, 1),
                  (0.0, 6.0))
    check(got, F.relu6(F.conv2d(x, w, b, padding=1)))


@pytest.mark.parametrize("kind", ["dense", "depthwise", "grouped", "transposed"])
def test_conv2d_same_bits_any_thread_count(kind):
    x = pt(torch.randn(2, 16, 15, 15))
    if kind == "transposed":
        w = pt(torch.randn(16, 8, 3, 3))
        run = lambda: PF.conv_transpose2d(x, w, None, 2, 1)  # noqa: E731
    else:
        g = {"dense": 1, "depthwise": 16, "grouped": 2}[kind]
        w = pt(torch.randn(32, 16 // g, 3, 3))
        run = lambda: PF.conv2d(x, w, None, 1, 1, 1, g)  # noqa: E731
    prev = ptlite.get_num_threads()
    try:
        ptlite.set_num_threads(1)
        a = run().numpy().copy()
        ptlite.set_num_threads(2)
        b = run().numpy().copy()
    finally:
        ptlite.set_num_threads(prev)
    np.testing.assert_array_equal(a, b)


def test_conv2d_int_tuple_list_args(backend):
    x = torch.randn(1, 4, 11, 9)
    w = torch.randn(4, 2, 3, 2)
    check(PF.conv2d(pt(x), pt(w), None, [2, 1], (1, 0), [1, 2], 2),
          F.conv2d(x, w, None, [2, 1], (1, 0), [1, 2], 2))
    check(PF.conv2d(pt(x), pt(w), None, (2,), [1], 1, 2), F.conv2d(x, w, None, (2,), [1], 1, 2))


# ---- conv1d -----------------------------------------------------------------------------
CONV1D = [
    # (n, c, o, g, L, k, stride, padding, dilation, bias)
    (1, 3, 8, 1, 10, 3, 1, 0, 1, True),
    (2, 4, 6, 2, 17, 5, 2, 2, 1, False),
    (2, 8, 8, 8, 9, 3, 1, "same", 2, True),
    (1, 3, 5, 1, 8, 4, 1, "same", 1, True),
    (2, 6, 12, 3, 7, 1, 3, "valid", 1, False),
    (1, 2, 4, 1, 1, 1, 1, 0, 1, True),
]


@pytest.mark.parametrize("cfg", CONV1D)
def test_conv1d(backend, cfg):
    n, c, o, g, L, k, s, p, d, bias = cfg
    x = torch.randn(n, c, L)
    w = torch.randn(o, c // g, k)
    b = torch.randn(o) if bias else None
    got = PF.conv1d(pt(x), pt(w), pt(b) if bias else None, s, p, d, g)
    check(got, F.conv1d(x, w, b, s, p, d, g))
    # unbatched
    got = ptlite.conv1d(pt(x[0]), pt(w), pt(b) if bias else None, s, p, d, g)
    check(got, torch.conv1d(x[0], w, b, s, p, d, g))


def test_conv1d_weight_packed_once_and_invalidated(backend):
    x = torch.randn(2, 4, 12)
    w = torch.randn(5, 4, 3)
    px, pw = pt(x), pt(w)
    a = PF.conv1d(px, pw, padding=1).numpy().copy()
    np.testing.assert_array_equal(a, PF.conv1d(px, pw, padding=1).numpy())
    w2 = torch.randn(5, 4, 3)
    pw.copy_(pt(w2))
    check(PF.conv1d(px, pw, padding=1), F.conv1d(x, w2, padding=1))


# ---- transposed -------------------------------------------------------------------------
CONVT = [
    # (n, c, o_per_group, g, h, w, kh, kw, stride, padding, output_padding, dilation, bias)
    (1, 4, 3, 1, 5, 5, 3, 3, 2, 1, 1, 1, True),
    (2, 4, 2, 2, 4, 6, 3, 2, (2, 1), (1, 0), (1, 0), 1, False),
    (1, 3, 5, 1, 3, 3, 4, 4, 2, 1, 0, 1, True),
    (2, 8, 1, 8, 5, 4, 3, 3, 1, 1, 0, 2, True),
    (1, 2, 3, 1, 4, 4, 3, 3, 1, 0, 1, 2, True),  # output_padding < dilation, >= stride
    (1, 6, 2, 3, 7, 5, 5, 3, 3, 2, 2, 1, False),
    (1, 3, 4, 1, 1, 1, 1, 1, 1, 0, 0, 1, True),
    (2, 16, 8, 1, 6, 6, 2, 2, 2, 0, 0, 1, True),  # U-Net style upsampling
]


@pytest.mark.parametrize("cfg", CONVT)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "slice"])
def test_conv_transpose2d(backend, cfg, layout):
    n, c, og, g, h, w, kh, kw, s, p, op, d, bias = cfg
    x = torch.randn(n, c, h, w)
    wt = torch.randn(c, og, kh, kw)
    b = torch.randn(og * g) if bias else None
    ref = F.conv_transpose2d(x, wt, b, s, p, op, g, d)
    got = PF.conv_transpose2d(make_input(x, layout), pt(wt), pt(b) if bias else None, s, p, op,
                              g, d)
    check(got, ref)
    if backend == "xnnpack":
        assert got.is_contiguous(memory_format=ptlite.channels_last)


def test_conv_transpose2d_unbatched_and_cache(backend):
    x = torch.randn(4, 5, 5)
    w = torch.randn(4, 3, 3, 3)
    px, pw = pt(x), pt(w)
    check(ptlite.conv_transpose2d(px, pw, stride=2), torch.conv_transpose2d(x, w, stride=2))
    w2 = torch.randn(4, 3, 3, 3)
    pw.copy_(pt(w2))
    check(ptlite.conv_transpose2d(px, pw, stride=2), torch.conv_transpose2d(x, w2, stride=2))


def test_conv_transpose1d(backend):
    x = torch.randn(2, 4, 9)
    w = torch.randn(4, 3, 3)
    b = torch.randn(3)
    check(PF.conv_transpose1d(pt(x), pt(w), pt(b), 2, 1, 1),
          F.conv_transpose1d(x, w, b, 2, 1, 1))
    check(ptlite.conv_transpose1d(pt(x[0]), pt(w), None, 3),
          torch.conv_transpose1d(x[0], w, None, 3))


# ---- errors -----------------------------------------------------------------------------
def _torch_message(fn, *args, **kwargs):
    with pytest.raises(Exception) as e:
        fn(*args, **kwargs)
    return type(e.value), str(e.value).split("\n")[0]


ERROR_CASES = [
    # (args builder, expected regex)
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 3, 3, 3)), {}),
     r"conv2d: Given groups=1, weight of size \[8, 3, 3, 3\], expected input\[1, 4, 5, 5\] to "
     r"have 3 channels, but got 4 channels instead"),
    ("conv2d", lambda: ((torch.randn(5, 5), torch.randn(8, 3, 3, 3)), {}),
     r"conv2d: Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of "
     r"size: \[5, 5\]"),
    ("conv2d", lambda: ((torch.randn(1, 3, 2, 2), torch.randn(8, 3, 3, 3)), {}),
     r"conv2d: Calculated padded input size per channel: \(2 x 2\)\. Kernel size: \(3 x 3\)\. "
     r"Kernel size can't be greater than actual input size"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 2, 3, 3)), {"groups": 3}),
     r"Given groups=3, expected weight to be divisible by 3 at dimension 0, but got weight of "
     r"size \[\[8, 2, 3, 3\]\] instead"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)),
                        {"bias": torch.randn(7)}),
     r"Given weight of size \[8, 4, 3, 3\], expected bias to be 1-dimensional with 8 elements, "
     r"but got bias of size \[7\] instead"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)), {"stride": 0}),
     r"non-positive stride is not supported"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)), {"padding": -1}),
     r"negative padding is not supported"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)), {"dilation": 0}),
     r"dilation should be greater than zero"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)), {"groups": 0}),
     r"non-positive groups is not supported"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)),
                        {"stride": 2, "padding": "same"}),
     r"padding='same' is not supported for strided convolutions"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)), {"padding": "foo"}),
     r"Invalid padding string: 'foo'"),
    ("conv2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)),
                        {"stride": (1, 2, 3)}),
     r"expected stride to be a single integer value or a list of 2 values to match the "
     r"convolution dimensions, but got stride=\[1, 2, 3\]"),
    ("conv2d", lambda: ((torch.randn(1, 4, 0, 5), torch.randn(8, 4, 3, 3)), {}),
     r"Calculated padded input size per channel: \(0 x 5\)"),
    ("conv1d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3)), {}),
     r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d, but got input of size: "
     r"\[1, 4, 5, 5\]"),
    ("conv1d", lambda: ((torch.randn(1, 4, 2), torch.randn(8, 4, 3)), {}),
     r"Calculated padded input size per channel: \(2\)\. Kernel size: \(3\)\. Kernel size "
     r"can't be greater than actual input size"),
    ("conv1d", lambda: ((torch.randn(1, 5, 6), torch.randn(8, 4, 3)), {}),
     r"Given groups=1, weight of size \[8, 4, 3\], expected input\[1, 5, 6\] to have 4 "
     r"channels, but got 5 channels instead"),
    ("conv_transpose2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(4, 2, 3, 3)),
                                  {"stride": 2, "output_padding": 2}),
     r"output padding must be smaller than either stride or dilation, but got "
     r"output_padding_height: 2 output_padding_width: 2 stride_height: 2 stride_width: 2 "
     r"dilation_height: 1 dilation_width: 1"),
    ("conv_transpose2d", lambda: ((torch.randn(1, 4, 5, 5), torch.randn(3, 2, 3, 3)), {}),
     r"Given transposed=1, weight of size \[3, 2, 3, 3\], expected input\[1, 4, 5, 5\] to have "
     r"3 channels, but got 4 channels instead"),
    ("conv_transpose2d", lambda: ((torch.randn(1, 4, 2, 2), torch.randn(4, 2, 3, 3)),
                                  {"padding": 3}),
     r"Given input size per channel: \(2 x 2\)\. Calculated output size per channel: "
     r"\(-2 x -2\)\. Output size is too small"),
    ("conv_transpose2d", lambda: ((torch.randn(4, 2), torch.randn(4, 2, 3, 3)), {}),
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv_transpose2d, but got input "
     r"of size: \[4, 2\]"),
    ("conv_transpose2d", lambda: ((torch.randn(1, 4, 2, 2), torch.randn(4, 2, 3, 3)),
                                  {"bias": torch.randn(3)}),
     r"Given transposed=1, weight of size \[4, 2, 3, 3\], expected bias to be 1-dimensional "
     r"with 2 elements, but got bias of size \[3\] instead"),
]


@pytest.mark.parametrize("op,build,pattern", ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_conv_errors_match_torch(backend, op, build, pattern):
    args, kwargs = build()
    torch_type, torch_msg = _torch_message(getattr(F, op), *args, **kwargs)
    # the pattern is torch's own message (minus our "op: " prefix)
    import re
    assert re.search(pattern.replace("conv2d: ", "").replace("conv1d: ", ""), torch_msg), \
        torch_msg
    pargs = tuple(pt(a) for a in args)
    pkwargs = {k: pt(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    with pytest.raises(torch_type, match=pattern) as e:
        getattr(PF, op)(*pargs, **pkwargs)
    assert str(e.value).startswith(op + ": "), str(e.value)


def test_conv2d_dtype_mismatch_names_both(backend):
    x = ptlite.tensor(np.zeros((1, 3, 5, 5), np.float32))
    w = ptlite.tensor(np.zeros((8, 3, 3, 3), np.float16))
    with pytest.raises(RuntimeError, match=r"conv2d: .*float.*Half.*float32.*float16"):
        PF.conv2d(x, w)
    with pytest.raises(RuntimeError):
        F.conv2d(torch.zeros(1, 3, 5, 5), torch.zeros(8, 3, 3, 3).half())
    b = ptlite.tensor(np.zeros(8, np.float16))
    with pytest.raises(RuntimeError, match=r"conv2d: Input type \(float\) and bias type"):
        PF.conv2d(x, ptlite.tensor(np.zeros((8, 3, 3, 3), np.float32)), b)


def test_conv_transpose_padding_string_is_type_error():
    x = ptlite.tensor(np.zeros((1, 4, 2, 2), np.float32))
    w = ptlite.tensor(np.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(TypeError, match="conv_transpose2d"):
        PF.conv_transpose2d(x, w, padding="same")


def test_exports():
    for name in ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"):
        assert callable(getattr(ptlite, name))
        assert callable(getattr(PF, name))
