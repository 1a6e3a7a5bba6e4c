"""Quantized tensors against torch 2.13: quantize_per_tensor / quantize_per_channel
(bit-exact int_repr), dequantize (exact), q_* accessors, views, errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ptlite
from conftest import from_torch

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
torch.backends.quantized.engine = "qnnpack"

QDTYPES = [("quint8", 0, 255), ("qint8", -128, 127), ("qint32", -2**31, 2**31 - 1)]


def _qd(name):
    return getattr(torch, name), getattr(ptlite, name)


def _values(rng, scale, n_ties=200, n_rand=200):
    """Ties (k + 0.5) * scale, their float neighbours, random values at several
    magnitudes and special values."""
    k = rng.integers(-400, 400, size=n_ties)
    ties = ((k + 0.5) * scale).astype(np.float32)
    near = np.nextafter(ties, np.float32(np.inf))
    rand = (rng.normal(size=n_rand) * scale * 10 ** rng.uniform(0, 4, size=n_rand))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 3e38, -3e38, 1e10, -1e10,
                        scale, -scale, 2.5 * scale, -2.5 * scale], dtype=np.float32)
    return np.concatenate([ties, near, rand.astype(np.float32), special]).astype(np.float32)


def _check_q(ours, theirs):
    """Same integers, dtype, shape and exact dequantized values."""
    assert ours.dtype is getattr(ptlite, str(theirs.dtype).split(".")[1])
    assert tuple(ours.shape) == tuple(theirs.shape)
    a, b = ours.int_repr().numpy(), theirs.int_repr().numpy()
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
    da, db = ours.dequantize().numpy(), theirs.dequantize().numpy()
    assert da.dtype == np.float32 and db.dtype == np.float32
    np.testing.assert_array_equal(da, db)  # bit-exact, not within a tolerance


@pytest.mark.parametrize("qname,qmin,qmax", QDTYPES)
def test_quantize_per_tensor_bit_exact(backend, qname, qmin, qmax):
    tq, pq = _qd(qname)
    rng = np.random.default_rng(hash(qname) % 2**32)
    for trial in range(60):
        scale = float(10 ** rng.uniform(-7, 3))
        if trial % 3 == 0:
            scale = float(np.float32(scale))  # float32-representable and not
        lo, hi = (qmin, qmax) if qname != "qint32" else (-10**6, 10**6)
        zp = int(rng.integers(lo, hi + 1))
        x = _values(rng, np.float32(scale))
        theirs = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, tq)
        ours = ptlite.quantize_per_tensor(ptlite.tensor(x), scale, zp, pq)
        _check_q(ours, theirs)
        assert ours.q_zero_point() == theirs.q_zero_point() == zp
        assert np.float32(ours.q_scale()) == np.float32(theirs.q_scale())
        assert ours.qscheme() is ptlite.per_tensor_affine


@pytest.mark.parametrize("qname,qmin,qmax", QDTYPES)
@pytest.mark.parametrize("scale", [1e-45, 1e-40, 1e-300, 0.0, -0.5, 1e30, float("inf"),
                                   float("nan"), 1e-8, 1.0])
def test_quantize_per_tensor_odd_scales(qname, qmin, qmax, scale):
    # torch does not validate the scale: it quantizes with 1/float(scale)
    tq, pq = _qd(qname)
    x = _values(np.random.default_rng(1), np.float32(0.1))
    zp = min(max(3, qmin), qmax)
    theirs = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, tq)
    ours = ptlite.quantize_per_tensor(ptlite.tensor(x), scale, zp, pq)
    np.testing.assert_array_equal(ours.int_repr().numpy(), theirs.int_repr().numpy())


@pytest.mark.parametrize("qname,qmin,qmax", QDTYPES)
def test_quantize_per_tensor_extreme_zero_points(qname, qmin, qmax):
    tq, pq = _qd(qname)
    x = _values(np.random.default_rng(2), np.float32(0.37))
    for zp in (qmin, qmax, 0):
        theirs = torch.quantize_per_tensor(torch.from_numpy(x), 0.37, zp, tq)
        ours = ptlite.quantize_per_tensor(ptlite.tensor(x), 0.37, zp, pq)
        _check_q(ours, theirs)


@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (1,), (7,), (3, 5), (2, 3, 4), (2, 3, 4, 5),
                                   (1, 2, 1, 3, 2)])
@pytest.mark.parametrize("qname", ["quint8", "qint8", "qint32"])
def test_quantize_per_tensor_shapes(shape, qname):
    tq, pq = _qd(qname)
    t = torch.randn(shape) * 3
    theirs = torch.quantize_per_tensor(t, 0.05, 1, tq)
    ours = ptlite.quantize_per_tensor(from_torch(t), 0.05, 1, pq)
    _check_q(ours, theirs)


@pytest.mark.parametrize("kind", ["transpose", "step_slice", "select", "permute", "expanded"])
@pytest.mark.parametrize("qname", ["quint8", "qint8", "qint32"])
def test_quantize_strided_inputs(backend, kind, qname):
    tq, pq = _qd(qname)
    base = torch.randn(4, 6, 5, 3) * 4
    views = {
        "transpose": lambda t: t.transpose(0, 2),
        "step_slice": lambda t: t[:, ::2, 1:],
        "select": lambda t: t[:, 3],
        "permute": lambda t: t.permute(0, 3, 1, 2),
        "expanded": lambda t: t[:, :1].expand(4, 6, 5, 3),
    }
    tv, pv = views[kind](base), views[kind](from_torch(base))
    assert not pv.is_contiguous()
    _check_q(ptlite.quantize_per_tensor(pv, 0.03, 2, pq),
             torch.quantize_per_tensor(tv, 0.03, 2, tq))
    C = tv.shape[1]
    sc = torch.rand(C) * 0.1 + 0.01
    zp = torch.randint(0, 5, (C,))
    _check_q(ptlite.quantize_per_channel(pv, from_torch(sc), from_torch(zp), 1, pq),
             torch.quantize_per_channel(tv, sc, zp, 1, tq))


@pytest.mark.parametrize("axis", [0, 1, 2, 3])
@pytest.mark.parametrize("qname,qmin,qmax", QDTYPES)
def test_quantize_per_channel_bit_exact(backend, axis, qname, qmin, qmax):
    tq, pq = _qd(qname)
    rng = np.random.default_rng(axis * 7 + qmin % 13)
    shape = [3, 4, 5, 6]
    C = shape[axis]
    for trial in range(8):
        scales = (10 ** rng.uniform(-5, 1, size=C)).astype(np.float32)
        lo, hi = (qmin, qmax) if qname != "qint32" else (-10**5, 10**5)
        zps = rng.integers(lo, hi + 1, size=C).astype(np.int64)
        # ties for each channel's own scale, laid out along `axis`
        k = rng.integers(-300, 300, size=shape) + 0.5
        bshape = [1] * 4
        bshape[axis] = C
        x = (k * scales.reshape(bshape)).astype(np.float32)
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, size=20)] = rng.normal(size=20) * 1e3
        flat[:6] = [np.nan, np.inf, -np.inf, -0.0, 3e38, -3e38]
        theirs = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales),
                                            torch.from_numpy(zps), axis, tq)
        ours = ptlite.quantize_per_channel(ptlite.tensor(x), ptlite.tensor(scales),
                                           ptlite.tensor(zps), axis, pq)
        _check_q(ours, theirs)
        assert ours.qscheme() is ptlite.per_channel_affine
        assert ours.q_per_channel_axis() == theirs.q_per_channel_axis() == axis
        ps = ours.q_per_channel_scales()
        assert ps.dtype is ptlite.float32  # torch: float64 (documented difference)
        np.testing.assert_array_equal(ps.numpy(),
                                      theirs.q_per_channel_scales().numpy().astype(np.float32))
        pz = ours.q_per_channel_zero_points()
        assert pz.dtype is ptlite.int64
        np.testing.assert_array_equal(pz.numpy(), theirs.q_per_channel_zero_points().numpy())


@pytest.mark.parametrize("qname", ["quint8", "qint8", "qint32"])
def test_nan_per_channel_nonzero_zero_point(qname):
    # torch's NaN result differs between per-tensor and per-channel paths: mirror both
    tq, pq = _qd(qname)
    x = torch.tensor([[float("nan"), 1.0], [float("nan"), -1.0]])
    sc, zp = torch.tensor([0.1, 0.2]), torch.tensor([3, 5])
    _check_q(ptlite.quantize_per_channel(from_torch(x), from_torch(sc), from_torch(zp), 0, pq),
             torch.quantize_per_channel(x, sc, zp, 0, tq))
    _check_q(ptlite.quantize_per_tensor(from_torch(x), 0.1, 3, pq),
             torch.quantize_per_tensor(x, 0.1, 3, tq))


def test_accessors_and_qschemes():
    x = torch.tensor([[0.1, -0.7, 2.0], [3.0, 0.0, -5.0]])
    q = torch.quantize_per_tensor(x, 0.1, 10, torch.quint8)
    p = ptlite.quantize_per_tensor(from_torch(x), 0.1, 10, ptlite.quint8)
    assert p.q_scale() == q.q_scale() == 0.1
    assert p.q_zero_point() == q.q_zero_point() == 10
    assert isinstance(p.q_zero_point(), int) and isinstance(p.q_scale(), float)
    assert repr(p.qscheme()) == repr(q.qscheme()).replace("torch", "ptlite")
    for name in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                 "per_channel_symmetric", "per_channel_affine_float_qparams"):
        assert repr(getattr(ptlite, name)) == repr(getattr(torch, name)).replace("torch", "ptlite")
    assert p.is_quantized and not from_torch(x).is_quantized
    for name in ("q_per_channel_scales", "q_per_channel_zero_points", "q_per_channel_axis"):
        with pytest.raises(RuntimeError) as te:
            getattr(q, name)()
        with pytest.raises(RuntimeError, match=r"qscheme\(\) == kPerChannelAffine") as pe:
            getattr(p, name)()
        assert str(pe.value) == str(te.value).split("\n")[0]
    qc = torch.quantize_per_channel(x, torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 1, 2]), 1,
                                    torch.qint8)
    pc = ptlite.quantize_per_channel(from_torch(x), [0.1, 0.2, 0.3], [0, 1, 2], 1, ptlite.qint8)
    _check_q(pc, qc)
    for name in ("q_scale", "q_zero_point"):
        with pytest.raises(RuntimeError) as te:
            getattr(qc, name)()
        with pytest.raises(RuntimeError, match=r"qscheme\(\) == kPerTensorAffine") as pe:
            getattr(pc, name)()
        assert str(pe.value) == str(te.value).split("\n")[0]


def test_not_quantized_accessors():
    x = torch.tensor([1.0, 2.0])
    p = from_torch(x)
    for name in ("int_repr", "q_scale", "q_zero_point", "qscheme", "q_per_channel_axis"):
        with pytest.raises(NotImplementedError):
            getattr(x, name)()
        with pytest.raises(NotImplementedError, match=name):
            getattr(p, name)()


def test_dequantize_float_and_lists():
    x = torch.tensor([1.5, -2.0])
    p = from_torch(x)
    assert torch.dequantize(x) is x  # torch returns a float tensor unchanged
    assert ptlite.dequantize(p) is p and p.dequantize() is p
    q = torch.quantize_per_tensor(x, 0.5, 3, torch.qint8)
    pq = ptlite.quantize_per_tensor(p, 0.5, 3, ptlite.qint8)
    outs_t = torch.dequantize([q, q])
    outs_p = ptlite.dequantize([pq, pq])
    assert len(outs_p) == len(outs_t) == 2
    for a, b in zip(outs_p, outs_t):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_quantize_list_overload():
    xs = [torch.tensor([0.3, -1.0]), torch.tensor([7.0])]
    ts = torch.quantize_per_tensor(xs, torch.tensor([0.1, 0.2]), torch.tensor([1, 2]),
                                   torch.quint8)
    ps = ptlite.quantize_per_tensor([from_torch(x) for x in xs], ptlite.tensor([0.1, 0.2]),
                                    ptlite.tensor([1, 2]), ptlite.quint8)
    for a, b in zip(ps, ts):
        _check_q(a, b)


def _raises_like(fn_t, fn_p, exc=RuntimeError, match=None):
    with pytest.raises(exc) as te:
        fn_t()
    with pytest.raises(exc) as pe:
        fn_p()
    msg_t = str(te.value).split("\n")[0]
    if match is None:
        assert str(pe.value) == msg_t
    else:
        assert match in str(pe.value) and match in msg_t


def test_per_tensor_errors():
    x = torch.tensor([1.0, 2.0])
    p = from_torch(x)
    for zp, dt in [(300, "quint8"), (-1, "quint8"), (200, "qint8"), (-129, "qint8"),
                   (2**31, "qint32"), (-2**31 - 1, "qint32")]:
        tq, pq = _qd(dt)
        _raises_like(lambda: torch.quantize_per_tensor(x, 0.1, zp, tq),
                     lambda: ptlite.quantize_per_tensor(p, 0.1, zp, pq))
    # not a quantized dtype
    _raises_like(lambda: torch.quantize_per_tensor(x, 0.1, 0, torch.float),
                 lambda: ptlite.quantize_per_tensor(p, 0.1, 0, ptlite.float32))
    _raises_like(lambda: torch.quantize_per_tensor(x, 0.1, 0, torch.uint8),
                 lambda: ptlite.quantize_per_tensor(p, 0.1, 0, ptlite.uint8))
    # non-float inputs (torch refuses Half too)
    for tdt, pdt in [(torch.int64, ptlite.int64), (torch.int32, ptlite.int32),
                     (torch.float16, ptlite.float16), (torch.uint8, ptlite.uint8)]:
        _raises_like(lambda: torch.quantize_per_tensor(x.to(tdt), 0.1, 0, torch.quint8),
                     lambda: ptlite.quantize_per_tensor(p.to(pdt), 0.1, 0, ptlite.quint8))
    # an already quantized input
    q = torch.quantize_per_tensor(x, 0.1, 0, torch.quint8)
    pq = ptlite.quantize_per_tensor(p, 0.1, 0, ptlite.quint8)
    _raises_like(lambda: torch.quantize_per_tensor(q, 0.1, 0, torch.quint8),
                 lambda: ptlite.quantize_per_tensor(pq, 0.1, 0, ptlite.quint8),
                 NotImplementedError, match="quantize_per_tensor")


def test_per_channel_errors():
    X = torch.randn(2, 3)
    P = from_torch(X)
    s3, z3 = torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 0, 0])
    ps3, pz3 = from_torch(s3), from_torch(z3)
    cases = [
        # scales/zero_points length mismatch
        ((X, torch.tensor([0.1, 0.2]), z3, 0, torch.quint8),
         (P, ptlite.tensor([0.1, 0.2]), pz3, 0, ptlite.quint8)),
        # wrong scales length for the axis
        ((X, s3, z3, 0, torch.quint8), (P, ps3, pz3, 0, ptlite.quint8)),
        # axis out of range
        ((X, s3, z3, 2, torch.quint8), (P, ps3, pz3, 2, ptlite.quint8)),
        ((X, s3, z3, -1, torch.quint8), (P, ps3, pz3, -1, ptlite.quint8)),
        # not a quantized dtype
        ((X, s3, z3, 1, torch.float), (P, ps3, pz3, 1, ptlite.float32)),
        # zero point out of range
        ((X, s3, torch.tensor([0, 300, 0]), 1, torch.quint8),
         (P, ps3, ptlite.tensor([0, 300, 0]), 1, ptlite.quint8)),
        ((X, s3, torch.tensor([0, -129, 0]), 1, torch.qint8),
         (P, ps3, ptlite.tensor([0, -129, 0]), 1, ptlite.qint8)),
        # integer scales, 2-d scales
        ((X, torch.tensor([1, 2, 3]), z3, 1, torch.quint8),
         (P, ptlite.tensor([1, 2, 3]), pz3, 1, ptlite.quint8)),
        ((X, s3[None], z3, 1, torch.quint8), (P, ps3[None], pz3, 1, ptlite.quint8)),
        # integer input
        ((X.int(), s3, z3, 1, torch.quint8), (P.to(ptlite.int32), ps3, pz3, 1, ptlite.quint8)),
        # 0-d input
        ((torch.tensor(3.0), s3[:1], z3[:1], 0, torch.quint8),
         (ptlite.tensor(3.0), ps3[:1], pz3[:1], 0, ptlite.quint8)),
    ]
    for targs, pargs in cases:
        _raises_like(lambda: torch.quantize_per_channel(*targs),
                     lambda: ptlite.quantize_per_channel(*pargs))


def test_int_repr_dequantize_errors_and_c_messages():
    p = ptlite.tensor([1.0, 2.0])
    with pytest.raises(NotImplementedError):
        p.int_repr()
    # the C op itself names the op when given a float tensor
    from ptlite._ops.table import call, op_id
    with pytest.raises(RuntimeError, match="dequantize: expected a quantized tensor, got float32"):
        call(op_id("dequantize"), (p,))
    with pytest.raises(RuntimeError, match="int_repr: expected a quantized tensor, got float32"):
        call(op_id("int_repr"), (p,))


@pytest.mark.parametrize("qname", ["quint8", "qint8", "qint32"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_views_keep_qparams(qname, per_channel):
    tq, pq = _qd(qname)
    x = torch.randn(3, 4, 5) * 3
    if per_channel:
        sc, zp = torch.tensor([0.05, 0.1, 0.2]), torch.tensor([1, 2, 3])
        q = torch.quantize_per_channel(x, sc, zp, 0, tq)
        p = ptlite.quantize_per_channel(from_torch(x), from_torch(sc), from_torch(zp), 0, pq)
    else:
        q = torch.quantize_per_tensor(x, 0.07, 5, tq)
        p = ptlite.quantize_per_tensor(from_torch(x), 0.07, 5, pq)
    # views torch computes sensibly for both schemes (torch refuses transpose/permute of a
    # per-channel tensor and gives unusable axes for flatten/select)
    views = [lambda t: t.reshape(3, 20), lambda t: t.view(3, 2, 10),
             lambda t: t[:, 1:3], lambda t: t[:, :, ::2]]
    if not per_channel:  # torch's select of a per-channel tensor sets axis -1 (unusable)
        views += [lambda t: t[:, -1], lambda t: t.transpose(1, 2), lambda t: t.permute(2, 0, 1),
                  lambda t: t[1:],
                  lambda t: t[1], lambda t: t.select(2, 3), lambda t: t.flatten()]
    for v in views:
        tv, pv = v(q), v(p)
        assert pv.dtype is pq
        assert pv._qparams is not None
        _check_q(pv, tv)
        assert pv.qscheme() is getattr(ptlite, str(tv.qscheme()).split(".")[1])
        if per_channel:
            assert pv.q_per_channel_axis() == tv.q_per_channel_axis()
        else:
            assert pv.q_zero_point() == tv.q_zero_point()
            assert pv.q_scale() == tv.q_scale()


def test_per_channel_permute_moves_axis():
    # torch refuses ("Setting strides is possible only on uniformly quantized tensor");
    # ptlite allows it and moves the axis: values must still dequantize right
    x = torch.randn(3, 4, 5)
    sc, zp = torch.tensor([0.05, 0.1, 0.2, 0.3]), torch.tensor([1, 2, 3, 4])
    q = torch.quantize_per_channel(x, sc, zp, 1, torch.qint8)
    p = ptlite.quantize_per_channel(from_torch(x), from_torch(sc), from_torch(zp), 1, ptlite.qint8)
    with pytest.raises(RuntimeError):
        q.permute(2, 0, 1)
    pv = p.permute(2, 0, 1)
    assert pv.q_per_channel_axis() == 2
    np.testing.assert_array_equal(pv.dequantize().numpy(),
                                  q.dequantize().permute(2, 0, 1).numpy())
    np.testing.assert_array_equal(pv.int_repr().numpy(), q.int_repr().permute(2, 0, 1).numpy())


@pytest.mark.xfail(strict=True, reason="shape.c refuses to slice the channel axis of a "
                   "per-channel tensor; torch slices the scales (reported to the lead)")
def test_per_channel_slice_along_axis():
    x = torch.randn(3, 4)
    sc, zp = torch.tensor([0.05, 0.1, 0.2]), torch.tensor([1, 2, 3])
    q = torch.quantize_per_channel(x, sc, zp, 0, torch.quint8)[1:]
    p = ptlite.quantize_per_channel(from_torch(x), from_torch(sc), from_torch(zp), 0,
                                    ptlite.quint8)[1:]
    _check_q(p, q)


def test_clone_keeps_qparams():
    p = ptlite.quantize_per_tensor(ptlite.tensor([1.0, 2.0]), 0.5, 1, ptlite.quint8)
    c = p.clone()
    assert c._qparams == p._qparams
    t = ptlite.quantize_per_tensor(ptlite.tensor([[1.0, 2.0], [3.0, 4.0]]), 0.5, 1,
                                   ptlite.quint8).t()
    assert t.contiguous()._qparams == t._qparams


def test_preset_output_reuses_and_replaces_qparams():
    # a planned output is reused across runs: the kernel replaces its parameters
    from ptlite._ops.table import call, op_id
    qpt = op_id("quantize_per_tensor")
    x = ptlite.tensor([0.5, -1.0, 2.0])
    out = call(qpt, (x,), (3, ptlite.quint8.code), (0.1,))
    again = call(qpt, (x,), (7, ptlite.quint8.code), (0.25,), out)
    assert again is out or again._qparams == out._qparams
    assert out._qparams == (1, 0, (0.25,), (7,))
    t = torch.quantize_per_tensor(torch.tensor([0.5, -1.0, 2.0]), 0.25, 7, torch.quint8)
    np.testing.assert_array_equal(out.int_repr().numpy(), t.int_repr().numpy())


def test_repr_works():
    x = torch.tensor([1.0, 2.0, -0.5])
    p = ptlite.quantize_per_tensor(from_torch(x), 0.1, 10, ptlite.quint8)
    r = repr(p)
    assert r.startswith("tensor([ 1.0000,  2.0000, -0.5000]") or "1." in r
    assert "dtype=ptlite.quint8" in r and "size=(3,)" in r


def test_repr_matches_torch():
    x = torch.tensor([1.0, 2.0])
    q = torch.quantize_per_tensor(x, 0.1, 10, torch.quint8)
    p = ptlite.quantize_per_tensor(from_torch(x), 0.1, 10, ptlite.quint8)
    assert repr(p) == repr(q).replace("torch.", "ptlite.")


@pytest.mark.parametrize("qname", ["quint8", "qint8", "qint32"])
@pytest.mark.parametrize("scale,zp", [(0.1, 10), (0.5, 0), (1e-3, 3), (0.3, 1)])
def test_qparams_repr_matches_torch_suffix(qname, scale, zp):
    # the helper Tensor.__repr__ should use for the quantization part of the repr
    from ptlite._ops.quant import qparams_repr
    tq, pq = _qd(qname)
    x = torch.tensor([1.0, 2.0])
    q = torch.quantize_per_tensor(x, scale, zp, tq)
    p = ptlite.quantize_per_tensor(from_torch(x), scale, zp, pq)
    assert qparams_repr(p) in repr(q).replace("torch.", "ptlite.")
    assert repr(p.q_scale()) == repr(q.q_scale())


def test_quantize_and_dequantize_keep_channels_last():
    x = np.random.randn(2, 3, 4, 4).astype(np.float32)
    t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    p = ptlite.from_numpy(x).contiguous(memory_format=ptlite.channels_last)
    for qt, qp in ((torch.quantize_per_tensor(t, 0.1, 3, torch.quint8),
                    ptlite.quantize_per_tensor(p, 0.1, 3, ptlite.quint8)),
                   (torch.quantize_per_channel(t, torch.tensor([0.1, 0.2, 0.3]),
                                               torch.tensor([0, 1, 2]), 1, torch.quint8),
                    ptlite.quantize_per_channel(p, ptlite.tensor([0.1, 0.2, 0.3]),
                                                ptlite.tensor([0, 1, 2]), 1, ptlite.quint8))):
        assert qp.stride() == qt.stride() == (48, 1, 12, 3)
        assert qp.dequantize().stride() == qt.dequantize().stride()
        np.testing.assert_array_equal(qp.int_repr().numpy(), qt.int_repr().numpy())
        np.testing.assert_array_equal(qp.dequantize().numpy(), qt.dequantize().numpy())


@pytest.mark.parametrize("dtype,zp", [("quint8", 3), ("qint8", -5), ("quint8", 0)])
@pytest.mark.parametrize("scale", [0.5, 0.37, 1e-3])
def test_quantize_per_tensor_vector_path_matches_torch(backend, dtype, zp, scale):
    """The AVX2 path (fma, round-to-nearest-even, NaN -> qmax) against torch on ties,
    saturation and special values, with a length that leaves a scalar tail."""
    x = (np.random.randn(3 * 37 * 11) * 50).astype(np.float32)
    x[:20] = [np.nan, np.inf, -np.inf, 0.5, 1.5, 2.5, -0.5, -1.5, 1e30, -1e30, 127.5, 128.5,
              255.5, -128.5, 3.4e38, 1e-40, -0.0, 0.0, 254.5, 253.5]
    x[-3:] = [np.nan, 2.5, -1.5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp,
                                         getattr(torch, dtype)).int_repr().numpy()
    got = ptlite.quantize_per_tensor(ptlite.tensor(x), scale, zp,
                                     getattr(ptlite, dtype)).int_repr().numpy()
    np.testing.assert_array_equal(got, want)
