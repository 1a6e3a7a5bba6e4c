"""Every released .ptl format version keeps a file in tests/golden/ that loads and
runs with today's reader (docs/format.md, compatibility rule)."""
import glob
import os

import numpy as np
import pytest

from ptlite.jit.mobile import _load_for_lite_interpreter

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
FILES = sorted(glob.glob(os.path.join(HERE, "*.ptl")))


def golden_input() -> np.ndarray:
    return (np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8) % 17) / 17.0 - 0.5


def test_there_is_a_golden_file_for_format_1_0():
    assert any(os.path.basename(f).startswith("v1_0_") for f in FILES)


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_golden_file_loads_and_reproduces_its_output(path):
    import ptlite
    module = _load_for_lite_interpreter(path)
    expected = np.load(path.replace(".ptl", "_expected.npz"))
    out = module(ptlite.from_numpy(golden_input()))
    assert set(out) == set(expected.files)
    for k in expected.files:
        np.testing.assert_allclose(out[k].numpy(), expected[k], rtol=1e-5, atol=1e-6)
    assert module.get_extra_files()["note.txt"].startswith(b"golden v")
