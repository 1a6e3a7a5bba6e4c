"""Pooling and resampling against torch 2.13 (the oracle), on both backends."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ptlite
import ptlite.nn.functional as F
from conftest import assert_close

# the oracle runs single threaded: on a shared 2-core box its thread pool costs ~10 ms a call
torch.set_num_threads(1)

LAYOUTS = ("contiguous", "channels_last", "sliced")


def make(a: np.ndarray, layout: str):
    """A ptlite tensor holding the values of ``a`` in the given memory layout, and
    the torch tensor with the same values and layout."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    t = torch.from_numpy(a.copy())
    if layout == "contiguous":
        return ptlite.tensor(a), t
    if layout == "channels_last":
        x = ptlite.tensor(a).contiguous(memory_format=ptlite.channels_last)
        if a.ndim == 4 and a.shape[1] > 1 and a.shape[2] * a.shape[3] > 1:
            assert not x.is_contiguous() and x.is_contiguous(memory_format=ptlite.channels_last)
        return x, t.contiguous(memory_format=torch.channels_last)
    # sliced: every other row and an offset column window of a bigger array
    big = np.random.randn(*a.shape[:-2], 2 * a.shape[-2], a.shape[-1] + 3).astype(np.float32)
    view = big[..., ::2, 1:a.shape[-1] + 1]
    view[...] = a
    x = ptlite.from_numpy(view)
    if a.shape[-2] > 1:
        assert not x.is_contiguous()
    return x, torch.from_numpy(big)[..., ::2, 1:a.shape[-1] + 1]


def same_layout(ours, theirs) -> None:
    """Output memory format as torch's (channels-last stays channels-last)."""
    if theirs.ndim == 4 and theirs.numel() > 0:
        assert ours.is_contiguous() == theirs.is_contiguous(), (ours.stride(), theirs.stride())
        assert (ours.is_contiguous(memory_format=ptlite.channels_last) ==
                theirs.is_contiguous(memory_format=torch.channels_last)), (
                    ours.stride(), theirs.stride())


def check(fn_ours, fn_torch, x, xt, exact=False, rtol=1e-5, atol=1e-6):
    """Runs both; if torch raises, ptlite must raise the same exception type."""
    try:
        expected = fn_torch(xt)
    except Exception as e:  # noqa: BLE001 - any torch error must be mirrored
        with pytest.raises(type(e)):
            fn_ours(x)
        return None
    got = fn_ours(x)
    if exact:
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
        assert got.shape == tuple(expected.shape)
    else:
        assert_close(got, expected, rtol=rtol, atol=atol)
    same_layout(got, expected)
    return got


SPATIAL = [(1, 1), (1, 5), (5, 7), (8, 8), (17, 13)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_max_pool2d_sweep(backend, layout):
    cases = 0
    for (h, w), c in itertools.product(SPATIAL, (1, 3, 8)):
        a = np.random.randn(2, c, h, w)
        x, xt = make(a, layout)
        for k, s, p, d, cm in itertools.product((1, 2, 3, (2, 3)), (None, 1, 2, (1, 2)),
                                                (0, 1), (1, 2), (False, True)):
            if (c, d) != (3, 1) and (s in (1, (1, 2)) or k == (2, 3)):
                continue  # keep the sweep small: full grid for C=3, dilation 1
            check(lambda t: F.max_pool2d(t, k, s, p, d, cm),
                  lambda t: TF.max_pool2d(t, k, s, p, d, cm), x, xt, exact=True)
            cases += 1
    assert cases > 300


@pytest.mark.parametrize("layout", LAYOUTS)
def test_avg_pool2d_sweep(backend, layout):
    for (h, w), c in itertools.product(SPATIAL, (1, 3, 8)):
        a = np.random.randn(2, c, h, w)
        x, xt = make(a, layout)
        for k, s, p, cm, cip, div in itertools.product((1, 2, 3, (3, 2)), (None, 1, 2),
                                                       (0, 1), (False, True), (True, False),
                                                       (None, 3, -2)):
            if div is not None and (c != 3 or k != 3):
                continue
            check(lambda t: F.avg_pool2d(t, k, s, p, cm, cip, div),
                  lambda t: TF.avg_pool2d(t, k, s, p, cm, cip, div), x, xt)


def test_pool_unbatched_and_empty_batch(backend):
    a = np.random.randn(3, 9, 8).astype(np.float32)
    x = ptlite.tensor(a)
    assert_close(F.max_pool2d(x, 3, 2, 1), TF.max_pool2d(torch.tensor(a), 3, 2, 1))
    assert_close(F.avg_pool2d(x, 2, ceil_mode=True), TF.avg_pool2d(torch.tensor(a), 2,
                                                                   ceil_mode=True))
    assert_close(F.adaptive_avg_pool2d(x, (2, 3)), TF.adaptive_avg_pool2d(torch.tensor(a),
                                                                          (2, 3)))
    assert_close(F.adaptive_max_pool2d(x, 4), TF.adaptive_max_pool2d(torch.tensor(a), 4))
    e = ptlite.tensor(np.zeros((0, 3, 6, 6), np.float32))
    assert F.max_pool2d(e, 2).shape == (0, 3, 3, 3)
    assert F.avg_pool2d(e, 2).shape == (0, 3, 3, 3)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_pools_propagate_nan_and_inf(backend, layout):
    """NaN wins a max and poisons an average, as in torch (XNNPACK alone would drop it)."""
    a = np.random.randn(2, 4, 6, 6).astype(np.float32)
    a[0, 0, 1, 1] = np.nan
    a[1, 3, 5, 5] = np.nan
    a[0, 1, :3, :3] = -np.inf
    a[1, 2, 0, 4] = np.inf
    x, xt = make(a, layout)
    for fo, ft in [(lambda t: F.max_pool2d(t, 3), lambda t: TF.max_pool2d(t, 3)),
                   (lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1)),
                   (lambda t: F.adaptive_max_pool2d(t, 2), lambda t: TF.adaptive_max_pool2d(t, 2)),
                   (lambda t: F.avg_pool2d(t, 2), lambda t: TF.avg_pool2d(t, 2)),
                   (lambda t: F.adaptive_avg_pool2d(t, 1), lambda t: TF.adaptive_avg_pool2d(t, 1)),
                   (lambda t: F.adaptive_avg_pool2d(t, 3), lambda t: TF.adaptive_avg_pool2d(t, 3))]:
        got, want = fo(x).numpy(), ft(xt).numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_adaptive_pools_sweep(backend, layout):
    for (h, w), c in itertools.product(SPATIAL + [(7, 7), (14, 10)], (1, 3, 8)):
        a = np.random.randn(2, c, h, w)
        x, xt = make(a, layout)
        for out in (1, 2, 3, 7, (1, 3), (5, 2), (None, 2), (0, 2)):
            check(lambda t: F.adaptive_avg_pool2d(t, out),
                  lambda t: TF.adaptive_avg_pool2d(t, out), x, xt)
            check(lambda t: F.adaptive_max_pool2d(t, out),
                  lambda t: TF.adaptive_max_pool2d(t, out), x, xt, exact=True)


def test_global_avg_pool_head(backend):
    """The ResNet / MobileNet head: channels-last features to [N, C, 1, 1]."""
    for shape in [(4, 64, 7, 7), (1, 16, 1, 1), (2, 24, 56, 56), (1, 8, 112, 112)]:
        a = np.random.randn(*shape).astype(np.float32) + 3.0
        for layout in ("contiguous", "channels_last"):
            x, xt = make(a, layout)
            y = F.adaptive_avg_pool2d(x, 1)
            assert_close(y, TF.adaptive_avg_pool2d(xt, 1), rtol=1e-6, atol=1e-6)
            assert_close(y, TF.adaptive_avg_pool2d(xt, (1, 1)), rtol=1e-6, atol=1e-6)


def test_pool_float16(backend):
    a = np.random.randn(2, 3, 9, 9).astype(np.float16)
    x, xt = ptlite.tensor(a), torch.tensor(a)
    y = F.max_pool2d(x, 3, 2, 1)
    assert y.dtype is ptlite.float16
    np.testing.assert_array_equal(y.numpy(), TF.max_pool2d(xt, 3, 2, 1).numpy())
    got = F.avg_pool2d(x, 2).numpy().astype(np.float32)
    np.testing.assert_allclose(got, TF.avg_pool2d(xt, 2).numpy().astype(np.float32), rtol=1e-3,
                               atol=1e-3)


# ---- fast path against the reference on the layouts the fast paths take -----------
def _both_backends(fn, x):
    prev = ptlite._C.get_backend()
    try:
        ptlite._C.set_backend(0)
        fast = fn(x)
        ptlite._C.set_backend(1)
        ref = fn(x)
    finally:
        ptlite._C.set_backend(prev)
    return fast, ref


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 16, 17, 13), (3, 8, 112, 112)])
def test_fast_matches_reference_channels_last(shape):
    a = np.random.randn(*shape).astype(np.float32)
    x = ptlite.tensor(a).contiguous(memory_format=ptlite.channels_last)
    fns = [
        lambda t: F.max_pool2d(t, 3, 2, 1),
        lambda t: F.max_pool2d(t, 2, ceil_mode=True),
        lambda t: F.max_pool2d(t, 3, 2, 0, 2),
        lambda t: F.avg_pool2d(t, 2),
        lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False),
        lambda t: F.avg_pool2d(t, 3, 2, 0, ceil_mode=True),
        lambda t: F.adaptive_avg_pool2d(t, 1),
        lambda t: F.interpolate(t, scale_factor=2, mode="bilinear"),
        lambda t: F.interpolate(t, size=(11, 5), mode="bilinear", align_corners=True),
        lambda t: F.interpolate(t, size=(11, 5), mode="bilinear"),
    ]
    for fn in fns:
        fast, ref = _both_backends(fn, x)
        assert fast.is_contiguous(memory_format=ptlite.channels_last)
        np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)


# ---- interpolate ---------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
def test_interpolate_sweep(backend, layout):
    for (h, w), c in itertools.product([(1, 1), (2, 3), (5, 7), (8, 8), (13, 17)], (1, 3, 8)):
        a = np.random.randn(2, c, h, w)
        x, xt = make(a, layout)
        for mode, ac in (("nearest", None), ("bilinear", False), ("bilinear", True)):
            for size in (1, 4, (3, 9), (h, w), (2 * h, 2 * w), (16, 5)):
                check(lambda t: F.interpolate(t, size=size, mode=mode, align_corners=ac),
                      lambda t: TF.interpolate(t, size=size, mode=mode, align_corners=ac),
                      x, xt, exact=mode == "nearest", atol=2e-6)
            for sf in (0.5, 1.5, 1.7, 2, 2.3, 3, (2, 0.6)):
                for rsf in (None, True):
                    check(lambda t: F.interpolate(t, scale_factor=sf, mode=mode,
                                                  align_corners=ac,
                                                  recompute_scale_factor=rsf),
                          lambda t: TF.interpolate(t, scale_factor=sf, mode=mode,
                                                   align_corners=ac,
                                                   recompute_scale_factor=rsf),
                          x, xt, exact=mode == "nearest", atol=2e-6)


def test_interpolate_1d_and_area(backend):
    a = np.random.randn(2, 3, 11).astype(np.float32)
    x, xt = ptlite.tensor(a), torch.tensor(a)
    for kw in [dict(size=17), dict(size=4), dict(scale_factor=1.7), dict(scale_factor=0.5)]:
        assert_close(F.interpolate(x, **kw), TF.interpolate(xt, **kw))
        assert_close(F.interpolate(x, mode="area", **kw), TF.interpolate(xt, mode="area", **kw))
        for ac in (False, True):
            assert_close(F.interpolate(x, mode="linear", align_corners=ac, **kw),
                         TF.interpolate(xt, mode="linear", align_corners=ac, **kw), atol=2e-6)
    b = np.random.randn(2, 3, 9, 7).astype(np.float32)
    for kw in [dict(size=(4, 3)), dict(size=5), dict(scale_factor=0.5)]:
        assert_close(F.interpolate(ptlite.tensor(b), mode="area", **kw),
                     TF.interpolate(torch.tensor(b), mode="area", **kw))


def test_upsample_aliases():
    a = np.random.randn(1, 2, 4, 5).astype(np.float32)
    x, xt = ptlite.tensor(a), torch.tensor(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(F.upsample(x, scale_factor=2), TF.upsample(xt, scale_factor=2))
        assert_close(F.upsample_nearest(x, size=7), TF.upsample_nearest(xt, size=7))
        assert_close(F.upsample_bilinear(x, size=(6, 9)), TF.upsample_bilinear(xt, size=(6, 9)))


# ---- 1-d pools ----------------------------------------------------------------------
def test_pool1d():
    a = np.random.randn(2, 3, 11).astype(np.float32)
    x, xt = ptlite.tensor(a), torch.tensor(a)
    assert_close(F.max_pool1d(x, 3, 2, 1), TF.max_pool1d(xt, 3, 2, 1))
    assert_close(F.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
                 TF.avg_pool1d(xt, 3, 2, 1, count_include_pad=False))
    assert_close(F.adaptive_avg_pool1d(x, 4), TF.adaptive_avg_pool1d(xt, 4))
    assert_close(ptlite.adaptive_avg_pool1d(x, 1), torch.adaptive_avg_pool1d(xt, 1))
    assert_close(F.adaptive_max_pool1d(x, 5), TF.adaptive_max_pool1d(xt, 5))


def test_torch_level_names():
    a = np.random.randn(1, 2, 6, 6).astype(np.float32)
    x, xt = ptlite.tensor(a), torch.tensor(a)
    assert_close(ptlite.max_pool2d(x, 2), torch.max_pool2d(xt, 2))
    assert_close(ptlite.avg_pool2d(x, 3, 1, 1), torch._C._nn.avg_pool2d(xt, 3, 1, 1))


# ---- bad input ------------------------------------------------------------------------
def test_pool_errors():
    x = ptlite.tensor(np.random.randn(1, 3, 5, 5).astype(np.float32))
    with pytest.raises(RuntimeError, match=r"pad should be at most half of effective kernel "
                       r"size, but got pad=2, kernel_size=3 and dilation=1"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match=r"pad should be at most half"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match=r"pad should be smaller than or equal to half"):
        F.max_pool2d(x, 3, padding=2, dilation=2)
    with pytest.raises(RuntimeError, match=r"max_pool2d.*\[5, 5\]"):
        F.max_pool2d(ptlite.tensor(np.zeros((5, 5), np.float32)), 2)
    with pytest.raises(RuntimeError, match=r"max_pool2d.*\[1, 1, 5, 5, 5\]"):
        F.max_pool2d(ptlite.tensor(np.zeros((1, 1, 5, 5, 5), np.float32)), 2)
    with pytest.raises(RuntimeError, match=r"max_pool2d.*\[1, 0, 5, 5\]"):
        F.max_pool2d(ptlite.tensor(np.zeros((1, 0, 5, 5), np.float32)), 2)
    with pytest.raises(RuntimeError, match=r"Output size is too small"):
        F.max_pool2d(x, 7)
    with pytest.raises(RuntimeError, match=r"stride should be greater than zero"):
        F.max_pool2d(x, 2, 0)
    with pytest.raises(RuntimeError, match=r"dilation should be greater than zero"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(RuntimeError, match=r"kernel_size must either be a single int"):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(RuntimeError, match=r"divisor must be not zero"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(RuntimeError, match=r"return_indices"):
        F.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(RuntimeError, match=r"adaptive_avg_pool2d.*\[5, 5\]"):
        F.adaptive_avg_pool2d(ptlite.tensor(np.zeros((5, 5), np.float32)), 2)
    with pytest.raises(RuntimeError, match=r"greater than or equal to 0.*-1"):
        F.adaptive_avg_pool2d(x, -1)
    with pytest.raises(RuntimeError, match=r"adaptive_max_pool2d.*\[1, 3, 0, 5\]"):
        F.adaptive_max_pool2d(ptlite.tensor(np.zeros((1, 3, 0, 5), np.float32)), 2)
    with pytest.raises(RuntimeError, match=r"max_pool2d.*int64"):
        F.max_pool2d(ptlite.tensor(np.zeros((1, 3, 4, 4), np.int64)), 2)


def test_interpolate_errors():
    x = ptlite.tensor(np.random.randn(1, 3, 5, 5).astype(np.float32))
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, size=3, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="same number of spatial dimensions"):
        F.interpolate(x, size=(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"sizes should be greater than 0.*output \(H: 0"):
        F.interpolate(x, size=0)
    with pytest.raises(RuntimeError, match=r"sizes should be greater than 0"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(ptlite.errors.UnsupportedError, match="bicubic"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(ptlite.errors.UnsupportedError, match="antialias"):
        F.interpolate(x, size=3, mode="bilinear", antialias=True)
    with pytest.raises(NotImplementedError, match="bilinear mode needs 4D input"):
        F.interpolate(ptlite.tensor(np.zeros((3, 5, 5), np.float32)), size=3, mode="bilinear")
    with pytest.raises(NotImplementedError, match=r"got foo"):
        F.interpolate(x, size=3, mode="foo")
