"""Tensor basics that need no kernels: metadata, zero-copy NumPy, errors."""
import numpy as np
import pytest

import ptlite


def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ptlite.from_numpy(a)
    assert t.shape == (2, 3) and t.dtype is ptlite.float32
    assert np.shares_memory(t.numpy(), a)
    a[0, 0] = 42.0
    assert t.numpy()[0, 0] == 42.0


def test_from_numpy_strided_view_keeps_strides():
    a = np.arange(24, dtype=np.int64).reshape(4, 6)[:, ::2]
    t = ptlite.from_numpy(a)
    assert t.stride() == (6, 2)
    assert not t.is_contiguous()
    np.testing.assert_array_equal(t.numpy(), a)


@pytest.mark.parametrize("npd,pd", [(np.float32, ptlite.float32), (np.float16, ptlite.float16),
                                    (np.int8, ptlite.int8), (np.uint8, ptlite.uint8),
                                    (np.int32, ptlite.int32), (np.int64, ptlite.int64),
                                    (np.bool_, ptlite.bool)])
def test_dtypes_roundtrip(npd, pd):
    a = (np.arange(12) % 3).astype(npd).reshape(3, 4)
    t = ptlite.from_numpy(a)
    assert t.dtype is pd
    assert t.element_size() == a.itemsize
    np.testing.assert_array_equal(t.numpy(), a)


def test_from_numpy_rejects_float64_and_negative_strides():
    with pytest.raises(TypeError, match="float64"):
        ptlite.from_numpy(np.zeros(3))
    with pytest.raises(ValueError, match="negative"):
        ptlite.from_numpy(np.arange(4, dtype=np.float32)[::-1])


def test_tensor_from_lists():
    assert ptlite.tensor([1, 2, 3]).dtype is ptlite.int64
    assert ptlite.tensor([1.0, 2]).dtype is ptlite.float32
    assert ptlite.tensor([True]).dtype is ptlite.bool
    np.testing.assert_array_equal(ptlite.tensor([[1, 2], [3, 4]]).numpy(), [[1, 2], [3, 4]])
    with pytest.raises(ValueError):  # torch: ValueError for ragged nesting
        ptlite.tensor([[1, 2], [3]])


def test_empty_negative_size_raises():
    with pytest.raises(RuntimeError, match="negative dimension"):
        ptlite.empty(2, -3)


def test_size_and_dim_errors():
    t = ptlite.empty(2, 3)
    assert t.size(1) == 3 and t.size(-1) == 3
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.size(2)
    assert repr(t.shape) == "ptlite.Size([2, 3])"


def test_threads_setting():
    n = ptlite.get_num_threads()
    assert n >= 1
    ptlite.set_num_threads(1)
    assert ptlite.get_num_threads() == 1
    ptlite.set_num_threads(n)
    with pytest.raises(ValueError):
        ptlite.set_num_threads(0)
