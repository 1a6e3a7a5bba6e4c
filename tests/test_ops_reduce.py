"""Reductions against torch: sum, mean, amax/amin, max/min, argmax/argmin, var/std,
all/any, count_nonzero over dims, keepdim, dtypes and strided layouts."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import ptlite
from conftest import assert_close

NP = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32,
      "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


def make(shape, dtype="float32", layout="contiguous", low=-5, high=5):
    """(ptlite, torch) views of the same values in the requested memory layout."""
    # a stable seed: hash() of strings differs per process, which made runs irreproducible
    rng = np.random.default_rng(zlib.crc32(repr((shape, dtype, layout)).encode()))
    if dtype == "bool":
        base = rng.random(shape) > 0.5
    elif dtype in ("float32", "float16"):
        base = rng.standard_normal(shape).astype(NP[dtype])
    else:
        base = rng.integers(low if dtype != "uint8" else 0, high, size=shape).astype(NP[dtype])
    if layout == "transposed":  # same logical shape, reversed memory order
        a = np.ascontiguousarray(base.transpose()).transpose()
    elif layout == "sliced":  # every other element along the last dim
        big = np.zeros(shape[:-1] + (shape[-1] * 2,), dtype=base.dtype)
        big[..., ::2] = base
        a = big[..., ::2]
    elif layout == "channels_last":
        a = np.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    else:
        a = base
    assert np.array_equal(a, base)
    return ptlite.from_numpy(a), torch.from_numpy(np.ascontiguousarray(base))


LAYOUTS = ["contiguous", "transposed", "sliced"]
DIMS_3D = [None, 0, 1, 2, -1, (0, 2), (1, 2), (0, 1, 2), (2, 0), [-1, 0], ()]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", DIMS_3D)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reduce_dims_layouts(op, dim, keepdim, layout):
    x, t = make((3, 5, 7), layout=layout)
    if dim is None:
        if op in ("amax", "amin"):
            ours, theirs = getattr(x, op)(keepdim=keepdim), getattr(t, op)(keepdim=keepdim)
        else:
            ours, theirs = getattr(x, op)(), getattr(t, op)()
    else:
        ours = getattr(ptlite, op)(x, dim, keepdim=keepdim)
        theirs = getattr(torch, op)(t, dim, keepdim=keepdim)
    assert_close(ours, theirs)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dim", [(2, 3), (-1, -2), 1, (0, 2, 3), (0, 1), None])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "var"])
def test_reduce_nchw(op, dim, layout):
    """Global average pooling and friends on contiguous and channels-last tensors."""
    x, t = make((2, 8, 5, 6), layout=layout)
    if dim is None:
        assert_close(getattr(x, op)(), getattr(t, op)())
    else:
        assert_close(getattr(x, op)(dim, keepdim=True), getattr(t, op)(dim, keepdim=True))
        assert_close(getattr(x, op)(dim), getattr(t, op)(dim))


@pytest.mark.parametrize("shape", [(300, 1000), (1000, 300), (64, 2048, 3), (5, 70000)])
@pytest.mark.parametrize("dim", [0, -1, None])
def test_reduce_large(shape, dim):
    x, t = make(shape)
    for op in ("sum", "mean", "amax", "amin"):
        if dim is None:
            assert_close(getattr(x, op)(), getattr(t, op)(), rtol=1e-5, atol=1e-3)
        else:
            assert_close(getattr(x, op)(dim), getattr(t, op)(dim), rtol=1e-5, atol=1e-4)
    if dim is not None:
        assert_close(x.var(dim), t.var(dim), rtol=1e-5, atol=1e-5)


def test_sum_accuracy_1e6():
    """A float32 sum of 1e6 values matches the exact (float64) sum to 1e-6 relative."""
    a = (np.random.default_rng(1).random(1_000_000) + 0.5).astype(np.float32)
    exact = a.astype(np.float64).sum()
    got = ptlite.from_numpy(a).sum().item()
    assert abs(got - exact) / exact < 1e-6
    assert abs(got - torch.from_numpy(a).sum().item()) / exact < 1e-5
    # mean of a large channels-last-like column reduction too
    b = a.reshape(1000, 1000)
    np.testing.assert_allclose(ptlite.from_numpy(b).sum(0).numpy(),
                               b.astype(np.float64).sum(0), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8", "bool"])
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_sum_int_bool_to_int64(dtype, dim):
    x, t = make((4, 6), dtype)
    ours = x.sum() if dim is None else x.sum(dim)
    theirs = t.sum() if dim is None else t.sum(dim)
    assert ours.dtype == ptlite.int64
    assert_close(ours, theirs)
    ours = x.amax() if dim is None else x.amax(dim)
    theirs = t.amax() if dim is None else t.amax(dim)
    assert_close(ours, theirs)
    ours = x.amin(keepdim=True) if dim is None else x.amin(dim, keepdim=True)
    theirs = t.amin(keepdim=True) if dim is None else t.amin(dim, keepdim=True)
    assert_close(ours, theirs)


def test_sum_dtype_argument():
    x, t = make((3, 4), "int32")
    assert_close(x.sum(1, dtype=ptlite.float32), t.sum(1, dtype=torch.float32))
    assert_close(ptlite.mean(x, dtype=ptlite.float32), torch.mean(t, dtype=torch.float32))
    f, tf = make((5,), "float32")
    assert_close(f.sum(dtype=ptlite.int64), tf.sum(dtype=torch.int64))
    big = np.full(10, 2**40, dtype=np.int64)
    assert ptlite.from_numpy(big).sum().item() == 10 * 2**40  # exact int64 accumulation


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_float16(dim):
    x, t = make((6, 300), "float16")
    for op in ("sum", "mean", "amax", "amin"):
        ours = getattr(x, op)() if dim is None else getattr(x, op)(dim)
        theirs = getattr(t, op)() if dim is None else getattr(t, op)(dim)
        assert ours.dtype == ptlite.float16
        assert_close(ours, theirs, rtol=2e-3, atol=2e-2)
    ours = x.var() if dim is None else x.var(dim)
    theirs = t.var() if dim is None else t.var(dim)
    assert_close(ours, theirs, rtol=2e-3, atol=1e-3)


def test_zero_dim_and_empty():
    x, t = ptlite.tensor(3.5), torch.tensor(3.5)
    for op in ("sum", "mean", "amax", "amin"):
        assert_close(getattr(x, op)(), getattr(t, op)())
        assert_close(getattr(x, op)(0), getattr(t, op)(0))
        assert_close(getattr(x, op)(-1, keepdim=True), getattr(t, op)(-1, keepdim=True))
    assert_close(x.argmax(), t.argmax())
    assert_close(x.argmax(0), t.argmax(0))
    e, te = ptlite.zeros(0, 3), torch.zeros(0, 3)
    assert_close(e.sum(0), te.sum(0))
    assert_close(e.sum(), te.sum())
    assert_close(e.mean(0), te.mean(0))  # nan
    assert_close(e.sum(1), te.sum(1))  # empty result
    assert_close(e.amax(1), te.amax(1))
    assert_close(e.argmax(1), te.argmax(1))
    with pytest.warns(UserWarning):
        tv = te.var(0)
    assert_close(e.var(0), tv)
    assert_close(ptlite.zeros(0, dtype=ptlite.int64).sum(), torch.zeros(0, dtype=torch.int64).sum())


@pytest.mark.parametrize("op", ["amax", "amin", "argmax", "argmin"])
def test_empty_reduction_errors(op):
    e = ptlite.zeros(0, 3)
    with pytest.raises(IndexError, match=rf"{op}\(\): Expected reduction dim 0 to have non-zero"):
        getattr(e, op)(0)
    with pytest.raises((IndexError, RuntimeError), match="numel\\(\\) == 0|non-zero size"):
        getattr(e, op)()
    with pytest.raises(RuntimeError, match="max\\(\\): Expected reduction dim to be specified"):
        e.max()


def test_max_min_forms():
    x, t = make((4, 5, 6))
    assert_close(x.max(), t.max())
    assert_close(ptlite.min(x), torch.min(t))
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            ours, theirs = x.max(dim, keepdim), t.max(dim, keepdim)
            assert_close(ours.values, theirs.values)
            assert_close(ours.indices, theirs.indices)
            v, i = ptlite.min(x, dim=dim, keepdim=keepdim)
            assert_close(v, torch.min(t, dim=dim, keepdim=keepdim).values)
            assert_close(i, torch.min(t, dim=dim, keepdim=keepdim).indices)
    assert type(x.max(0)).__name__ == "max"


def test_argmax_ties_and_nan():
    a = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [np.nan, 5, np.nan, 1], [-1, -7, -7, np.nan]],
                 dtype=np.float32)
    x, t = ptlite.from_numpy(a), torch.from_numpy(a)
    for dim in (None, 0, 1):
        for op in ("argmax", "argmin"):
            assert_close(getattr(x, op)(dim), getattr(t, op)(dim))
    assert_close(x.amax(1), t.amax(1))
    assert_close(x.amin(0), t.amin(0))
    assert_close(x.max(1).indices, t.max(1).indices)
    assert_close(x.argmax(1, keepdim=True), t.argmax(1, keepdim=True))
    # transposed / strided input: the index is logical, not the memory position
    xt = ptlite.from_numpy(np.ascontiguousarray(a.T).T)
    assert_close(xt.argmax(), t.argmax())
    assert_close(xt.argmin(1), t.argmin(1))
    long = np.random.default_rng(0).standard_normal((3, 1001)).astype(np.float32)
    long[1, 500] = 99
    long[1, 700] = 99
    long[2, 37] = np.nan
    assert_close(ptlite.from_numpy(long).argmax(1), torch.from_numpy(long).argmax(1))
    assert_close(ptlite.from_numpy(long).argmax(), torch.from_numpy(long).argmax())
    i, ti = make((5, 7), "int64", low=0, high=3)
    for dim in (None, 0, 1):
        assert_close(i.argmax(dim), ti.argmax(dim))
        assert_close(i.argmin(dim), ti.argmin(dim))


def test_nan_propagates_in_amax_columns():
    a = np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32)
    a[7, 3] = np.nan
    a[9, 30] = np.nan
    x, t = ptlite.from_numpy(a), torch.from_numpy(a)
    for dim in (0, 1, None):
        assert_close(x.amax(dim) if dim is not None else x.amax(),
                     t.amax(dim) if dim is not None else t.amax())
        assert_close(x.amin(dim) if dim is not None else x.amin(),
                     t.amin(dim) if dim is not None else t.amin())
        assert_close(x.sum(dim) if dim is not None else x.sum(),
                     t.sum(dim) if dim is not None else t.sum())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 2), -1])
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_std(layout, dim, correction):
    x, t = make((4, 6, 9), layout=layout)
    assert_close(ptlite.var(x, dim, correction=correction),
                 torch.var(t, dim, correction=correction), atol=1e-5)
    assert_close(x.std(dim, correction=correction, keepdim=True),
                 t.std(dim, correction=correction, keepdim=True), atol=1e-5)


def test_var_legacy_unbiased_and_precision():
    x, t = make((5, 8))
    assert_close(x.var(1, False), t.var(1, False))
    assert_close(x.var(unbiased=False), t.var(unbiased=False))
    assert_close(ptlite.var(x, False), torch.var(t, False))
    assert_close(x.std(0, True, True), t.std(0, True, True))
    # large mean, small spread: a one-pass formula would cancel catastrophically
    a = (1e4 + np.random.default_rng(0).standard_normal(10000)).astype(np.float32)
    assert_close(ptlite.from_numpy(a).var(), torch.from_numpy(a).var(), rtol=1e-4)


def test_all_any_count_nonzero():
    a = np.array([[0, 1, 2], [3, 4, 5], [0, 0, 0]], dtype=np.float32)
    x, t = ptlite.from_numpy(a), torch.from_numpy(a)
    for dim in (None, 0, 1):
        for op in ("all", "any", "count_nonzero"):
            ours = getattr(ptlite, op)(x) if dim is None else getattr(ptlite, op)(x, dim)
            theirs = getattr(torch, op)(t) if dim is None else getattr(torch, op)(t, dim)
            assert_close(ours, theirs)
    assert_close(x.any(1, keepdim=True), t.any(1, keepdim=True))
    e, te = ptlite.zeros(0, 2), torch.zeros(0, 2)
    assert_close(e.all(), te.all())
    assert_close(e.any(), te.any())
    assert_close(e.all(0), te.all(0))
    assert_close(e.any(0), te.any(0))


def test_out_argument_strided():
    """A caller-provided strided output is written through its strides only."""
    x, t = make((4, 6))
    ob = np.zeros(8, np.float32)
    res = ptlite.amax(x, 1, out=ptlite.from_numpy(ob[::2]))
    np.testing.assert_allclose(ob[::2], t.amax(1).numpy())
    assert np.all(ob[1::2] == 0)
    assert res.shape == (4,)
    os_ = np.zeros((3, 8), np.float32)
    ptlite.sum(x, 1, out=ptlite.from_numpy(os_[1, ::2]))
    # summation order may differ by an ulp of the summands, not of a cancelled result
    np.testing.assert_allclose(os_[1, ::2], t.sum(1).numpy(), rtol=1e-6,
                               atol=1e-6 * float(t.abs().sum(1).max()))
    assert np.count_nonzero(os_[0]) == 0 and np.count_nonzero(os_[2]) == 0


def test_bad_dims():
    x = ptlite.zeros(2, 3)
    with pytest.raises(IndexError, match="out of range"):
        x.sum(5)
    with pytest.raises(IndexError, match="out of range"):
        x.amax((0, -3))
    with pytest.raises(IndexError, match="out of range"):
        x.argmax(2)
    with pytest.raises(IndexError, match="out of range"):
        x.max(-3)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times"):
        x.sum((0, 0))
    with pytest.raises(RuntimeError, match="dim 1 appears multiple times"):
        x.mean((1, -1))


def test_bad_dtypes():
    i = ptlite.zeros(2, 3, dtype=ptlite.int64)
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype.*int64"):
        i.mean()
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype.*int64"):
        ptlite.zeros(3).mean(dtype=ptlite.int64)
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        i.var()
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        i.std()


def test_max_min_of_two_tensors_delegate(monkeypatch):
    """max(a, b) / min(a, b) with a Tensor second argument are maximum / minimum."""
    calls = []
    monkeypatch.setattr(ptlite, "maximum", lambda a, b: calls.append(("max", a, b)) or "mx",
                        raising=False)
    monkeypatch.setattr(ptlite, "minimum", lambda a, b: calls.append(("min", a, b)) or "mn",
                        raising=False)
    a, b = ptlite.zeros(2), ptlite.ones(2)
    assert ptlite.max(a, b) == "mx" and a.max(b) == "mx" and ptlite.max(a, other=b) == "mx"
    assert ptlite.min(a, b) == "mn"
    assert calls[0] == ("max", a, b) and calls[-1] == ("min", a, b)
