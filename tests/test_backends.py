"""ptlite.backends.quantized.engine accepts torch's engine names."""
import pytest

import ptlite


def test_quantized_engine_names():
    q = ptlite.backends.quantized
    before = q.engine
    try:
        for name in ("qnnpack", "x86", "fbgemm", "onednn"):
            q.engine = name
            assert q.engine == name
        assert "qnnpack" in q.supported_engines
        with pytest.raises(RuntimeError, match="quantized engine 'vulkan' is not supported"):
            q.engine = "vulkan"
        assert q.engine == "onednn"
    finally:
        q.engine = before
