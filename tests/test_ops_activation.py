"""Activations, prelu, softmax and dropout against torch; fast path against
reference; errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ptlite
import ptlite.nn.functional as F
from ptlite import _C

from conftest import assert_close

RNG = np.random.default_rng(7)


def rand(shape, dtype=np.float32, scale=3.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def both(a):
    a = np.asarray(a)
    return torch.from_numpy(a), ptlite.from_numpy(a)


def close(ours, theirs, rtol=1e-5, atol=1e-6):
    if ours.dtype == ptlite.float16:
        rtol, atol = 1e-3, 1e-3
    assert_close(ours, theirs, rtol=rtol, atol=atol)


ACTS = {
    "relu": (lambda m, x: m.relu(x), None),
    "relu6": (lambda m, x: m.relu6(x), None),
    "hardtanh": (lambda m, x: m.hardtanh(x), None),
    "hardtanh_range": (lambda m, x: m.hardtanh(x, -2.0, 0.5), None),
    "sigmoid": (lambda m, x: m.sigmoid(x), None),
    "tanh": (lambda m, x: m.tanh(x), None),
    "gelu": (lambda m, x: m.gelu(x), None),
    "gelu_tanh": (lambda m, x: m.gelu(x, approximate="tanh"), None),
    "silu": (lambda m, x: m.silu(x), None),
    "leaky_relu": (lambda m, x: m.leaky_relu(x), None),
    "leaky_relu_slope": (lambda m, x: m.leaky_relu(x, 0.2), None),
    "elu": (lambda m, x: m.elu(x), None),
    "elu_alpha": (lambda m, x: m.elu(x, alpha=0.5), None),
    "selu": (lambda m, x: m.selu(x), None),
    "celu": (lambda m, x: m.celu(x, alpha=2.0), None),
    "hardswish": (lambda m, x: m.hardswish(x), None),
    "hardsigmoid": (lambda m, x: m.hardsigmoid(x), None),
    "threshold": (lambda m, x: m.threshold(x, 0.5, -1.0), None),
}

SHAPES = [(), (1,), (7,), (3, 4), (2, 3, 4, 5), (0, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_sweep(backend, name, dtype):
    fn = ACTS[name][0]
    for shape in SHAPES:
        a = rand(shape, dtype)
        if a.size >= 4 and dtype is np.float32:
            a.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
        ta, pa = both(a)
        close(fn(F, pa), fn(TF, ta))


@pytest.mark.parametrize("name", sorted(ACTS))
@pytest.mark.parametrize("layout", ["channels_last", "transposed", "sliced"])
def test_activation_layouts(backend, name, layout):
    fn = ACTS[name][0]
    if layout == "channels_last":
        a = rand((2, 5, 6, 8)).transpose(0, 3, 1, 2)
    elif layout == "transposed":
        a = rand((6, 4)).T
    else:
        a = rand((4, 10, 3))[:, ::3]
    ta, pa = both(a)
    got, expect = fn(F, pa), fn(TF, ta)
    close(got, expect)
    if layout != "sliced":
        assert got.stride() == expect.stride()


def test_integer_inputs():
    ti, pi = both(np.array([-3, 0, 2, 7], np.int64))
    close(F.relu(pi), TF.relu(ti))
    close(F.hardtanh(pi, -1, 3), TF.hardtanh(ti, -1, 3))
    close(ptlite.sigmoid(pi), torch.sigmoid(ti))
    close(ptlite.tanh(pi), torch.tanh(ti))
    with pytest.raises(RuntimeError, match="gelu.*Long"):
        F.gelu(pi)


@pytest.mark.parametrize("name,fn", [
    ("relu", lambda m, x: m.relu(x, inplace=True)),
    ("relu_", lambda m, x: m.relu_(x)),
    ("relu6", lambda m, x: m.relu6(x, inplace=True)),
    ("hardtanh", lambda m, x: m.hardtanh(x, inplace=True)),
    ("leaky_relu", lambda m, x: m.leaky_relu(x, 0.1, inplace=True)),
    ("elu", lambda m, x: m.elu(x, inplace=True)),
    ("silu", lambda m, x: m.silu(x, inplace=True)),
    ("hardswish", lambda m, x: m.hardswish(x, inplace=True)),
    ("hardsigmoid", lambda m, x: m.hardsigmoid(x, inplace=True)),
])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_inplace(backend, name, fn, layout):
    a = rand((2, 3, 4, 5)) if layout == "contiguous" else rand((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    tx = torch.from_numpy(a.copy())
    px = ptlite.from_numpy(a)
    ptr = px.data_ptr()
    r = fn(F, px)
    fn(TF, tx)
    assert r is px and px.data_ptr() == ptr
    close(px, tx)
    assert np.shares_memory(a, px.numpy())


def test_tensor_methods(backend):
    a = rand((3, 4))
    ta, pa = both(a.copy())
    close(pa.relu(), ta.relu())
    close(pa.sigmoid(), ta.sigmoid())
    close(pa.tanh(), ta.tanh())
    close(pa.softmax(1), ta.softmax(1))
    close(pa.log_softmax(0), ta.log_softmax(0))
    close(ptlite.softmax(pa, 0), torch.softmax(ta, 0))
    close(ptlite.log_softmax(pa, -1), torch.log_softmax(ta, -1))
    pa.sigmoid_()
    ta.sigmoid_()
    close(pa, ta)
    pa.tanh_()
    ta.tanh_()
    close(pa, ta)


# ---- prelu -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,wsize", [((2, 3, 4, 5), 3), ((2, 3, 4, 5), 1), ((4, 6), 6),
                                         ((4, 6), 1), ((5,), 1), ((2, 3, 7), 3)])
def test_prelu(backend, shape, wsize):
    (tx, px), (tw, pw) = both(rand(shape)), both(rand((wsize,), scale=0.5))
    close(F.prelu(px, pw), TF.prelu(tx, tw))


def test_prelu_channels_last_and_0d_weight(backend):
    a = rand((2, 5, 6, 16)).transpose(0, 3, 1, 2)
    (tx, px), (tw, pw) = both(a), both(rand((16,), scale=0.5))
    got, expect = F.prelu(px, pw), TF.prelu(tx, tw)
    close(got, expect)
    assert got.stride() == expect.stride()
    # weight updated in place: the cached packed operator must not go stale
    pw.mul_(2.0)
    tw.mul_(2.0)
    close(F.prelu(px, pw), TF.prelu(tx, tw))
    (t0, p0) = both(np.array(0.25, np.float32))
    close(F.prelu(px, p0), TF.prelu(tx, t0))


def test_prelu_size_mismatch():
    x, w = ptlite.from_numpy(rand((2, 3, 4))), ptlite.from_numpy(rand((4,)))
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel "
                                           "size. Found parameter numbers = 4 and channel "
                                           "size = 3"):
        F.prelu(x, w)


# ---- softmax -----------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_softmax_dims(backend, fn, dtype):
    for shape in [(), (7,), (3, 4), (2, 3, 4, 5), (0, 3)]:
        a = rand(shape, dtype, scale=5.0)
        ta, pa = both(a)
        for dim in range(-max(len(shape), 1), max(len(shape), 1)):
            close(getattr(F, fn)(pa, dim), getattr(TF, fn)(ta, dim), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_layouts_and_stability(backend, fn):
    cases = [rand((2, 5, 6, 8)).transpose(0, 3, 1, 2), rand((6, 4)).T, rand((4, 10, 3))[:, ::3],
             np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1e4, -999.0]], np.float32),
             np.array([[-np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0], [np.inf, 0.0, 1.0],
                       [-np.inf, -np.inf, -np.inf]], np.float32)]
    for a in cases:
        ta, pa = both(a)
        for dim in range(a.ndim):
            got, expect = getattr(F, fn)(pa, dim), getattr(TF, fn)(ta, dim)
            close(got, expect, rtol=2e-5, atol=1e-6)
            assert got.stride() == expect.stride()


def test_softmax_dtype_and_implicit_dim():
    ta, pa = both(rand((2, 3, 4)))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        got = F.softmax(pa)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expect = TF.softmax(ta)
    close(got, expect)
    th, ph = both(rand((3, 4), np.float16))
    close(F.softmax(ph, 1, dtype=ptlite.float32), TF.softmax(th, 1, dtype=torch.float32))
    close(F.softmin(pa, 2), TF.softmin(ta, 2))


def test_softmax_errors():
    pa = ptlite.from_numpy(rand((2, 3)))
    with pytest.raises(IndexError, match="out of range.*\\[-2, 1\\].*2"):
        F.softmax(pa, 2)
    with pytest.raises(IndexError, match="out of range"):
        F.log_softmax(pa, -3)
    with pytest.raises(RuntimeError, match="softmax.*Long"):
        F.softmax(ptlite.tensor([1, 2]), 0)


# ---- dropout -----------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    ptlite.manual_seed(0)
    x = ptlite.from_numpy(np.full((200, 500), 2.0, np.float32))
    y = F.dropout(x, p).numpy()
    kept = y != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(y[kept], np.float32(2.0) * np.float32(1 / (1 - p)), rtol=1e-6)
    ptlite.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, p).numpy(), y)  # seeded: reproducible


def test_dropout_modes():
    x = ptlite.from_numpy(rand((4, 5)))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((4, 5), np.float32))
    y = ptlite.from_numpy(np.ones((3, 1000), np.float32))
    ptr = y.data_ptr()
    r = F.dropout(y, 0.5, inplace=True)
    assert r is y and y.data_ptr() == ptr
    assert set(np.unique(y.numpy())) <= {0.0, 2.0}
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, "
                                             "but got"):
            F.dropout(x, p)
        with pytest.raises(ValueError):
            TF.dropout(torch.zeros(2), p)
    z = ptlite.from_numpy(np.ones((2, 8, 3, 3), np.float32))
    d = F.dropout2d(z, 0.5).numpy()
    per_channel = d.reshape(2, 8, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert ptlite.dropout(x, 0.5, False) is x


def test_dropout_on_strided_input_keeps_layout():
    a = rand((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    px = ptlite.from_numpy(a)
    y = F.dropout(px, 0.3)
    assert y.stride() == px.stride()
    yn = y.numpy()
    kept = yn != 0
    np.testing.assert_allclose(yn[kept], (a / 0.7)[kept], rtol=1e-6)


# ---- fast path against reference -------------------------------------------------------------
def _run(code, fn):
    prev = _C.get_backend()
    _C.set_backend(code)
    try:
        return fn().numpy().copy()
    finally:
        _C.set_backend(prev)


FAST = {
    "relu": (lambda x: F.relu(x), 0.0), "relu6": (lambda x: F.relu6(x), 0.0),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 2.0), 0.0),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.05), 0.0),
    "sigmoid": (lambda x: F.sigmoid(x), 1e-6), "elu": (lambda x: F.elu(x, 0.7), 1e-6),
    "hardswish": (lambda x: F.hardswish(x), 0.0),
    "softmax": (lambda x: F.softmax(x, -1), 1e-6),
}


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("name", sorted(FAST))
def test_fast_matches_reference(name, layout):
    fn, tol = FAST[name]
    a = rand((4, 32, 40, 48), scale=4.0) if layout == "contiguous" else \
        rand((4, 40, 48, 32), scale=4.0).transpose(0, 3, 1, 2)
    if name != "softmax":
        a.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    x = ptlite.from_numpy(a)
    fast, ref = _run(0, lambda: fn(x)), _run(1, lambda: fn(x))
    if tol == 0.0:
        np.testing.assert_array_equal(fast.view(np.uint32), ref.view(np.uint32))
    else:
        np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol)
    close(ptlite.from_numpy(fast), FAST_TORCH[name](torch.from_numpy(a)), rtol=2e-6, atol=1e-6)


FAST_TORCH = {
    "relu": TF.relu, "relu6": TF.relu6, "hardtanh": lambda x: TF.hardtanh(x, -0.5, 2.0),
    "leaky_relu": lambda x: TF.leaky_relu(x, 0.05), "sigmoid": torch.sigmoid,
    "elu": lambda x: TF.elu(x, 0.7), "hardswish": TF.hardswish,
    "softmax": lambda x: TF.softmax(x, -1),
}


def test_prelu_fast_matches_reference():
    a = rand((2, 24, 30, 64)).transpose(0, 3, 1, 2)  # channels-last: XNNPACK prelu
    x, w = ptlite.from_numpy(a), ptlite.from_numpy(rand((64,), scale=0.3))
    fast, ref = _run(0, lambda: F.prelu(x, w)), _run(1, lambda: F.prelu(x, w))
    np.testing.assert_array_equal(fast, ref)
    x2 = ptlite.from_numpy(rand((500, 64)))
    fast, ref = _run(0, lambda: F.prelu(x2, w)), _run(1, lambda: F.prelu(x2, w))
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_softmax_inner_dims_fast_matches_reference_exactly(dim):
    a = rand((6, 70, 9, 11), scale=6.0)
    a[0, 0, 0, 0] = np.nan
    a[1, :, 2, 3] = -np.inf
    x = ptlite.from_numpy(a)
    fast, ref = _run(0, lambda: F.softmax(x, dim)), _run(1, lambda: F.softmax(x, dim))
    np.testing.assert_array_equal(fast.view(np.uint32), ref.view(np.uint32))
    close(ptlite.from_numpy(fast), TF.softmax(torch.from_numpy(a), dim), rtol=2e-5, atol=1e-6)
