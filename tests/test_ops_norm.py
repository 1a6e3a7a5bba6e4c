"""batch_norm and layer_norm against torch 2.13 (the oracle), on both backends."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ptlite
import ptlite.nn.functional as F
from conftest import assert_close

# the oracle runs single threaded: on a shared 2-core box its thread pool costs ~10 ms a call
torch.set_num_threads(1)


def pt(a):
    return ptlite.tensor(np.asarray(a, dtype=np.float32))


def make(a: np.ndarray, layout: str):
    """ptlite tensor with a's values in the given layout, and the matching torch tensor."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    t = torch.from_numpy(a.copy())
    if layout == "contiguous":
        return pt(a), t
    if layout == "channels_last":
        return (pt(a).contiguous(memory_format=ptlite.channels_last),
                t.contiguous(memory_format=torch.channels_last))
    if layout == "transposed":  # the last two dims swapped in memory
        tr = np.ascontiguousarray(np.swapaxes(a, -1, -2))
        x = ptlite.from_numpy(np.swapaxes(tr, -1, -2))
        return x, torch.from_numpy(tr.copy()).transpose(-1, -2)
    # sliced: every other element of the last dim
    big = np.random.randn(*a.shape[:-1], 2 * a.shape[-1]).astype(np.float32)
    big[..., ::2] = a
    return ptlite.from_numpy(big[..., ::2]), torch.from_numpy(big)[..., ::2]


SHAPES = [(2, 3), (4, 1), (2, 3, 5), (2, 3, 4, 5), (1, 8, 1, 1), (3, 8, 7, 9), (2, 1, 5, 5),
          (2, 3, 2, 3, 4)]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced", "transposed"])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval(backend, layout, affine):
    for shape in SHAPES:
        if layout == "channels_last" and len(shape) != 4:
            continue
        c = shape[1]
        a = np.random.randn(*shape) * 3 + 1
        x, xt = make(a, layout)
        mean = np.random.randn(c).astype(np.float32)
        var = np.random.rand(c).astype(np.float32) + 0.1
        w = np.random.randn(c).astype(np.float32) if affine else None
        b = np.random.randn(c).astype(np.float32) if affine else None
        y = F.batch_norm(x, pt(mean), pt(var), None if w is None else pt(w),
                         None if b is None else pt(b), False, 0.1, 1e-3)
        yt = TF.batch_norm(xt, torch.tensor(mean), torch.tensor(var),
                           None if w is None else torch.tensor(w),
                           None if b is None else torch.tensor(b), False, 0.1, 1e-3)
        assert_close(y, yt, rtol=1e-6, atol=1e-6)
        if len(shape) == 4:
            assert (y.is_contiguous(memory_format=ptlite.channels_last) ==
                    yt.is_contiguous(memory_format=torch.channels_last))
            assert y.is_contiguous() == yt.is_contiguous()


def test_batch_norm_keeps_channels_last(backend):
    a = np.random.randn(2, 16, 5, 6).astype(np.float32)
    x = pt(a).contiguous(memory_format=ptlite.channels_last)
    y = F.batch_norm(x, pt(np.zeros(16)), pt(np.ones(16)))
    assert y.is_contiguous(memory_format=ptlite.channels_last) and not y.is_contiguous()
    assert_close(y, TF.batch_norm(torch.tensor(a), torch.zeros(16), torch.ones(16)))


def test_batch_norm_training_running_stats(backend):
    """Several steps: the outputs and the in-place running stats equal torch's."""
    c = 4
    rm, rv = pt(np.zeros(c)), pt(np.ones(c))
    rmt, rvt = torch.zeros(c), torch.ones(c)
    w, b = np.random.randn(c).astype(np.float32), np.random.randn(c).astype(np.float32)
    for step, shape in enumerate([(8, c, 5, 5), (3, c, 7, 2), (16, c), (2, c, 9)]):
        a = np.random.randn(*shape).astype(np.float32) * (step + 1) + step
        x, xt = make(a, "channels_last" if len(shape) == 4 and step else "contiguous")
        momentum = 0.1 if step < 2 else 0.3
        y = F.batch_norm(x, rm, rv, pt(w), pt(b), training=True, momentum=momentum)
        yt = TF.batch_norm(xt, rmt, rvt, torch.tensor(w), torch.tensor(b), training=True,
                           momentum=momentum)
        assert_close(y, yt, rtol=1e-5, atol=1e-5)
        assert_close(rm, rmt, rtol=1e-6, atol=1e-6)
        assert_close(rv, rvt, rtol=1e-6, atol=1e-6)
    # eval with the learnt stats
    a = np.random.randn(2, c, 3, 3).astype(np.float32)
    assert_close(F.batch_norm(pt(a), rm, rv, pt(w), pt(b)),
                 TF.batch_norm(torch.tensor(a), rmt, rvt, torch.tensor(w), torch.tensor(b)),
                 rtol=1e-5, atol=1e-6)


def test_batch_norm_training_without_running_stats():
    a = np.random.randn(4, 3, 6).astype(np.float32)
    assert_close(F.batch_norm(pt(a), None, None, training=True),
                 TF.batch_norm(torch.tensor(a), None, None, training=True),
                 rtol=1e-5, atol=1e-5)


def test_batch_norm_torch_level_signature():
    a = np.random.randn(2, 3, 4).astype(np.float32)
    w, b = np.random.randn(3).astype(np.float32), np.random.randn(3).astype(np.float32)
    m, v = np.random.randn(3).astype(np.float32), np.random.rand(3).astype(np.float32) + 0.5
    y = ptlite.batch_norm(pt(a), pt(w), pt(b), pt(m), pt(v), False, 0.1, 1e-5, True)
    yt = torch.batch_norm(torch.tensor(a), torch.tensor(w), torch.tensor(b), torch.tensor(m),
                          torch.tensor(v), False, 0.1, 1e-5, True)
    assert_close(y, yt)


def test_batch_norm_float16(backend):
    a = np.random.randn(2, 3, 4, 4).astype(np.float16)
    y = F.batch_norm(ptlite.tensor(a), pt(np.zeros(3)), pt(np.ones(3) * 2))
    assert y.dtype is ptlite.float16
    yt = TF.batch_norm(torch.tensor(a), torch.zeros(3, dtype=torch.float16),
                       torch.ones(3, dtype=torch.float16) * 2)
    np.testing.assert_allclose(y.numpy().astype(np.float32), yt.numpy().astype(np.float32),
                               rtol=1e-3, atol=1e-3)


def test_batch_norm_errors():
    x = pt(np.random.randn(1, 3, 5, 5))
    with pytest.raises(RuntimeError, match=r"running_mean should contain 3 elements not 4.*"
                       r"\[4\].*\[1, 3, 5, 5\]"):
        F.batch_norm(x, pt(np.zeros(4)), pt(np.ones(3)))
    with pytest.raises(RuntimeError, match=r"running_var should contain 3 elements not 2"):
        F.batch_norm(x, pt(np.zeros(3)), pt(np.ones(2)))
    with pytest.raises(RuntimeError, match=r"weight should contain 3 elements not 4"):
        F.batch_norm(x, pt(np.zeros(3)), pt(np.ones(3)), pt(np.ones(4)))
    with pytest.raises(RuntimeError, match=r"bias should contain 3 elements not 4"):
        F.batch_norm(x, pt(np.zeros(3)), pt(np.ones(3)), None, pt(np.ones(4)))
    with pytest.raises(RuntimeError, match=r"running_mean should contain 3 elements not 4"):
        F.batch_norm(x, pt(np.zeros(4)), pt(np.ones(3)), training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm.*\[3\]"):
        F.batch_norm(pt(np.zeros(3)), pt(np.zeros(3)), pt(np.ones(3)))
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(pt(np.zeros((1, 3, 1, 1))), None, None, training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm.*int64"):
        F.batch_norm(ptlite.tensor(np.zeros((2, 3), np.int64)), pt(np.zeros(3)),
                     pt(np.ones(3)))


@pytest.mark.parametrize("layout", ["contiguous", "sliced", "transposed"])
def test_layer_norm(backend, layout):
    for shape, k in [((4, 10), 1), ((2, 3, 16), 1), ((2, 3, 4, 5), 2), ((2, 3, 4, 5), 3),
                     ((5, 1), 1), ((3, 7, 33), 2), ((1, 2, 300), 1)]:
        a = np.random.randn(*shape) * 5 + 3
        x, xt = make(a, layout)
        ns = shape[len(shape) - k:]
        for affine in (False, True):
            w = np.random.randn(*ns).astype(np.float32) if affine else None
            b = np.random.randn(*ns).astype(np.float32) if affine else None
            y = F.layer_norm(x, ns, None if w is None else pt(w), None if b is None else pt(b),
                             1e-5)
            yt = TF.layer_norm(xt, ns, None if w is None else torch.tensor(w),
                               None if b is None else torch.tensor(b), 1e-5)
            assert_close(y, yt, rtol=1e-5, atol=1e-5)
            assert y.is_contiguous()
    # int normalized_shape and the torch-level name
    a = np.random.randn(3, 6).astype(np.float32)
    assert_close(ptlite.layer_norm(pt(a), 6), torch.layer_norm(torch.tensor(a), (6,)),
                 rtol=1e-5, atol=1e-5)


def test_layer_norm_constant_rows_and_empty():
    a = np.ones((3, 8), np.float32) * 7
    assert_close(F.layer_norm(pt(a), (8,)), TF.layer_norm(torch.tensor(a), (8,)))
    e = F.layer_norm(pt(np.zeros((0, 8))), (8,))
    assert e.shape == (0, 8)


def test_layer_norm_errors():
    x = pt(np.random.randn(1, 3, 5, 5))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with "
                       r"shape \[\*, 4\], but got input of size\[1, 3, 5, 5\]"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as "
                       r"normalized_shape, but got weight of shape \[4\] and normalized_shape "
                       r"= \[5\]"):
        F.layer_norm(x, (5,), pt(np.ones(4)))
    with pytest.raises(RuntimeError, match=r"bias of shape \[3\]"):
        F.layer_norm(x, (5,), None, pt(np.ones(3)))
    with pytest.raises(RuntimeError, match=r"at least 1-dimensional"):
        F.layer_norm(x, ())
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*, 1, 3, 5, 5, 5\]"):
        F.layer_norm(x, (1, 3, 5, 5, 5))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_group_norm(backend, layout):
    a = np.random.randn(2, 6, 5, 4) * 3 + 1
    x, xt = make(a, layout)
    w, b = np.random.randn(6).astype(np.float32), np.random.randn(6).astype(np.float32)
    for g in (1, 2, 3, 6):
        assert_close(F.group_norm(x, g, pt(w), pt(b)),
                     TF.group_norm(xt, g, torch.tensor(w), torch.tensor(b)), atol=1e-5)
        assert_close(F.group_norm(x, g), TF.group_norm(xt, g), atol=1e-5)
    a3 = np.random.randn(3, 4, 7).astype(np.float32)
    assert_close(F.group_norm(pt(a3), 2), TF.group_norm(torch.tensor(a3), 2), atol=1e-5)
    with pytest.raises(RuntimeError, match=r"divisible by num_groups, but got input of shape "
                       r"\[2, 6, 5, 4\] and num_groups=4"):
        F.group_norm(x, 4)


def test_instance_norm(backend):
    a = (np.random.randn(2, 6, 5, 4) * 3 + 1).astype(np.float32)
    w, b = np.random.randn(6).astype(np.float32), np.random.randn(6).astype(np.float32)
    rm, rv = pt(np.zeros(6)), pt(np.ones(6))
    rmt, rvt = torch.zeros(6), torch.ones(6)
    for _ in range(2):
        y = F.instance_norm(pt(a), rm, rv, pt(w), pt(b))
        yt = TF.instance_norm(torch.tensor(a), rmt, rvt, torch.tensor(w), torch.tensor(b))
        assert_close(y, yt, atol=1e-5)
        assert_close(rm, rmt, rtol=1e-6, atol=1e-6)
        assert_close(rv, rvt, rtol=1e-6, atol=1e-6)
    assert_close(F.instance_norm(pt(a), rm, rv, use_input_stats=False),
                 TF.instance_norm(torch.tensor(a), rmt, rvt, use_input_stats=False), atol=1e-5)
    assert_close(F.instance_norm(pt(a)), TF.instance_norm(torch.tensor(a)), atol=1e-5)
