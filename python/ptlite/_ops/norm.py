"""Normalization (csrc/runtime/kernels/norm.c): batch_norm and layer_norm with
torch's names, argument orders, defaults and errors."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor, from_numpy
from .table import call, op_id

_RESHAPE = op_id("reshape")

_BATCH_NORM = op_id("batch_norm")
_LAYER_NORM = op_id("layer_norm")


def _verify_batch_size(shape) -> None:
    n = shape[0]
    for s in shape[2:]:
        n *= s
    if n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {shape}")


def _check_stat(t, name: str, input) -> None:
    c = input.shape[1]
    if t.numel() != c:
        raise RuntimeError(f"batch_norm: {name} should contain {c} elements not {t.numel()} "
                           f"({name} of size {list(t.shape)}, input of size "
                           f"{list(input.shape)})")


def _batch_stats(input, running_mean, running_var, momentum):
    """Batch mean and biased variance over every dim but 1 (in float64 as torch's
    CPU kernel accumulates), and torch's in-place running-stat update."""
    a = np.asarray(input.numpy(), dtype=np.float64)
    axes = (0,) + tuple(range(2, a.ndim))
    mean = a.mean(axis=axes)
    var_sum = ((a - mean.reshape((1, -1) + (1,) * (a.ndim - 2))) ** 2).sum(axis=axes)
    n = a.size // max(a.shape[1], 1)
    m = np.float32(momentum)
    mean32 = mean.astype(np.float32)
    if running_mean is not None:
        rm = np.asarray(running_mean.numpy(), dtype=np.float32)
        running_mean.copy_(from_numpy((m * mean32 + (np.float32(1) - m) * rm)
                                      .astype(np.float32)))
    if running_var is not None:
        rv = np.asarray(running_var.numpy(), dtype=np.float32)
        unbiased = (var_sum / (n - 1) if n > 1 else np.full_like(var_sum, np.nan))
        running_var.copy_(from_numpy((m * unbiased.astype(np.float32) +
                                      (np.float32(1) - m) * rv).astype(np.float32)))
    return from_numpy(mean32), from_numpy((var_sum / n).astype(np.float32))


def _functional_batch_norm(input, running_mean, running_var, weight=None, bias=None,
                           training=False, momentum=0.1, eps=1e-5):
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError(f"running_{'mean' if running_mean is None else 'var'} must "
                               "be defined in evaluation mode")
        return call(_BATCH_NORM, (input, running_mean, running_var, weight, bias), None,
                    (float(eps),))
    if input.ndim < 2:
        raise RuntimeError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), "
                           f"but got input of size {list(input.shape)}")
    _verify_batch_size(input.shape)
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var")):
        if t is not None:
            _check_stat(t, name, input)
    mean, var = _batch_stats(input, running_mean, running_var,
                             0.0 if momentum is None else momentum)
    return call(_BATCH_NORM, (input, mean, var, weight, bias), None, (float(eps),))


def batch_norm(input, *args, **kwargs):
    """``F.batch_norm(input, running_mean, running_var, weight=None, bias=None,
    training=False, momentum=0.1, eps=1e-5)``.

    Also serves ``torch.batch_norm(input, weight, bias, running_mean, running_var,
    training, momentum, eps, cudnn_enabled)`` (recognised by its 9 arguments),
    because both live under one name in the op family tables."""
    if len(args) == 8 or "cudnn_enabled" in kwargs:
        names = ("weight", "bias", "running_mean", "running_var", "training", "momentum",
                 "eps", "cudnn_enabled")
        kw = dict(zip(names, args))
        kw.update(kwargs)
        kw.pop("cudnn_enabled", None)
        return _functional_batch_norm(input, kw["running_mean"], kw["running_var"],
                                      kw.get("weight"), kw.get("bias"),
                                      kw.get("training", False), kw.get("momentum", 0.1),
                                      kw.get("eps", 1e-5))
    return _functional_batch_norm(input, *args, **kwargs)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """Normalizes over the trailing ``normalized_shape`` dims (biased variance)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"layer_norm(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    ns = (int(normalized_shape),) if isinstance(normalized_shape, int) else \
        tuple(int(s) for s in normalized_shape)
    k = len(ns)
    if k < 1:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           f"containing at least one element, but got normalized_shape = "
                           f"{list(ns)}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and tuple(t.shape) != ns:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but "
                               f"got {name} of shape {list(t.shape)} and normalized_shape = "
                               f"{list(ns)}")
    shape = tuple(input.shape)
    if len(shape) < k or shape[len(shape) - k:] != ns:
        raise RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in ns)}], but got input of size"
                           f"{list(shape)}")
    return call(_LAYER_NORM, (input, weight, bias), (k,), (float(eps),))


def _ones_zeros(c: int):
    return from_numpy(np.zeros(c, np.float32)), from_numpy(np.ones(c, np.float32))


def _channel_affine(y, weight, bias):
    """y * weight[c] + bias[c] through BATCH_NORM with mean 0, var 1, eps 0 (alpha is
    exactly weight, beta exactly bias)."""
    if weight is None and bias is None:
        return y
    zeros, ones = _ones_zeros(y.shape[1])
    return call(_BATCH_NORM, (y, zeros, ones, weight, bias), None, (0.0,))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalizes each group of ``C // num_groups`` channels of every sample."""
    if not isinstance(input, Tensor):
        raise TypeError(f"group_norm(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{len(shape)}")
    n, c = shape[0], shape[1]
    if num_groups <= 0 or c % num_groups != 0:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(shape)} and "
                           f"num_groups={num_groups}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number "
                               f"of channels in input, but got {name} of shape "
                               f"{list(t.shape)} and input of shape {list(shape)}")
    # (N, G, rest) view of the samples (RESHAPE copies only non-viewable layouts)
    grouped = call(_RESHAPE, (input,), (n, num_groups, -1))
    y = call(_LAYER_NORM, (grouped, None, None), (1,), (float(eps),))
    y = call(_RESHAPE, (y,), tuple(shape))
    return _channel_affine(y, weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalizes each channel of each sample (group_norm with one channel per group);
    running stats are updated as torch does when given."""
    if not isinstance(input, Tensor):
        raise TypeError(f"instance_norm(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    if not use_input_stats:
        return _functional_batch_norm(input, running_mean, running_var, weight, bias, False,
                                      momentum, eps)
    shape = tuple(input.shape)
    if len(shape) < 3:
        raise ValueError(f"Expected more than 1 spatial element when training, got input "
                         f"size {list(shape)}")
    rest = 1
    for d in shape[2:]:
        rest *= d
    if rest == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input "
                         f"size {list(shape)}")
    if running_mean is not None or running_var is not None:
        a = np.asarray(input.numpy(), dtype=np.float64).reshape(shape[0], shape[1], -1)
        mean = a.mean(axis=2)
        var = a.var(axis=2, ddof=1)
        m = np.float32(momentum)
        for t, stat, name in ((running_mean, mean, "running_mean"),
                              (running_var, var, "running_var")):
            if t is None:
                continue
            _check_stat(t, name, input)
            r = np.asarray(t.numpy(), dtype=np.float32)
            new = (m * stat.astype(np.float32) + (np.float32(1) - m) * r).mean(axis=0)
            t.copy_(from_numpy(new.astype(np.float32)))
    return group_norm(input, shape[1], weight, bias, eps)


TORCH_FUNCTIONS: tuple = ("batch_norm", "layer_norm", "group_norm", "instance_norm")
FUNCTIONAL: tuple = ("batch_norm", "layer_norm", "group_norm", "instance_norm")
TENSOR_METHODS: dict = {}
