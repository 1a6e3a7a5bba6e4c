"""The .ptl file: round trips, extra files, and robustness against corrupt input."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ptlite
from ptlite.errors import ModelFormatError
from ptlite.jit.mobile import _load_for_lite_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lenet_file(tmp_path):
    ptlite.manual_seed(0)
    model = ptlite.vision.models.lenet5().eval()
    x = ptlite.rand(2, 1, 28, 28)
    traced = ptlite.jit.trace(model, x)
    path = tmp_path / "lenet.ptl"
    traced._save_for_lite_interpreter(str(path), _extra_files={"labels.txt": "a\nb"})
    return model, x, path


def test_roundtrip_bit_identical_and_extra_files(tmp_path):
    model, x, path = _lenet_file(tmp_path)
    lite = _load_for_lite_interpreter(str(path))
    with ptlite.no_grad():
        expected = model(x)
    got = lite(x)
    assert np.array_equal(got.numpy(), expected.numpy())
    assert lite.get_extra_files() == {"labels.txt": b"a\nb"}
    extra = {"labels.txt": ""}
    loaded = ptlite.jit.load(str(path), _extra_files=extra)
    assert extra["labels.txt"] == b"a\nb"
    assert set(loaded.state_dict()) == set(model.state_dict()) - {
        k for k in model.state_dict() if "num_batches" in k}


def test_file_size_close_to_weight_bytes(tmp_path):
    model, x, path = _lenet_file(tmp_path)
    raw = sum(p.numel() * p.element_size() for p in model.parameters())
    size = os.path.getsize(path)
    assert raw < size < raw + 8192


def test_newer_major_version_refused_naming_both(tmp_path):
    _, _, path = _lenet_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[8] = 7  # major version field
    with pytest.raises(ModelFormatError, match=r"version 7\.0.*supports \(1\.0"):
        _load_for_lite_interpreter(bytes(data))


def test_missing_directory_empty(tmp_path):
    with pytest.raises(FileNotFoundError):
        _load_for_lite_interpreter(str(tmp_path / "nope.ptl"))
    with pytest.raises(IsADirectoryError):
        _load_for_lite_interpreter(str(tmp_path))
    empty = tmp_path / "empty.ptl"
    empty.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="shorter than"):
        _load_for_lite_interpreter(str(empty))
    with pytest.raises(ModelFormatError, match="bad magic"):
        _load_for_lite_interpreter(b"PK\x03\x04" + b"\0" * 100)


FUZZ_SCRIPT = r"""
import sys, random
import ptlite
from ptlite.errors import ModelFormatError
from ptlite.jit.mobile import _load_for_lite_interpreter
data = open(sys.argv[1], "rb").read()
rng = random.Random(int(sys.argv[2]))
ok = errors = 0
for i in range(int(sys.argv[3])):
    b = bytearray(data)
    mode = i % 3
    if mode == 0:
        b = b[: rng.randrange(len(b))]
    elif mode == 1:
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(b))
            b[pos] ^= 1 << rng.randrange(8)
    else:
        # a valid header but garbage counts: corrupt inside the graph section
        pos = rng.randrange(128, min(len(b), 4096))
        b[pos:pos + 4] = rng.randbytes(4)
    try:
        m = _load_for_lite_interpreter(bytes(b))
        ok += 1
    except (ModelFormatError, ptlite.errors.UnsupportedError) as e:
        assert str(e), "empty message"
        errors += 1
print(ok, errors)
"""


def test_truncated_and_bit_flipped_files_never_crash(tmp_path):
    _, _, path = _lenet_file(tmp_path)
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    out = subprocess.run([sys.executable, str(script), str(path), "1", "300"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    ok, errors = map(int, out.stdout.split())
    # every mutation is caught by a checksum, a bound or the validator
    assert ok == 0 and errors == 300


def test_loaded_weights_are_writable_without_touching_the_file(tmp_path):
    _, x, path = _lenet_file(tmp_path)
    before = path.read_bytes()
    lite = _load_for_lite_interpreter(str(path))
    weight = lite.state_dict()["conv1.weight"]
    weight.fill_(0.0)  # copy-on-write: private to this process, never a crash
    assert float(weight.abs().sum()) == 0.0
    assert path.read_bytes() == before
    from_bytes = _load_for_lite_interpreter(before)
    from_bytes.state_dict()["conv1.weight"].fill_(1.0)
    assert path.read_bytes() == before


def test_node_versions_follow_the_attributes_they_use():
    """ADD became version 2 with its fused-relu flag: a plain add is still written as
    version 1 (older runtimes load it), a fused one as version 2 (they refuse it)."""
    from ptlite.utils.mobile_optimizer import optimize_for_mobile

    fn = lambda a, b: ptlite.relu(a + b)  # noqa: E731
    a, b = ptlite.rand(4), ptlite.rand(4)
    plain = ptlite.jit.trace(fn, (a, b))
    fused = optimize_for_mobile(plain)
    assert [n[0] for n in fused._info["nodes"]] == ["add"]
    # a node record starts with u16 op id (add = 1) and u16 version
    assert b"\x01\x00\x01\x00" in plain._serialize()
    assert b"\x01\x00\x02\x00" not in plain._serialize()
    data = fused._serialize()
    assert b"\x01\x00\x02\x00" in data
    np.testing.assert_array_equal(_load_for_lite_interpreter(data)(a, b).numpy(),
                                  fn(a, b).numpy())
