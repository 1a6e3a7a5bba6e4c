"""Elementwise ops against torch: broadcasting, type promotion, layouts, in-place,
fast path against reference, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ptlite
from ptlite import _C

from conftest import assert_close

RNG = np.random.default_rng(1234)

NP = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "int64": np.int64,
      "uint8": np.uint8, "int8": np.int8, "bool": np.bool_}


def rand(shape, dtype, positive=False):
    d = NP[dtype]
    if d is np.bool_:
        return RNG.random(shape) > 0.5
    if np.issubdtype(d, np.integer):
        lo = 1 if positive else (0 if d is np.uint8 else -9)
        return RNG.integers(lo, 10, size=shape).astype(d)
    a = RNG.standard_normal(shape) * 3
    if positive:
        a = np.abs(a) + 0.5
    return a.astype(d)


def both(a):
    """torch and ptlite tensors over the same (possibly strided) NumPy data."""
    a = np.asarray(a)
    return torch.from_numpy(a), ptlite.from_numpy(a)


def close(ours, theirs, dtype=None):
    if ours.dtype == ptlite.float16:
        assert_close(ours, theirs, rtol=1e-3, atol=1e-3)
    else:
        assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


SHAPES = [((), ()), ((1,), (7,)), ((7,), (7,)), ((3, 4), (3, 4)), ((2, 3, 4, 5), (2, 3, 4, 5)),
          ((2, 1, 4), (3, 1)), ((2, 3, 4, 5), (3, 1, 1)), ((0, 3), (3,)), ((3, 4), ())]

ARITH = {
    "add": (lambda m, a, b: m.add(a, b), False),
    "add_alpha": (lambda m, a, b: m.add(a, b, alpha=2), False),
    "sub": (lambda m, a, b: m.sub(a, b), False),
    "mul": (lambda m, a, b: m.mul(a, b), False),
    "div": (lambda m, a, b: m.div(a, b), True),
    "div_trunc": (lambda m, a, b: m.div(a, b, rounding_mode="trunc"), True),
    "div_floor": (lambda m, a, b: m.div(a, b, rounding_mode="floor"), True),
    "floor_divide": (lambda m, a, b: m.floor_divide(a, b), True),
    "remainder": (lambda m, a, b: m.remainder(a, b), True),
    "maximum": (lambda m, a, b: m.maximum(a, b), False),
    "minimum": (lambda m, a, b: m.minimum(a, b), False),
    "pow": (lambda m, a, b: m.pow(a, b), "pow"),
}


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "uint8"])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(ARITH))
def test_binary_sweep(backend, name, shapes, dtype):
    fn, needs_positive = ARITH[name]
    a = rand(shapes[0], dtype)
    if needs_positive == "pow":
        a = rand(shapes[0], dtype, positive=True)
        b = rand(shapes[1], dtype, positive=True)
        if not np.issubdtype(a.dtype, np.floating):
            b = (b % 4).astype(b.dtype)
    else:
        b = rand(shapes[1], dtype, positive=bool(needs_positive))
    if dtype == "uint8" and name in ("sub", "add_alpha"):
        pass  # wraps around in both
    (ta, pa), (tb, pb) = both(a), both(b)
    expect = fn(torch, ta, tb)
    got = fn(ptlite, pa, pb)
    close(got, expect)


@pytest.mark.parametrize("scalar", [2, 2.5, -3, True])
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("op", ["add", "mul", "sub", "rsub", "truediv", "rtruediv", "lt", "eq",
                                "maximum"])
def test_scalar_promotion(backend, op, dtype, scalar):
    a = rand((3, 4), dtype, positive=True)
    ta, pa = both(a)
    fns = {"add": lambda x: x + scalar, "mul": lambda x: x * scalar,
           "sub": lambda x: x - scalar, "rsub": lambda x: scalar - x,
           "truediv": lambda x: x / scalar, "rtruediv": lambda x: scalar / x,
           "lt": lambda x: x < scalar, "eq": lambda x: x == scalar,
           "maximum": lambda x: (torch if isinstance(x, torch.Tensor) else ptlite).maximum(
               x, (torch if isinstance(x, torch.Tensor) else ptlite).tensor(scalar))}
    fn = fns[op]
    try:
        expect = fn(ta)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            fn(pa)
        return
    if op == "rtruediv" and dtype == "bool":
        return  # 1/False is inf in both; covered by the dtype check below
    got = fn(pa)
    close(got, expect)


@pytest.mark.parametrize("da,db", [("int32", "float16"), ("int64", "float32"), ("bool", "int32"),
                                   ("uint8", "int64"), ("float16", "float32"),
                                   ("int32", "int64"), ("uint8", "bool")])
def test_tensor_promotion(da, db):
    for sa, sb in [((3,), (3,)), ((3,), ()), ((), (3,))]:
        (ta, pa), (tb, pb) = both(rand(sa, da, True)), both(rand(sb, db, True))
        close(pa + pb, ta + tb)
        close(pa * pb, ta * tb)
        close(pa / pb, ta / tb)
        close(pa >= pb, ta >= tb)


def test_zero_dim_and_wrapped_rules():
    i32 = ptlite.tensor([1, 2], dtype=ptlite.int32)
    assert (i32 + 5).dtype == ptlite.int32
    assert (i32 + 2.5).dtype == ptlite.float32
    assert (ptlite.tensor([1.0], dtype=ptlite.float16) + 2.5).dtype == ptlite.float16
    assert (i32 + ptlite.tensor(5)).dtype == ptlite.int32  # 0-d int64 does not win
    assert (i32 + ptlite.tensor(2.5, dtype=ptlite.float16)).dtype == ptlite.float16
    assert (ptlite.tensor([True]) + 1).dtype == ptlite.int64
    assert (i32 / 2).dtype == ptlite.float32
    np.testing.assert_array_equal((i32 / 2).numpy(), [0.5, 1.0])


LOGIC = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or"]


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "uint8", "bool"])
@pytest.mark.parametrize("name", LOGIC)
def test_compare_sweep(backend, name, dtype):
    for sa, sb in [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((), (5,)), ((0,), (1,))]:
        a, b = rand(sa, dtype), rand(sb, dtype)
        if a.size and b.size and a.dtype != np.bool_:
            a.flat[0] = b.flat[0]  # some equal elements
        (ta, pa), (tb, pb) = both(a), both(b)
        got = getattr(ptlite, name)(pa, pb)
        assert got.dtype == ptlite.bool
        close(got, getattr(torch, name)(ta, tb))


def test_compare_with_nan_and_scalars():
    a = np.array([np.nan, 1.0, -np.inf, 2.0], np.float32)
    ta, pa = both(a)
    for f in (lambda x: x == x, lambda x: x != 1, lambda x: x < 1.5, lambda x: 2 >= x,
              lambda x: x > -np.inf):
        close(f(pa), f(ta))
    close(ptlite.isnan(pa), torch.isnan(ta))
    close(ptlite.isfinite(pa), torch.isfinite(ta))
    close(ptlite.isinf(pa), torch.isinf(ta))
    close(ptlite.sign(pa), torch.sign(ta))


def test_where(backend):
    c = rand((2, 1, 4), "bool")
    for da, db in [("float32", "float32"), ("int32", "float32"), ("int64", "int64"),
                   ("float16", "float16")]:
        a, b = rand((3, 1), da), rand((2, 3, 4), db)
        (tc, pc), (ta, pa), (tb, pb) = both(c), both(a), both(b)
        close(ptlite.where(pc, pa, pb), torch.where(tc, ta, tb))
    close(ptlite.where(pc, pa, 0.5), torch.where(tc, ta, 0.5))
    close(pa.where(pc, pb), ta.where(tc, tb))
    with pytest.raises(RuntimeError, match="where.*bool"):
        ptlite.where(pa, pa, pb)


def test_logical_ops_on_numbers():
    a = np.array([0.0, 0.5, -1.0, np.nan], np.float32)
    b = np.array([0, 0, 3, 0], np.int64)
    (ta, pa), (tb, pb) = both(a), both(b)
    close(ptlite.logical_and(pa, pb), torch.logical_and(ta, tb))
    close(ptlite.logical_or(pa, pb), torch.logical_or(ta, tb))
    close(ptlite.logical_not(pa), torch.logical_not(ta))
    close(ptlite.logical_xor(pa, pb), torch.logical_xor(ta, tb))
    m = pa > 0
    close(~m, ~(ta > 0))
    close(m & (pb > 0), (ta > 0) & (tb > 0))
    close(m | (pb > 0), (ta > 0) | (tb > 0))
    close(m ^ (pb > 0), (ta > 0) ^ (tb > 0))


UNARY = ["neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "floor", "ceil", "round",
         "logical_not", "square", "sigmoid", "tanh", "relu"]


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_sweep(backend, name, dtype):
    for shape in [(), (1,), (7,), (3, 4), (2, 3, 4, 5), (0, 2)]:
        a = rand(shape, dtype)
        if a.size and NP[dtype] in (np.float32, np.float16):
            a.flat[0] = 2.5  # half-to-even rounding
        ta, pa = both(a)
        try:
            expect = getattr(torch, name)(ta)
        except (RuntimeError, TypeError):
            with pytest.raises((RuntimeError, TypeError)):
                getattr(ptlite, name)(pa)
            continue
        close(getattr(ptlite, name)(pa), expect)


def test_round_half_even_and_special_values(backend):
    a = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1e30, np.nan, np.inf, -0.0, 8388609.0],
                 np.float32)
    ta, pa = both(a)
    for name in ("round", "floor", "ceil", "abs", "neg", "sqrt", "exp", "log"):
        close(getattr(ptlite, name)(pa), getattr(torch, name)(ta))
    close(ptlite.round(pa * 1.0, decimals=2), torch.round(ta, decimals=2))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64"])
def test_clamp(backend, dtype):
    a = rand((4, 5), dtype)
    if NP[dtype] is np.float32:
        a[0, 0] = np.nan
    ta, pa = both(a)
    for kw in ({"min": -1}, {"max": 2}, {"min": -2, "max": 3}, {"min": 3, "max": -2},
               {"min": 0.5}, {"min": -1.5, "max": 2.5}):
        close(ptlite.clamp(pa, **kw), torch.clamp(ta, **kw))
        close(pa.clip(**kw), ta.clip(**kw))
    lo, hi = rand((5,), dtype), rand((4, 1), dtype)
    (tlo, plo), (thi, phi) = both(lo), both(hi)
    close(ptlite.clamp(pa, plo, phi), torch.clamp(ta, tlo, thi))
    close(ptlite.clamp(pa, min=plo), torch.clamp(ta, min=tlo))
    with pytest.raises(RuntimeError, match="At least one"):
        ptlite.clamp(pa)


def test_pow_scalar_exponents(backend):
    a = rand((50,), "float32", positive=True)
    ta, pa = both(a)
    for e in (2, 3, 0.5, -0.5, -1, -2, 1.7, 0):
        close(pa ** e, ta ** e)
    close(2 ** pa, 2 ** ta)
    i = ptlite.tensor([2, 3, -1, 1, 0])
    ti = torch.tensor([2, 3, -1, 1, 0])
    close(i ** 3, ti ** 3)
    close(i ** ptlite.tensor([-1, -2, -3, -1, 2]), ti ** torch.tensor([-1, -2, -3, -1, 2]))
    with pytest.raises(RuntimeError, match="negative integer powers"):
        i ** -1


def test_remainder_and_floor_division_signs(backend):
    a = np.array([7, -7, 7, -7, 0], np.float32)
    b = np.array([3, 3, -3, -3, 5], np.float32)
    (ta, pa), (tb, pb) = both(a), both(b)
    close(pa % pb, ta % tb)
    close(pa // pb, ta // tb)
    close(pa.int() % pb.int(), ta.int() % tb.int())
    close(pa.long() // pb.long(), ta.long() // tb.long())
    close(ptlite.div(pa.long(), pb.long(), rounding_mode="trunc"),
          torch.div(ta.long(), tb.long(), rounding_mode="trunc"))
    close(7 % pb, 7 % tb)
    close(7 // pb, 7 // tb)
    z = np.array([1.0, -1.0, 0.0], np.float32)
    tz, pz = both(z)
    close(pz // 0.0, tz // 0.0)
    close(pz / 0.0, tz / 0.0)


def test_int_division_by_zero_raises():
    a = ptlite.tensor([1, 2, 3])
    for f in (lambda: a // 0, lambda: a % 0, lambda: ptlite.div(a, 0, rounding_mode="trunc"),
              lambda: a // ptlite.tensor([1, 0, 1])):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            f()
    assert np.all(np.isinf((a / 0).numpy()))  # true division is float: inf


def test_bool_arithmetic():
    a, b = np.array([True, False, True]), np.array([True, True, False])
    (ta, pa), (tb, pb) = both(a), both(b)
    close(pa + pb, ta + tb)
    close(pa * pb, ta * tb)
    close(pa / pb, ta / tb)
    with pytest.raises(RuntimeError, match="[Ss]ubtraction.*bool"):
        pa - pb
    with pytest.raises(RuntimeError, match="[Nn]egation.*bool"):
        -pa


def test_integer_wraparound():
    a = np.array([250, 10], np.uint8)
    ta, pa = both(a)
    close(pa + 10, ta + 10)
    close(pa * 3, ta * 3)
    close(pa - 20, ta - 20)
    big = np.array([2**62, -2**62], np.int64)
    tb, pb = both(big)
    close(pb * 4, tb * 4)
    close(pb + pb + pb, tb + tb + tb)


# ---- layouts -------------------------------------------------------------------------
def test_noncontiguous_inputs(backend):
    base = rand((6, 8, 5), "float32")
    other = rand((8, 6), "float32")
    tx, px = both(base[::2, :, 1:4].transpose(1, 0, 2))  # (8, 3, 3), sliced and permuted
    ty, py = both(other.T)  # (6, 8) transposed
    tz, pz = both(other[:, ::2])  # (8, 3) sliced
    tw, pw = both(other[:, 1:4])  # (8, 3) sliced rows
    close(px * 2 + 1, tx * 2 + 1)
    close(px - 1.5, tx - 1.5)
    close(ptlite.maximum(px, ptlite.tensor(0.5)), torch.maximum(tx, torch.tensor(0.5)))
    close(py + py, ty + ty)
    close(ptlite.exp(py), torch.exp(ty))
    close(pz * pw, tz * tw)
    close(pz / pw, tz / tw)
    close(pz > pw, tz > tw)
    close(ptlite.where(pz > 0, pz, pw), torch.where(tz > 0, tz, tw))
    tv, pv = both(base[::2, :, 1:4])  # (3, 8, 3) sliced
    close(pv + pz, tv + tz)  # broadcast of two strided operands


def test_channels_last_preserved(backend):
    nhwc = rand((2, 4, 5, 3), "float32")
    tx, px = both(nhwc.transpose(0, 3, 1, 2))  # logical NCHW, channels-last memory
    assert px.is_contiguous(memory_format=ptlite.channels_last)
    tb, pb = both(rand((3, 1, 1), "float32"))
    tc, pc = both(rand((2, 3, 4, 5), "float32"))
    cases = [(px + pb, tx + tb), (px * 2, tx * 2), (px + px, tx + tx), (ptlite.exp(px),
             torch.exp(tx)), (px > 0, tx > 0), (ptlite.clamp(px, 0, 1), torch.clamp(tx, 0, 1)),
             (px + pc, tx + tc), (pc + px, tc + tx), (pb + px, tb + tx),
             (ptlite.where(px > 0, px, pb), torch.where(tx > 0, tx, tb))]
    for i, (got, expect) in enumerate(cases):
        close(got, expect)
        assert got.stride() == expect.stride(), (i, got.stride(), expect.stride())


def test_permuted_dense_layout_kept():
    a = rand((3, 4, 5), "float32")
    ta, pa = both(a.transpose(2, 0, 1))
    assert (pa + 1).stride() == (ta + 1).stride()
    assert (-pa).stride() == (-ta).stride()


# ---- in place ---------------------------------------------------------------------------
INPLACE = [
    ("add_", lambda x, o: x.add_(o)), ("add_alpha", lambda x, o: x.add_(o, alpha=-0.5)),
    ("sub_", lambda x, o: x.sub_(o)), ("mul_", lambda x, o: x.mul_(o)),
    ("div_", lambda x, o: x.div_(o)), ("iadd", lambda x, o: x.__iadd__(o)),
    ("isub", lambda x, o: x.__isub__(o)), ("imul", lambda x, o: x.__imul__(o)),
    ("itruediv", lambda x, o: x.__itruediv__(o)), ("pow_", lambda x, o: x.abs_().pow_(2)),
    ("clamp_", lambda x, o: x.clamp_(-0.5, 0.5)), ("neg_", lambda x, o: x.neg_()),
    ("abs_", lambda x, o: x.abs_()), ("exp_", lambda x, o: x.exp_()),
    ("floor_", lambda x, o: x.floor_()), ("round_", lambda x, o: x.round_()),
    ("sqrt_", lambda x, o: x.abs_().sqrt_()), ("relu_", lambda x, o: x.relu_()),
    ("sigmoid_", lambda x, o: x.sigmoid_()), ("tanh_", lambda x, o: x.tanh_()),
]


@pytest.mark.parametrize("name,fn", INPLACE, ids=[n for n, _ in INPLACE])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_inplace(backend, name, fn, layout):
    if layout == "contiguous":
        a = rand((2, 3, 4, 5), "float32")
    elif layout == "channels_last":
        a = rand((2, 4, 5, 3), "float32").transpose(0, 3, 1, 2)
    else:
        a = rand((2, 3, 8, 5), "float32")[:, :, ::2]
    a_t = a.copy()
    tx = torch.from_numpy(a_t.copy()) if layout == "contiguous" else torch.from_numpy(a_t)
    px = ptlite.from_numpy(np.array(a, copy=True) if layout == "contiguous" else a)
    other_np = rand((4, 5), "float32", positive=True)
    to, po = both(other_np)
    ptr = px.data_ptr()
    r = fn(px, po)
    fn(tx, to)
    assert r is px
    assert px.data_ptr() == ptr
    close(px, tx)


def test_inplace_dtype_and_shape_errors():
    a = ptlite.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        a.add_(1.5)
    with pytest.raises(RuntimeError, match="can't be cast"):
        a /= 2
    with pytest.raises(RuntimeError, match=r"\[3\].*\[2, 3\]"):
        a.add_(ptlite.tensor([[1, 2, 3], [4, 5, 6]]))
    h = ptlite.tensor([1.0, 2.0], dtype=ptlite.float16)
    h += ptlite.tensor([0.1, 0.2])  # float32 result cast into float16 in place
    th = torch.tensor([1.0, 2.0], dtype=torch.float16)
    th += torch.tensor([0.1, 0.2])
    close(h, th)


# ---- errors ------------------------------------------------------------------------------
def test_broadcast_error_names_shapes():
    a, b = ptlite.tensor(np.zeros((2, 3), np.float32)), ptlite.tensor(np.zeros(4, np.float32))
    with pytest.raises(RuntimeError, match=r"add.*size of tensor a \(3\).*tensor b \(4\).*"
                                           r"\[2, 3\].*\[4\]"):
        a + b
    with pytest.raises(RuntimeError, match=r"eq.*\[2, 3\].*\[4\]"):
        a == b
    with pytest.raises(RuntimeError, match=r"where.*\[2, 3\]"):
        ptlite.where(a > 0, a, b)


def test_bad_args():
    a = ptlite.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="rounding_mode"):
        ptlite.div(a, 2, rounding_mode="round")
    with pytest.raises(RuntimeError, match="alpha"):
        ptlite.add(ptlite.tensor([1, 2]), 1, alpha=0.5)
    with pytest.raises(TypeError):
        a + "x"
    assert (a == None) is False  # noqa: E711 (torch: False, not an error)
    assert a != None  # noqa: E711
    assert hash(a) == id(a)


def test_allclose_and_equal():
    a = np.array([1.0, 2.0, np.nan, np.inf], np.float32)
    b = a + np.float32(1e-7)
    (ta, pa), (tb, pb) = both(a), both(b)
    assert ptlite.allclose(pa, pb) == torch.allclose(ta, tb)
    assert ptlite.allclose(pa, pb, equal_nan=True) == torch.allclose(ta, tb, equal_nan=True)
    assert ptlite.allclose(pa * 0 + 1, pa * 0 + 1.1, atol=0.2, equal_nan=True)
    assert not ptlite.allclose(pa * 0 + 1, pa * 0 + 1.1, equal_nan=True)
    assert ptlite.equal(pa * 0, pa * 0) is False  # nan * 0 is nan
    assert ptlite.equal(ptlite.tensor([1, 2]), ptlite.tensor([1, 2]))
    assert not ptlite.equal(ptlite.tensor([1, 2]), ptlite.tensor([1, 2, 3]))


# ---- fast path against reference -----------------------------------------------------------
def _run(backend_code, fn):
    prev = _C.get_backend()
    _C.set_backend(backend_code)
    try:
        return fn().numpy().copy()
    finally:
        _C.set_backend(prev)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "broadcast", "scalar"])
@pytest.mark.parametrize("name", ["add", "add_alpha", "sub", "mul", "div", "maximum", "minimum",
                                  "neg", "abs", "sqrt", "floor", "ceil", "round", "clamp"])
def test_fast_matches_reference_exactly(name, layout):
    x = rand((4, 32, 48, 40), "float32") * 10  # 245760 elements: threaded, XNNPACK sized
    x.flat[:8] = [np.nan, np.inf, -np.inf, 0.5, 1.5, -2.5, -0.0, 3e38]
    if layout == "channels_last":
        x = rand((4, 48, 40, 32), "float32").transpose(0, 3, 1, 2) * 10
    px = ptlite.from_numpy(x)
    py = {"contiguous": ptlite.from_numpy(rand(x.shape, "float32")),
          "channels_last": ptlite.from_numpy(rand((4, 48, 40, 32), "float32")
                                             .transpose(0, 3, 1, 2)),
          "broadcast": ptlite.from_numpy(rand((32, 1, 1), "float32")),
          "scalar": 1.7}[layout]
    fns = {"add": lambda: px + py, "add_alpha": lambda: ptlite.add(px, py, alpha=0.3),
           "sub": lambda: px - py, "mul": lambda: px * py, "div": lambda: px / py,
           "maximum": lambda: ptlite.maximum(px, py if not isinstance(py, float) else
                                             ptlite.tensor(py)),
           "minimum": lambda: ptlite.minimum(px, py if not isinstance(py, float) else
                                             ptlite.tensor(py)),
           "neg": lambda: -px, "abs": lambda: px.abs(), "sqrt": lambda: px.sqrt(),
           "floor": lambda: px.floor(), "ceil": lambda: px.ceil(), "round": lambda: px.round(),
           "clamp": lambda: px.clamp(-1.0, 2.0)}
    fast, ref = _run(0, fns[name]), _run(1, fns[name])
    np.testing.assert_array_equal(fast.view(np.uint32), ref.view(np.uint32))


def test_fast_path_threaded_results_independent_of_threads():
    x = ptlite.from_numpy(rand((300000,), "float32"))
    y = ptlite.from_numpy(rand((300000,), "float32"))
    prev = ptlite.get_num_threads()
    try:
        ptlite.set_num_threads(1)
        one = (x * y + 1).numpy().copy()
        ptlite.set_num_threads(2)
        two = (x * y + 1).numpy().copy()
    finally:
        ptlite.set_num_threads(prev)
    np.testing.assert_array_equal(one, two)
