"""Quantized elementwise, activation, pooling and resampling ops against torch 2.13
(engine qnnpack): ptlite._ops.qeltwise (quantized add/mul/cat/hardswish/sigmoid/
leaky_relu/batch_norm) and the quint8 paths of relu, hardtanh, clamp, sigmoid, tanh,
leaky_relu, max/avg/adaptive-avg pooling, nearest/bilinear upsampling, mean, cat and
views.

Each comparison checks shape, dtype and qparams exactly, every integer within 1 LSB,
>= 99.9% of them within 1 LSB, and records the exact-match rate, asserted per op
(printed with -s at the end of the session)."""
from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ptlite
import ptlite.nn.functional as PF
from ptlite._ops import qeltwise as Q

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
TQF = torch.ao.nn.quantized.functional

# exact-match statistics per op: [equal, total]
_STATS: dict = defaultdict(lambda: [0, 0])
# exact-match rate each op must reach on this file's sweeps (torch's own rounding
# differs from ours only in its vector-tail / FMA corner cases)
MIN_EXACT = defaultdict(lambda: 1.0, {"bilinear": 0.985, "avg_pool2d": 0.99,
                                      "adaptive_avg_pool2d": 0.99, "mean": 0.99,
                                      })


pytestmark = pytest.mark.usefixtures("qnnpack")  # torch's engine: conftest.py


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\nexact-match rate vs torch (qnnpack):")
    for name, (eq, tot) in sorted(_STATS.items()):
        print(f"  {name:24s} {eq / max(tot, 1):.5f}  ({tot} elements)")
    for name, (eq, tot) in _STATS.items():
        assert eq / max(tot, 1) >= MIN_EXACT[name], (name, eq / tot)


def tq(shape, scale, zp, seed=0, mul=3.0):
    """A torch quint8 tensor from normal data spread over the whole code range."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g) * mul
    return torch.quantize_per_tensor(x, scale, zp, torch.quint8)


def pq(t: torch.Tensor) -> ptlite.Tensor:
    """The same integers and qparams in ptlite (contiguous)."""
    d = t.dequantize().contiguous().numpy()
    return ptlite.quantize_per_tensor(ptlite.tensor(d), t.q_scale(), t.q_zero_point(),
                                      ptlite.quint8)


def torch4d(fn, x, *args, **kw):
    """torch's qnnpack pools take only 4-d input: run a 3-d one as a batch of 1."""
    if x.dim() == 3:
        return fn(x.unsqueeze(0), *args, **kw).squeeze(0)
    return fn(x, *args, **kw)


def check(name, ours, theirs):
    assert ours.dtype is ptlite.quint8, name
    assert tuple(ours.shape) == tuple(theirs.shape), (name, ours.shape, theirs.shape)
    assert np.float32(ours.q_scale()) == np.float32(theirs.q_scale()), name
    assert ours.q_zero_point() == theirs.q_zero_point(), name
    a = ours.int_repr().numpy().astype(np.int32)
    b = theirs.int_repr().numpy().astype(np.int32)
    diff = np.abs(a - b)
    st = _STATS[name]
    st[0] += int((diff == 0).sum())
    st[1] += diff.size
    if diff.size:
        assert diff.max() <= 1, (name, int(diff.max()))
        assert (diff <= 1).mean() >= 0.999, name


SHAPES = [(2, 3, 9, 9), (1, 4, 8, 8), (2, 5, 10, 7), (1, 1, 1, 1), (3, 16, 5, 6)]
QPARAMS = [(0.05, 128), (0.1, 3), (0.02, 250), (0.013, 0)]


def layouts(t: torch.Tensor):
    """(name, torch tensor, ptlite tensor) in contiguous, channels-last and
    non-contiguous (transposed / sliced) forms holding the same values."""
    p = pq(t)
    yield "contig", t, p
    if t.dim() == 4:
        yield ("channels_last", t.contiguous(memory_format=torch.channels_last),
               p.contiguous(memory_format=ptlite.channels_last))
        yield "transposed", t.transpose(2, 3), p.transpose(2, 3)
        if t.shape[3] > 2:
            yield "sliced", t[:, :, :, ::2], p[:, :, :, ::2]


# ---- quantized add / mul ----------------------------------------------------------
BIN_CASES = [
    ((2, 3, 9, 9), (2, 3, 9, 9)), ((4, 3, 33, 17), (4, 3, 33, 17)),
    ((2, 3, 9, 9), (3, 1, 9)), ((2, 3, 9, 9), (1, 3, 1, 1)), ((5, 7), (7,)),
    ((3, 1, 4), (1, 5, 1)), ((6,), (6,)), ((2, 0, 3), (2, 0, 3)),
]
BIN_QP = [(0.1, 3, 0.1, 250, 0.2, 7), (0.05, 128, 0.1, 128, 0.1, 128),
          (0.013, 100, 0.07, 20, 0.05, 200), (0.3, 0, 0.7, 255, 0.9, 0),
          (0.02, 128, 0.02, 128, 0.08, 255)]


@pytest.mark.parametrize("op", ["add", "add_relu", "mul", "mul_relu"])
@pytest.mark.parametrize("sa,sb", BIN_CASES)
@pytest.mark.parametrize("qp", BIN_QP)
def test_qbinary(backend, op, sa, sb, qp):
    a_s, a_z, b_s, b_z, o_s, o_z = qp
    ta, tb = tq(sa, a_s, a_z, 1), tq(sb, b_s, b_z, 2)
    try:
        theirs = getattr(torch.ops.quantized, op)(ta, tb, o_s, o_z)
    except RuntimeError:
        # QNNPACK refuses some (scale ratio, relu range) combinations; ptlite computes them
        pytest.skip("torch's QNNPACK rejects these qparams")
    ours = getattr(Q, op)(pq(ta), pq(tb), o_s, o_z)
    check("q." + op, ours, theirs)


@pytest.mark.parametrize("op", ["add", "add_relu", "mul"])
def test_qbinary_layouts(backend, op):
    ta, tb = tq((2, 8, 6, 5), 0.05, 100, 3), tq((2, 8, 6, 5), 0.08, 140, 4)
    for (name, a, pa), (_, b, pb) in zip(layouts(ta), layouts(tb)):
        theirs = getattr(torch.ops.quantized, op)(a, b, 0.1, 90)
        ours = getattr(Q, op)(pa, pb, 0.1, 90)
        check("q." + op, ours, theirs)
        if name == "channels_last":
            assert ours.is_contiguous(memory_format=ptlite.channels_last)


def test_qbinary_output_reused_across_runs(backend):
    """The qparams attached to an output are those of the latest run."""
    from ptlite._ops.table import call, op_id
    ta, tb = tq((3, 4), 0.05, 100, 3), tq((3, 4), 0.08, 140, 4)
    out = Q.add(pq(ta), pq(tb), 0.1, 90)
    call(op_id("quantized_add"), (pq(ta), pq(tb)), (0, 17), (0.3,), out)
    check("q.add", out, torch.ops.quantized.add(ta, tb, 0.3, 17))


# ---- quantized cat -----------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, 3])
@pytest.mark.parametrize("qp", [(0.05, 128), (0.1, 3), (0.02, 250)])
def test_qcat(backend, dim, qp):
    xs = [tq((2, 3, 4, 5), 0.05, 128, 1), tq((2, 3, 4, 5), 0.1, 3, 2),
          tq((2, 3, 4, 5), 0.02, 250, 3)]
    theirs = torch.ops.quantized.cat(xs, dim, qp[0], qp[1])
    ours = Q.cat([pq(x) for x in xs], qp[0], qp[1], dim)
    check("q.cat", ours, theirs)
    # torch.cat of quantized tensors: the first input's qparams
    check("cat", ptlite.cat([pq(x) for x in xs], dim), torch.cat(xs, dim))


def test_qcat_layouts(backend):
    a, b = tq((2, 3, 4, 5), 0.05, 128, 1), tq((2, 3, 4, 5), 0.1, 3, 2)
    for (_, ta, pa), (_, tb, pb) in zip(layouts(a), layouts(b)):
        check("q.cat", Q.cat([pa, pb], 0.07, 77, 1), torch.ops.quantized.cat([ta, tb], 1, 0.07, 77))


# ---- table ops: hardswish, sigmoid, leaky_relu --------------------------------------
def all_codes(scale, zp):
    return torch._make_per_tensor_quantized_tensor(
        torch.arange(256, dtype=torch.uint8).reshape(4, 64), scale, zp)


IN_QP = [(0.05, 128), (0.1, 3), (0.0234, 77), (0.2, 250), (0.004, 0), (1.0, 128)]
OUT_QP = [(0.03, 100), (0.02, 250), (0.05, 0), (0.2, 128)]


@pytest.mark.parametrize("iqp", IN_QP)
@pytest.mark.parametrize("oqp", OUT_QP)
def test_qhardswish_every_code(backend, iqp, oqp):
    x = all_codes(*iqp)
    check("q.hardswish", Q.hardswish(pq(x), *oqp), TQF.hardswish(x, *oqp))


@pytest.mark.parametrize("iqp", IN_QP)
def test_qsigmoid_every_code(backend, iqp):
    # torch's QNNPACK sigmoid only takes output qparams (1/256, 0)
    x = all_codes(*iqp)
    check("q.sigmoid", Q.sigmoid(pq(x), 1 / 256, 0), torch.ops.quantized.sigmoid(x, 1 / 256, 0))
    check("sigmoid", ptlite.sigmoid(pq(x)), torch.sigmoid(x))
    check("tanh", ptlite.tanh(pq(x)), torch.tanh(x))


@pytest.mark.parametrize("iqp", IN_QP)
@pytest.mark.parametrize("slope", [0.01, 0.1, 0.2, 1.5])
def test_qleaky_relu_every_code(backend, iqp, slope):
    x = all_codes(*iqp)
    for oqp in OUT_QP:
        check("q.leaky_relu", Q.leaky_relu(pq(x), slope, scale=oqp[0], zero_point=oqp[1]),
              TQF.leaky_relu(x, slope, scale=oqp[0], zero_point=oqp[1]))
    check("q.leaky_relu", Q.leaky_relu(pq(x), slope), TQF.leaky_relu(x, slope))
    check("leaky_relu", PF.leaky_relu(pq(x), slope), F.leaky_relu(x, slope))


@pytest.mark.parametrize("shape", SHAPES)
def test_qunary_layouts(backend, shape):
    t = tq(shape, 0.05, 120, 7)
    for _, x, px in layouts(t):
        check("q.hardswish", Q.hardswish(px, 0.04, 110), TQF.hardswish(x, 0.04, 110))
        check("q.sigmoid", Q.sigmoid(px, 1 / 256, 0), torch.ops.quantized.sigmoid(x, 1 / 256, 0))
        check("q.leaky_relu", Q.leaky_relu(px, 0.1, scale=0.06, zero_point=30),
              TQF.leaky_relu(x, 0.1, scale=0.06, zero_point=30))
        ours = Q.hardswish(px, 0.04, 110)
        if px.is_contiguous(memory_format=ptlite.channels_last) and shape[1] > 1:
            assert ours.is_contiguous(memory_format=ptlite.channels_last)


def test_qleaky_relu_inplace(backend):
    x = all_codes(0.1, 3)
    px = pq(x)
    r = Q.leaky_relu(px, 0.2, inplace=True)
    assert r is px
    check("q.leaky_relu", px, TQF.leaky_relu(x, 0.2))


# ---- batch norm ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3, 9, 9), (1, 16, 5, 6), (4, 1, 3, 3), (2, 5, 7)])
@pytest.mark.parametrize("qp", [(0.05, 128, 0.03, 100), (0.1, 3, 0.2, 7), (0.02, 250, 0.05, 0)])
@pytest.mark.parametrize("relu", [False, True])
def test_qbatch_norm(backend, shape, qp, relu):
    s, z, os_, oz = qp
    C = shape[1]
    g = torch.Generator().manual_seed(C)
    w, b = torch.rand(C, generator=g) + 0.5, torch.randn(C, generator=g)
    m, v = torch.randn(C, generator=g), torch.rand(C, generator=g) + 0.1
    x = tq(shape, s, z, 9)
    pt = lambda t: ptlite.tensor(t.numpy())  # noqa: E731
    tqo = torch.ops.quantized
    fn = {(4, False): tqo.batch_norm2d, (4, True): tqo.batch_norm2d_relu,
          (3, False): tqo.batch_norm1d, (3, True): tqo.batch_norm1d_relu}
    theirs = fn[(len(shape), relu)](x, w, b, m, v, 1e-5, os_, oz)
    ours = (Q._batch_norm_relu if relu else Q.batch_norm)(pq(x), pt(w), pt(b), pt(m), pt(v), 1e-5,
                                                           os_, oz)
    check("q.batch_norm", ours, theirs)
    if len(shape) == 4:
        xc = x.contiguous(memory_format=torch.channels_last)
        ours = (Q._batch_norm_relu if relu else Q.batch_norm)(
            pq(x).contiguous(memory_format=ptlite.channels_last), pt(w), pt(b), pt(m), pt(v),
            1e-5, os_, oz)
        check("q.batch_norm", ours, fn[(4, relu)](xc, w, b, m, v, 1e-5, os_, oz))


# ---- quint8 paths of the float ops ---------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("qp", QPARAMS)
def test_activations(backend, shape, qp):
    t = tq(shape, *qp, seed=11)
    for lname, x, px in layouts(t):
        check("relu", ptlite.relu(px), torch.relu(x))
        # torch 2.13's qnnpack clamp (relu6 / hardtanh / clamp) scrambles a channels-last
        # input (NHWC data returned under NCHW strides): compare with its contiguous result
        xk = t if lname == "channels_last" else x
        check("relu6", PF.relu6(px), F.relu6(xk))
        check("hardtanh", PF.hardtanh(px, -0.5, 0.7), F.hardtanh(xk, -0.5, 0.7))
        check("clamp", ptlite.clamp(px, -0.3, 0.4), torch.clamp(xk, -0.3, 0.4))
        check("clamp", ptlite.clamp(px, 0.1, 100.0), torch.clamp(xk, 0.1, 100.0))
        check("sigmoid", ptlite.sigmoid(px), torch.sigmoid(x))
        check("tanh", ptlite.tanh(px), torch.tanh(x))
        check("leaky_relu", PF.leaky_relu(px, 0.1), F.leaky_relu(x, 0.1))
        # torch's suggest_memory_format: channels-last stays, anything else is contiguous
        assert ptlite.relu(px).stride() == torch.relu(x).stride()


def test_relu_inplace(backend):
    x = tq((2, 3, 4, 5), 0.05, 128, 3)
    px = pq(x)
    r = ptlite.relu_(px)
    assert r is px
    check("relu", px, torch.relu(x))
    px = pq(x)
    PF.relu(px, inplace=True)
    check("relu", px, torch.relu(x))


POOL_SHAPES = [(2, 3, 9, 9), (1, 4, 8, 8), (2, 5, 11, 7), (3, 16, 17, 16), (4, 6, 6)]


@pytest.mark.parametrize("shape", POOL_SHAPES)
@pytest.mark.parametrize("qp", QPARAMS[:3])
def test_max_pool2d(backend, shape, qp):
    t = tq(shape, *qp, seed=21)
    for _, x, px in layouts(t):
        for args in [(3, 2, 1), (2, 2, 0), (3, 1, 1, 2), (2, 2, 0, 1, True), (3, 3, 1, 1, True)]:
            check("max_pool2d", PF.max_pool2d(px, *args), torch4d(F.max_pool2d, x, *args))


@pytest.mark.parametrize("shape", POOL_SHAPES)
@pytest.mark.parametrize("qp", QPARAMS[:3])
def test_avg_pool2d(backend, shape, qp):
    t = tq(shape, *qp, seed=22)
    for _, x, px in layouts(t):
        for k, s, p in [(3, 2, 1), (2, 2, 0), (3, 1, 1), (2, 2, 1), (4, 4, 0)]:
            for ceil in (False, True):
                for cip in (True, False):
                    for div in (None, 3):
                        kw = dict(ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
                        try:
                            theirs = torch4d(F.avg_pool2d, x, k, s, p, **kw)
                        except RuntimeError:
                            continue
                        check("avg_pool2d", PF.avg_pool2d(px, k, s, p, **kw), theirs)


@pytest.mark.parametrize("shape", POOL_SHAPES)
@pytest.mark.parametrize("qp", QPARAMS[:3])
def test_adaptive_avg_pool2d(backend, shape, qp):
    t = tq(shape, *qp, seed=23)
    for _, x, px in layouts(t):
        for o in [1, (3, 4), (2, 2), (4, 4), (5, 3), (8, 8)]:
            check("adaptive_avg_pool2d", PF.adaptive_avg_pool2d(px, o),
                  torch4d(F.adaptive_avg_pool2d, x, o))


@pytest.mark.parametrize("shape", [(2, 3, 9, 9), (1, 4, 8, 8), (2, 5, 10, 7)])
@pytest.mark.parametrize("qp", QPARAMS[:3])
def test_mean(backend, shape, qp):
    t = tq(shape, *qp, seed=24)
    for _, x, px in layouts(t):
        for dims, keep in [([2, 3], False), ([2, 3], True), ([-1, -2], False), (1, False),
                           ([1, 2], True), (3, False)]:
            check("mean", ptlite.mean(px, dims, keepdim=keep), torch.mean(x, dims, keepdim=keep))


@pytest.mark.parametrize("shape", [(2, 3, 9, 9), (1, 4, 8, 8), (2, 5, 10, 7)])
@pytest.mark.parametrize("qp", QPARAMS[:3])
def test_upsample(backend, shape, qp):
    t = tq(shape, *qp, seed=25)
    for _, x, px in layouts(t):
        check("nearest", PF.interpolate(px, scale_factor=2), F.interpolate(x, scale_factor=2))
        for size in [(12, 10), (4, 13), (17, 3), (5, 5)]:
            check("nearest", PF.interpolate(px, size=size), F.interpolate(x, size=size))
            for ac in (False, True):
                check("bilinear", PF.interpolate(px, size=size, mode="bilinear", align_corners=ac),
                      F.interpolate(x, size=size, mode="bilinear", align_corners=ac))


def test_views_keep_qparams(backend):
    x = tq((2, 3, 4, 5), 0.05, 128, 26)
    px = pq(x)
    check("views", ptlite.flatten(px, 1), torch.flatten(x, 1))
    check("views", px.reshape(6, 20), x.reshape(6, 20))
    check("views", px.view(2, 60), x.view(2, 60))
    check("views", px.permute(0, 2, 3, 1).contiguous(), x.permute(0, 2, 3, 1).contiguous())
    check("views", px.transpose(2, 3).reshape(6, 20), x.transpose(2, 3).reshape(6, 20))


def test_outputs_reused_keep_fresh_qparams(backend):
    """A quint8 output buffer reused by a later run carries that run's qparams."""
    from ptlite._ops.table import call, op_id
    a, b = tq((2, 3, 4, 4), 0.05, 128, 1), tq((2, 3, 4, 4), 0.2, 10, 2)
    out = ptlite.sigmoid(pq(a))
    call(op_id("relu"), (pq(b),), None, None, out)
    check("relu", out, torch.relu(b))
    call(op_id("max_pool2d"), (pq(a),), (3, 3, 1, 1, 1, 1), None, out)
    check("max_pool2d", out, F.max_pool2d(a, 3, 1, 1))


# ---- errors ----------------------------------------------------------------------------
def test_errors():
    qa = pq(tq((2, 3), 0.1, 3))
    f = ptlite.randn(2, 3)
    with pytest.raises(RuntimeError, match=r"quantized_add: expected input b to be a quint8"):
        Q.add(qa, f, 0.1, 0)
    with pytest.raises(RuntimeError, match=r"quantized_mul: expected input a .*got float32"):
        Q.mul(f, qa, 0.1, 0)
    qi8 = ptlite.quantize_per_tensor(f, 0.1, 0, ptlite.qint8)
    with pytest.raises(RuntimeError, match=r"quantized_add: .*quint8.*got qint8"):
        Q.add(qa, qi8, 0.1, 0)
    with pytest.raises(RuntimeError, match=r"quantized_add.*\[2, 3\].*\[4\]"):
        Q.add(qa, pq(tq((4,), 0.1, 3)), 0.1, 0)
    with pytest.raises(RuntimeError, match=r"quantized_cat: Sizes of tensors must match.*\[2, 3\]"):
        Q.cat([qa, pq(tq((3, 4), 0.1, 3))], 0.1, 0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_cat: expected tensor 1 to be a quint8"):
        Q.cat([qa, f], 0.1, 0, 0)
    with pytest.raises(RuntimeError, match=r"quantized_hardswish: expected input .*got float32"):
        Q.hardswish(f, 0.1, 0)
    with pytest.raises(RuntimeError, match=r"quantized_sigmoid: .*got qint8"):
        Q.sigmoid(qi8, 0.1, 0)
    with pytest.raises(ValueError, match=r"quantized_add: output zero_point 300"):
        Q.add(qa, qa, 0.1, 300)
    with pytest.raises(ValueError, match=r"quantized_add: output scale"):
        Q.add(qa, qa, 0.0, 3)
    qx = pq(tq((2, 3, 4, 4), 0.1, 3))
    C = ptlite.ones(3)
    with pytest.raises(RuntimeError, match=r"quantized_batch_norm: expected running_mean of shape "
                                           r"\[3\] for input \[2, 3, 4, 4\], got \[4\]"):
        Q.batch_norm(qx, C, C, ptlite.ones(4), C, 1e-5, 0.1, 0)
    with pytest.raises(RuntimeError, match=r"quantized_batch_norm: expected input to be a quint8"):
        Q.batch_norm(ptlite.randn(2, 3, 4, 4), C, C, C, C, 1e-5, 0.1, 0)
    with pytest.raises(RuntimeError, match=r"Both min and max should be specified"):
        ptlite.clamp(qx, min=0.0)
    with pytest.raises(RuntimeError, match=r"gelu: quantized input quint8 is not supported"):
        PF.gelu(qx)
    with pytest.raises(RuntimeError, match=r"adaptive_max_pool2d.*quint8"):
        PF.adaptive_max_pool2d(qx, 2)
    with pytest.raises(RuntimeError, match=r"sum: not supported for quantized"):
        ptlite.sum(qx)


def _run_both(fn):
    """fn() on the fast path and on the reference kernels (int_repr, qparams)."""
    from conftest import BACKENDS
    from ptlite import _C
    prev = _C.get_backend()
    res = {}
    try:
        for name, code in BACKENDS.items():
            _C.set_backend(code)
            r = fn()
            res[name] = (r.int_repr().numpy(), r.q_scale(), r.q_zero_point(), r.stride())
    finally:
        _C.set_backend(prev)
    return res["xnnpack"], res["reference"]


@pytest.mark.parametrize("args", [(3, 2, 1), (2, 2, 0), (3, 1, 1, 2), (3, 2, 1, 3), (2, 1, 0, 1),
                                  (3, 2, 1, 1, True)])
@pytest.mark.parametrize("shape", [(2, 3, 9, 9), (1, 16, 17, 16), (3, 40, 8, 5)])
def test_max_pool2d_fast_matches_reference_and_torch(args, shape):
    """XNNPACK's u8 max pooling (channels-last, no ceil_mode) against the reference
    and torch, dilation and padding included."""
    t = tq(shape, 0.05, 100, 31)
    xc = t.contiguous(memory_format=torch.channels_last)
    px = pq(t).contiguous(memory_format=ptlite.channels_last)
    fast, ref = _run_both(lambda: PF.max_pool2d(px, *args))
    np.testing.assert_array_equal(fast[0], ref[0])
    assert fast[1:] == ref[1:]
    check("max_pool2d", PF.max_pool2d(px, *args), F.max_pool2d(xc, *args))


def test_qeltwise_fast_matches_reference():
    """Every quantized op on the fast path gives the reference's bits (they share the
    integer code; this guards against a future fast path that does not)."""
    a, b = tq((2, 8, 7, 70), 0.05, 100, 3), tq((2, 8, 7, 70), 0.08, 140, 4)
    pa, pb = pq(a), pq(b)
    pc = pq(tq((8, 1, 70), 0.03, 7, 5))
    for fn in (lambda: Q.add(pa, pb, 0.1, 90), lambda: Q.add_relu(pa, pc, 0.1, 90),
               lambda: Q.mul(pa, pc, 0.1, 90), lambda: Q.hardswish(pa, 0.04, 110),
               lambda: Q.sigmoid(pa, 1 / 256, 0), lambda: Q.leaky_relu(pa, 0.1),
               lambda: PF.leaky_relu(pa, 0.1), lambda: ptlite.relu(pa),
               lambda: ptlite.sigmoid(pa), lambda: PF.avg_pool2d(pa, 3, 2, 1),
               lambda: PF.adaptive_avg_pool2d(pa, 1), lambda: ptlite.mean(pa, [2, 3]),
               lambda: PF.interpolate(pa, scale_factor=2, mode="bilinear")):
        fast, ref = _run_both(fn)
        np.testing.assert_array_equal(fast[0], ref[0])
        assert fast[1:] == ref[1:]


def test_empty_inputs(backend):
    """Empty quint8 tensors: empty results with qparams; the mean over an empty dim is
    NaN in torch, which quantizes to 255."""
    x = tq((2, 0, 3), 0.1, 5, 41)
    px = pq(x)
    check("mean", ptlite.mean(px, 1), torch.mean(x, 1))
    check("mean", ptlite.mean(px, 1, keepdim=True), torch.mean(x, 1, keepdim=True))
    # torch's QNNPACK relu / sigmoid / add refuse 0 channels; ptlite returns empty results
    r = ptlite.relu(px)
    assert tuple(r.shape) == (2, 0, 3) and r.q_zero_point() == 5
    r = ptlite.sigmoid(px)
    assert tuple(r.shape) == (2, 0, 3) and r.q_scale() == 1 / 256 and r.q_zero_point() == 0
    r = Q.add(px, px, 0.2, 9)
    assert tuple(r.shape) == (2, 0, 3) and r.q_scale() == 0.2 and r.q_zero_point() == 9
    r = Q.cat([px, px], 0.2, 9, 1)
    assert tuple(r.shape) == (2, 0, 3) and r.q_zero_point() == 9


# ---- dense fast paths: bits equal to the reference at every thread count ------------
def _fast_ref_threads(fn):
    """fn() on the reference kernels, and on the fast path at 1, 2 and 3 threads: every
    fast result must carry the reference's integers, qparams and strides."""
    from conftest import BACKENDS
    from ptlite import _C
    prev_b, prev_t = _C.get_backend(), ptlite.get_num_threads()
    out = []
    try:
        _C.set_backend(BACKENDS["reference"])
        r = fn()
        ref = (r.int_repr().numpy().copy(), r.q_scale(), r.q_zero_point(), r.stride())
        _C.set_backend(BACKENDS["xnnpack"])
        for nt in (1, 2, 3):
            ptlite.set_num_threads(nt)
            r = fn()
            out.append((r.int_repr().numpy().copy(), r.q_scale(), r.q_zero_point(), r.stride()))
    finally:
        _C.set_backend(prev_b)
        ptlite.set_num_threads(prev_t)
    for got in out:
        np.testing.assert_array_equal(got[0], ref[0])
        assert got[1:] == ref[1:]
    return ref


# the resnet shape channels-last, odd sizes (vector tails, chunk tails), a long 1-d row
DENSE_SHAPES = [((1, 64, 56, 56), True), ((1, 3, 7, 13), False), ((2, 5, 3, 37), True),
                ((70001,), False)]
# (a_scale, a_zp, b_scale, b_zp, out_scale, out_zp): several fixed-point shifts
DENSE_QP = [(0.05, 100, 0.08, 140, 0.1, 90), (0.013, 3, 0.9, 250, 0.02, 128),
            (2.0, 128, 0.01, 7, 0.0101, 0)]


def _dense(shape, cl, s, z, seed):
    t = tq(shape, s, z, seed, mul=6.0)
    p = pq(t)
    if cl:
        return t.contiguous(memory_format=torch.channels_last), p.contiguous(
            memory_format=ptlite.channels_last)
    return t, p


@pytest.mark.parametrize("shape,cl", DENSE_SHAPES)
@pytest.mark.parametrize("qp", DENSE_QP)
def test_dense_binary_fast_matches_reference(shape, cl, qp):
    """Same-shape quantized add (QNNPACK fixed point) and mul on one dense layout run
    AVX2 chunks on the threadpool: the reference's bits at 1/2/3 threads, and add
    stays bit-exact with torch."""
    a_s, a_z, b_s, b_z, o_s, o_z = qp
    (ta, pa), (tb, pb) = _dense(shape, cl, a_s, a_z, 1), _dense(shape, cl, b_s, b_z, 2)
    for op in ("add", "add_relu", "mul", "mul_relu"):
        ref = _fast_ref_threads(lambda: getattr(Q, op)(pa, pb, o_s, o_z))
        if cl:
            assert ref[3] == pa.stride()
        if op.startswith("add") and len(shape) == 4:
            theirs = getattr(torch.ops.quantized, op)(ta, tb, o_s, o_z)
            np.testing.assert_array_equal(ref[0], theirs.int_repr().numpy())


@pytest.mark.parametrize("shape,cl", DENSE_SHAPES)
def test_dense_activation_fast_matches_reference(shape, cl):
    """quint8 relu / hardtanh (byte clamps) and the table activations on a dense
    input, incl. in place, at 1/2/3 threads."""
    _, px = _dense(shape, cl, 0.05, 120, 5)
    fns = [lambda: ptlite.relu(px), lambda: PF.hardtanh(px, 0.0, 6.0),
           lambda: PF.hardtanh(px, -1.0, 0.5), lambda: PF.hardtanh(px, 0.3, 0.3),
           lambda: PF.leaky_relu(px, 0.1), lambda: ptlite.sigmoid(px),
           lambda: ptlite.tanh(px), lambda: Q.hardswish(px, 0.04, 110),
           lambda: Q.sigmoid(px, 1 / 256, 0), lambda: Q.leaky_relu(px, 0.1)]
    for fn in fns:
        _fast_ref_threads(fn)
    # in place: a fresh copy per run
    _fast_ref_threads(lambda: ptlite.relu_(px.clone()))
    _fast_ref_threads(lambda: PF.hardtanh(px.clone(), 0.0, 6.0, inplace=True))


@pytest.mark.parametrize("shape,args", [
    ((1, 64, 112, 112), (3, 2, 1)), ((2, 5, 11, 7), (3, 2, 1)), ((1, 3, 17, 16), (2, 2, 0)),
    ((2, 4, 9, 9), (3, 1, 1)), ((3, 6, 13), (3, 2, 1)), ((1, 2, 10, 11), (3, 2, 1, 1, True)),
    ((1, 2, 7, 20), ((2, 3), (1, 2), (1, 1))), ((1, 2, 9, 9), (3, 2, 1, 2))])
def test_max_pool2d_nchw_fast_matches_reference_and_torch(shape, args):
    """quint8 max pooling on contiguous (NCHW) planes, the resnet stem's shape
    included: the reference's bits at 1/2/3 threads and torch's."""
    t = tq(shape, 0.05, 100, 33)
    px = pq(t)
    ref = _fast_ref_threads(lambda: PF.max_pool2d(px, *args))
    check("max_pool2d", PF.max_pool2d(px, *args), torch4d(F.max_pool2d, t, *args))
    assert ref[3] == PF.max_pool2d(px, *args).stride()


@pytest.mark.parametrize("shape", [(1, 1280, 7, 7), (1, 64, 56, 56), (2, 5, 3, 37), (3, 2, 1, 1)])
def test_global_avg_pool_channels_last_fast_matches_reference(shape):
    """quint8 adaptive_avg_pool2d to 1x1 on channels-last input (the classifier head)
    sums channels in int32 rows: the reference's bits at 1/2/3 threads, and torch's."""
    t = tq(shape, 0.05, 100, 35)
    xc = t.contiguous(memory_format=torch.channels_last)
    px = pq(t).contiguous(memory_format=ptlite.channels_last)
    _fast_ref_threads(lambda: PF.adaptive_avg_pool2d(px, 1))
    check("adaptive_avg_pool2d", PF.adaptive_avg_pool2d(px, 1), F.adaptive_avg_pool2d(xc, 1))
