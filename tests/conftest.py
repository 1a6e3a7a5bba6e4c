"""Shared test helpers. PyTorch is the oracle; ptlite never imports it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ptlite
from ptlite import _C

BACKENDS = {"xnnpack": 0, "reference": 1}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    """Runs a test once on the fast path and once on the reference kernels."""
    prev = _C.get_backend()
    _C.set_backend(BACKENDS[request.param])
    yield request.param
    _C.set_backend(prev)


def to_torch(t: ptlite.Tensor) -> torch.Tensor:
    """A torch copy of a ptlite tensor (same values, same dtype)."""
    return torch.from_numpy(np.array(t.numpy()))


def from_torch(t: torch.Tensor) -> ptlite.Tensor:
    """A ptlite copy of a torch tensor."""
    return ptlite.tensor(t.detach().numpy().copy())


def assert_close(ours, theirs, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """ours (ptlite) against theirs (torch): same shape and dtype, values within tolerance."""
    a = ours.numpy() if isinstance(ours, ptlite.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert a.dtype == b.dtype, f"dtype {a.dtype} != {b.dtype}"
    if a.dtype.kind in "biu":
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    ptlite.manual_seed(0)  # ptlite.rand/randn inputs do not depend on test order
    # a test that switches the quantized engine cannot leak it into the next one
    engines = (torch.backends.quantized.engine, ptlite.backends.quantized.engine)
    yield
    torch.backends.quantized.engine, ptlite.backends.quantized.engine = engines


@pytest.fixture
def qnnpack():
    """torch's quantized engine set to qnnpack, the arithmetic ptlite's int8 kernels follow
    (_seed restores the previous engine after the test)."""
    torch.backends.quantized.engine = "qnnpack"
