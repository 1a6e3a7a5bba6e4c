"""Tensor.__getitem__ / __setitem__ against torch: views for basic indices, copies for
advanced ones, torch's errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ptlite
from conftest import assert_close, from_torch


def pair(shape, dtype=torch.float32):
    if dtype.is_floating_point:
        t = torch.randn(shape, dtype=dtype)
    else:
        t = torch.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    return t, from_torch(t)


def idx_for(ix, module):
    """Builds the index with torch tensors or ptlite tensors from a neutral description."""
    if isinstance(ix, tuple):
        return tuple(idx_for(i, module) for i in ix)
    if isinstance(ix, np.ndarray):
        return module.tensor(ix.tolist(), dtype=module.bool if ix.dtype == np.bool_ else None)
    if isinstance(ix, list) and ix and isinstance(ix[0], list) and isinstance(ix[0][0], bool):
        return module.tensor(ix)  # torch reads a nested bool list as a mask tensor
    return ix


BASIC = [
    0, -1, 2, (0, 1), (1, -2, 3), slice(None), slice(1, 3), slice(None, None, 2),
    slice(-3, None), slice(5, 10), slice(0, 0), slice(-100, 100, 3), (slice(None), 1),
    (Ellipsis, 0), (Ellipsis, slice(1, None, 2)), (0, Ellipsis, 1), (None,), (None, 0),
    (slice(None), None, 1), (Ellipsis, None), (None, Ellipsis, None), Ellipsis,
    (1, slice(None, None, 3), None, -1), (slice(1, 2), slice(None), slice(2, 4)),
    (True,), (False,), (0, 0, 0),
]


def ids(v):
    return repr(v).replace(" ", "")


@pytest.mark.parametrize("ix", BASIC, ids=ids)
@pytest.mark.parametrize("layout", ["contig", "transposed", "sliced"])
def test_basic_indexing_is_a_view_like_torch(ix, layout):
    t, o = pair((3, 4, 5))
    if layout == "transposed":
        t, o = t.transpose(0, 2), o.transpose(0, 2)
    elif layout == "sliced":
        t, o = t[:, ::2], o[:, ::2]
    try:
        want = t[ix]
    except (IndexError, RuntimeError) as e:
        with pytest.raises(type(e)):
            o[ix]
        return
    got = o[ix]
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want, rtol=0, atol=0)
    keep = [i for i, n in enumerate(want.shape) if n != 1]
    if layout == "contig":
        assert got.stride() == want.stride(), (got.stride(), want.stride())
    elif want.numel():
        # a trailing None on a tensor whose last stride is not 1 and bool scalars give
        # size-1 dims whose stride differs from torch's (torch ignores those strides)
        assert [got.stride()[i] for i in keep] == [want.stride()[i] for i in keep]
    is_view = want.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()
    assert (got._storage_ptr == o._storage_ptr) == is_view
    if is_view:
        assert got.storage_offset() == want.storage_offset()
    assert got is not o


def test_integer_index_hot_path_and_iteration():
    t, o = pair((4, 3))
    for i in range(-4, 4):
        assert_close(o[i], t[i], rtol=0, atol=0)
    assert [tuple(r.shape) for r in o] == [tuple(r.shape) for r in t]
    assert_close(o[np.int64(2)], t[2], rtol=0, atol=0)
    assert_close(o[torch.tensor(1).item()], t[1], rtol=0, atol=0)
    assert_close(o[ptlite.tensor(1)], t[torch.tensor(1)], rtol=0, atol=0)


ADVANCED = [
    [0, 2], [-1, 0, 0], np.array([1, 0]), (slice(None), [3, 0, 1]), (Ellipsis, [4, -5]),
    ([0, 2], [1, 3]), ([0, 2], slice(None), [1, 3]), ([[0], [2]], [1, 3]),
    (1, [0, 3]), ([1], slice(1, 3), 2), (slice(None), [[0, 1], [2, 3]]),
    np.array([True, False, True]), (slice(None), np.array([True, False, True, False])),
    np.array([[True, False, True, False], [False] * 4, [True] * 4]),
    (None, [0, 1]), ([], ), (Ellipsis, np.array([False] * 5)),
    ([[True, False, True, True], [False, True, False, False], [True] * 4], Ellipsis, 1),
]


@pytest.mark.parametrize("ix", ADVANCED, ids=ids)
@pytest.mark.parametrize("layout", ["contig", "transposed"])
def test_advanced_indexing_matches_torch(ix, layout):
    t, o = pair((3, 4, 5))
    if layout == "transposed":
        t = t.transpose(1, 2).contiguous().transpose(1, 2)
        o = from_torch(t.transpose(1, 2).contiguous()).transpose(1, 2)
    want = t[idx_for(ix, torch)]
    got = o[idx_for(ix, ptlite)]
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want, rtol=0, atol=0)
    # advanced indexing copies
    if got.numel():
        assert not np.shares_memory(got.numpy(), o.numpy())


def test_index_with_tensors_of_int32_and_int64_and_strided_index():
    t, o = pair((6, 2))
    for d in (torch.int64, torch.int32):
        idx = torch.tensor([5, 0, -2, 3], dtype=d)
        assert_close(o[from_torch(idx)], t[idx], rtol=0, atol=0)
    idx = torch.tensor([5, 0, 1, 3])
    assert_close(o[from_torch(idx)[::2]], t[idx[::2]], rtol=0, atol=0)


def test_mask_of_full_shape_returns_1d_copy():
    t, o = pair((3, 4))
    m = t > 0
    got = o[from_torch(m)]
    assert_close(got, t[m], rtol=0, atol=0)
    assert got.ndim == 1


@pytest.mark.parametrize("ix,exc,pattern", [
    (5, IndexError, r"index 5 is out of bounds for dimension 0 with size 3"),
    (-4, IndexError, r"index -4 is out of bounds for dimension 0 with size 3"),
    ((0, 5), IndexError, r"index 5 is out of bounds for dimension 1 with size 4"),
    ((slice(None), 5), IndexError, r"index 5 is out of bounds for dimension 1 with size 4"),
    ((Ellipsis, 7), IndexError, r"index 7 is out of bounds for dimension 2 with size 5"),
    ((0, 0, 0, 0), IndexError, r"too many indices for tensor of dimension 3"),
    (slice(None, None, -1), ValueError, r"step must be greater than zero"),
    (slice(None, None, 0), ValueError, r"step must be greater than zero"),
    ([0, 3], IndexError, r"index 3 is out of bounds for dimension 0 with size 3"),
    ((slice(None), [5]), IndexError, r"index 5 is out of bounds for dimension 1 with size 4"),
    (np.array([True, False]), IndexError, r"The shape of the mask \[2\] at index 0 does not "
                                          r"match the shape of the indexed tensor \[3, 4, 5\] "
                                          r"at index 0"),
    (1.0, IndexError, r"only integers, slices"),
])
def test_indexing_errors_like_torch(ix, exc, pattern):
    t, o = pair((3, 4, 5))
    with pytest.raises(exc):
        t[idx_for(ix, torch)]
    with pytest.raises(exc, match=pattern):
        o[idx_for(ix, ptlite)]


def test_zero_dim_indexing():
    t, o = pair(())
    with pytest.raises(IndexError, match="invalid index of a 0-dim tensor"):
        o[0]
    assert_close(o[None], t[None], rtol=0, atol=0)
    assert_close(o[...], t[...], rtol=0, atol=0)
    assert o[...]._storage_ptr == o._storage_ptr


# ---- __setitem__ -------------------------------------------------------------------
SETS = [
    (0, 1.5), (-1, 2), ((1, 2), -3.0), (slice(1, 3), 7.0), ((slice(None), 0), 4.0),
    ((Ellipsis, slice(None, None, 2)), 9.0), ((0, slice(1, 3)), "row"), (1, "plane"),
    ((slice(None), 1), "bcast"), ((None, 0), "plane_lead1"),
    ([0, 2], 5.0), ((slice(None), [3, 0]), 6.0), (np.array([True, False, True]), 8.0),
    ("mask", -1.0), ("mask", "masked_values"), (([0, 2], [1, 3]), "pair"),
]


def _value(kind, target_shape, module):
    gen = np.random.RandomState(0)
    if kind == "row":
        return module.tensor(gen.randn(5).astype(np.float32).tolist())
    if kind in ("plane", "plane_lead1"):
        v = gen.randn(4, 5).astype(np.float32)
        v = v[None] if kind == "plane_lead1" else v
        return module.tensor(v.tolist())
    if kind == "bcast":
        return module.tensor(gen.randn(5).astype(np.float32).tolist())
    if kind == "masked_values":
        return module.tensor(np.arange(target_shape, dtype=np.float32).tolist())
    if kind == "pair":
        return module.tensor([[1.0] * 5, [2.0] * 5])
    return kind


@pytest.mark.parametrize("ix,value", SETS, ids=ids)
@pytest.mark.parametrize("layout", ["contig", "transposed"])
def test_setitem_matches_torch(ix, value, layout):
    t, o = pair((3, 4, 5))
    if layout == "transposed":
        t = t.transpose(0, 2).contiguous().transpose(0, 2)
        o = from_torch(t.transpose(0, 2).contiguous()).transpose(0, 2)
    if isinstance(ix, str):
        m = t > 0
        ti, oi = m, from_torch(m)
        count = int(m.sum())
    else:
        ti, oi = idx_for(ix, torch), idx_for(ix, ptlite)
        count = None
    ptr, strides = o.data_ptr(), o.stride()
    t[ti] = _value(value, count, torch) if isinstance(value, str) else value
    o[oi] = _value(value, count, ptlite) if isinstance(value, str) else value
    assert_close(o, t, rtol=0, atol=0)
    assert o.data_ptr() == ptr and o.stride() == strides  # written in place


def test_setitem_converts_dtype_and_writes_through_views():
    t, o = pair((2, 3), torch.int64)
    t[0] = 2.7
    o[0] = 2.7
    t[1, :2] = torch.tensor([1.9, -1.9])
    o[1, :2] = ptlite.tensor([1.9, -1.9])
    assert_close(o, t, rtol=0, atol=0)
    base = ptlite.zeros(4, 4)
    v = base[1:3, 1:3]
    v[0, 1] = 5.0
    assert base.numpy()[1, 2] == 5.0
    base[:, 0] = [1.0, 2.0, 3.0, 4.0]
    assert base.numpy()[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_setitem_errors():
    t, o = pair((3, 4))
    with pytest.raises(RuntimeError):
        t[0] = torch.zeros(3)
    with pytest.raises(RuntimeError, match="expand"):
        o[0] = ptlite.zeros(3)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        o[3] = 1.0
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        o[0, 0, 0] = 1.0


def test_writes_bump_the_storage_version():
    """Packed-weight caches key on the version: every write path must bump it."""
    o = ptlite.zeros(3, 4)
    for ix, v in [(0, 1.0), ((slice(None), 1), 2.0), ([0, 2], 3.0),
                  (ptlite.tensor([True, False, True]), 4.0)]:
        before = o._version
        o[ix] = v
        assert o._version > before, ix
    before = o._version
    o.masked_fill_(ptlite.tensor([True, False, False, True]), 5.0)
    assert o._version > before


def test_nested_bool_list_is_a_mask():
    t, o = pair((3, 4, 5))
    m = [[True, False, True, True], [False, True, False, False], [True] * 4]
    assert_close(o[m, ..., 1], t[torch.tensor(m), ..., 1], rtol=0, atol=0)
    assert_close(o[m], t[torch.tensor(m)], rtol=0, atol=0)


def test_numpy_array_indices():
    t, o = pair((3, 4))
    for ix in (np.array([2, 0]), np.array([[True, False, True, True]] * 3), np.int64(1),
               (slice(None), np.array([3, 1]))):
        ti = tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in ix) \
            if isinstance(ix, tuple) else (torch.from_numpy(ix) if isinstance(ix, np.ndarray)
                                           else ix)
        assert_close(o[ix], t[ti], rtol=0, atol=0)
