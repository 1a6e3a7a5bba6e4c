"""Quantized models in the .ptl file (format 1.1): quantized constants keep their
parameters through save/load, quantized values run bit-identically in eager mode,
the traced graph and the lite runtime, and corrupt parameters are refused."""
import io
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import ptlite
from ptlite import nn
from ptlite.errors import ModelFormatError
from ptlite.jit.mobile import _load_for_lite_interpreter
from ptlite.utils.mobile_optimizer import MobileOptimizerType, optimize_for_mobile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")
F = nn.functional


# ---- helpers ---------------------------------------------------------------------
def _codes(t):
    """The exact content of a tensor: integers (+ qparams) for a quantized one."""
    if t.is_quantized:
        if t.qscheme() in (ptlite.per_channel_affine, ptlite.per_channel_symmetric):
            q = (t.q_per_channel_scales().numpy().tobytes(),
                 t.q_per_channel_zero_points().numpy().tobytes(), t.q_per_channel_axis())
        else:
            q = (t.q_scale(), t.q_zero_point())
        return str(t.dtype), t.int_repr().numpy().tobytes(), tuple(t.shape), q
    return str(t.dtype), t.numpy().tobytes(), tuple(t.shape)


def _same(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert _codes(a) == _codes(b)


def _per_channel_qint8(shape, axis=0, seed=0):
    rng = np.random.RandomState(seed)
    w = ptlite.from_numpy(rng.randn(*shape).astype(np.float32))
    scales = ptlite.from_numpy((np.abs(rng.randn(shape[axis])) * 0.02 + 0.005).astype(np.float32))
    zps = ptlite.from_numpy(rng.randint(-3, 4, size=shape[axis]).astype(np.int64))
    return ptlite.quantize_per_channel(w, scales, zps, axis, ptlite.qint8)


class WeightOnly(nn.Module):
    """int8 weights (per channel, a buffer) dequantized for a float linear; the result
    is quantized per tensor, and returned quantized, as codes and dequantized."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("qweight", _per_channel_qint8((8, 16)))
        self.qbias = ptlite.quantize_per_tensor(  # a plain attribute, not a buffer
            ptlite.from_numpy(np.linspace(-1, 1, 8).astype(np.float32)), 0.05, 3, ptlite.quint8)

    def forward(self, x):
        y = F.linear(x, self.qweight.dequantize(), self.qbias.dequantize())
        q = ptlite.quantize_per_tensor(y, 0.07, 120, ptlite.quint8)
        return q, q.int_repr(), q.transpose(0, 1).dequantize()


def _x(seed=1, shape=(4, 16)):
    return ptlite.from_numpy(np.random.RandomState(seed).randn(*shape).astype(np.float32))


def _fix_crcs(data: bytearray) -> bytearray:
    """Recomputes the section and header CRCs so an edit reaches the validation."""
    n = struct.unpack_from("<I", data, 16)[0]
    for i in range(n):
        e = 64 + 32 * i
        off, size = struct.unpack_from("<QQ", data, e + 8)
        struct.pack_into("<I", data, e + 24, zlib.crc32(bytes(data[off:off + size])))
    struct.pack_into("<I", data, 20, 0)
    struct.pack_into("<I", data, 20, zlib.crc32(bytes(data[:64 + 32 * n])))
    return data


def _qrecord(data: bytes, scheme: int, axis: int, count: int) -> int:
    rec = bytes([0xFF, scheme, 0, 0]) + struct.pack("<iI", axis, count)
    pos = data.find(rec)
    assert pos > 0 and data.find(rec, pos + 1) < 0
    return pos


# ---- round trips -----------------------------------------------------------------
def test_eager_traced_saved_and_lite_are_bit_identical(tmp_path):
    model = WeightOnly()
    x = _x()
    eager = model(x)
    traced = ptlite.jit.trace(model, x)
    graph = str(traced.graph)
    assert "QInt8(8, 16)" in graph and "QUInt8(4, 8) = ptl::quantize_per_tensor" in graph
    _same(traced(x), eager)
    path = tmp_path / "q.ptl"
    traced._save_for_lite_interpreter(str(path))
    assert path.read_bytes()[8:16] == struct.pack("<HHI", 1, 1, 1)  # 1.1, qparams flag
    loaded = ptlite.jit.load(str(path))
    _same(loaded(x), eager)
    lite = _load_for_lite_interpreter(str(path))
    for seed in (1, 2, 1):  # planned runs reuse the arena; parameters are set every run
        x2 = _x(seed)
        _same(lite(x2), model(x2))
    assert lite(x)[0].q_scale() == pytest.approx(0.07) and lite(x)[0].q_zero_point() == 120


def test_loaded_constants_keep_their_parameters(tmp_path):
    model = WeightOnly()
    traced = ptlite.jit.trace(model, _x())
    buf = io.BytesIO()
    ptlite.jit.save(traced, buf)
    lite = _load_for_lite_interpreter(buf.getvalue())
    sd = lite.state_dict()
    _same(sd["qweight"], model.qweight)
    assert sd["qweight"].q_per_channel_axis() == 0
    assert sd["qweight"].dtype is ptlite.qint8
    # the plain attribute is an anonymous constant (not in the state dict)
    consts = [v[4] for v in lite._info["values"] if v[0] == 1]
    assert len(consts) == 2
    _same([c for c in consts if c.dtype is ptlite.quint8][0], model.qbias)


def test_dequantized_weights_match_torch_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    model = WeightOnly()
    traced = ptlite.jit.trace(lambda x: model.qweight.dequantize() * x, _x(shape=(16,)))
    buf = io.BytesIO()
    traced.save(buf)
    lite = _load_for_lite_interpreter(buf.getvalue())
    ones = ptlite.ones(16)
    got = lite(ones).numpy()
    w = model.qweight
    tq = torch._make_per_channel_quantized_tensor(
        torch.from_numpy(w.int_repr().numpy()),
        torch.from_numpy(w.q_per_channel_scales().numpy().astype(np.float64)),
        torch.from_numpy(w.q_per_channel_zero_points().numpy()), 0)
    assert np.array_equal(got, tq.dequantize().numpy())


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_per_channel_constants_any_axis_and_views(axis):
    """A per-channel constant along any axis, and views of it (whose channel axis
    moves), load with the right parameters."""
    w = _per_channel_qint8((3, 4, 5), axis=axis, seed=axis)

    def fn(x):
        return w.permute(2, 0, 1).dequantize() + x, w.int_repr(), w.dequantize()

    x = _x(shape=(5, 3, 4))
    eager = fn(x)
    traced = ptlite.jit.trace(fn, x)
    lite = _load_for_lite_interpreter(traced._serialize())
    for _ in range(2):
        _same(lite(x), eager)


def test_quantized_graph_inputs_in_the_lite_runtime():
    """Quantized inputs bring their own parameters on every call: views of them made
    once by the planner must follow (per tensor and per channel)."""

    def fn(q, p):
        return (q.transpose(0, 1).dequantize(), q.int_repr(), p.permute(1, 0).dequantize(),
                p.dequantize())

    x = _x(shape=(6, 4))
    q1 = ptlite.quantize_per_tensor(x, 0.1, 10, ptlite.quint8)
    p1 = _per_channel_qint8((6, 4), axis=1, seed=3)
    traced = ptlite.jit.trace(fn, (q1, p1))
    lite = _load_for_lite_interpreter(traced._serialize())
    _same(lite(q1, p1), fn(q1, p1))
    q2 = ptlite.quantize_per_tensor(x, 0.25, 3, ptlite.quint8)
    p2 = _per_channel_qint8((6, 4), axis=1, seed=4)
    _same(lite(q2, p2), fn(q2, p2))
    _same(traced(q2, p2), fn(q2, p2))
    # another layout of the parameters: per tensor, or per channel on another axis
    p3 = ptlite.quantize_per_tensor(_x(shape=(6, 4), seed=5), 0.02, -7, ptlite.qint8)
    p4 = _per_channel_qint8((6, 4), axis=0, seed=6)
    for p in (p3, p4, p1, p3):
        _same(lite(q1, p), fn(q1, p))


def test_quint8_intermediates_are_planned_at_one_byte_per_element():
    def fn(x):
        q = ptlite.quantize_per_tensor(x, 0.05, 128, ptlite.quint8)
        return q.int_repr()

    x = _x(shape=(4096,))
    traced = ptlite.jit.trace(fn, x)
    planned = traced.planned_activation_bytes(x)
    # q (4096 bytes) and its codes (4096 bytes) are alive together at int_repr
    assert 2 * 4096 <= planned <= 2 * (4096 + 128)
    lite = _load_for_lite_interpreter(traced._serialize())
    _same(lite(x), fn(x))


# ---- optimize_for_mobile and clone --------------------------------------------------
def test_optimize_for_mobile_keeps_results_bit_identical():
    """Passes never touch quantize/dequantize of computed values, and constant_fold
    leaves dequantize(int8 constant) alone: folding it would store the weight as
    float32 (4x the bytes)."""
    model = WeightOnly().eval()
    x = _x()
    eager = model(x)
    traced = ptlite.jit.trace(model, x)
    opt = optimize_for_mobile(traced)
    hist = opt.op_histogram()
    assert hist["quantize_per_tensor"] == 1 and hist["int_repr"] == 1
    assert hist["dequantize"] == 3  # of the computed q and of both int8 weights
    _same(opt(x), eager)
    data = opt._serialize()
    assert data[10] == 1  # still format 1.1: the int8 weights are stored as such
    _same(_load_for_lite_interpreter(data)(x), eager)
    kept = optimize_for_mobile(traced, {MobileOptimizerType.CONSTANT_FOLDING})
    assert kept.op_histogram()["dequantize"] == 3
    # the original module is untouched by the passes
    _same(traced(x), eager)


def test_folded_quantize_of_a_constant_is_saved_with_its_parameters():
    w = ptlite.from_numpy(np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6))

    def fn(x):
        q = ptlite.quantize_per_tensor(w * 1.5, 0.03, -5, ptlite.qint8)
        # a graph output is never folded (the caller could change it), so the
        # folded q stays a quantized constant feeding dequantize
        return q.dequantize(), x * 2

    x = _x(shape=(4, 6))
    traced = ptlite.jit.trace(fn, x)
    opt = optimize_for_mobile(traced)
    assert "quantize_per_tensor" not in opt.op_histogram()
    data = opt._serialize()
    assert data[10] == 1
    lite = _load_for_lite_interpreter(data)
    _same(lite(x), fn(x))
    qconst = [v[4] for v in lite._info["values"] if v[0] == 1 and v[4].is_quantized]
    assert len(qconst) == 1 and qconst[0].q_zero_point() == -5
    assert qconst[0].q_scale() == pytest.approx(0.03)


def test_graph_clone_shares_quantized_constants():
    from ptlite import _C
    model = WeightOnly()
    x = _x()
    traced = ptlite.jit.trace(model, x)
    clone = ptlite.jit.ScriptModule(_C.graph_clone(traced._graph), traced._in_spec,
                                    traced._out_spec)
    _same(clone(x), model(x))
    _same(_load_for_lite_interpreter(clone._serialize())(x), model(x))


# ---- file size -------------------------------------------------------------------
def test_int8_file_is_within_2_percent_of_its_weight_bytes(tmp_path):
    ws = [_per_channel_qint8((512, 1024), seed=s) for s in range(3)]
    ws.append(ptlite.quantize_per_tensor(_x(shape=(300, 1001)), 0.02, 0, ptlite.qint8))

    def fn(x):
        y = x
        for w in ws:
            y = y + w.dequantize().sum()
        return y

    x = _x(shape=(8,))
    traced = ptlite.jit.trace(fn, x)
    path = tmp_path / "big.ptl"
    traced.save(str(path))
    raw = sum(w.numel() for w in ws)  # one byte per element
    size = os.path.getsize(path)
    ratio = size / raw
    print(f"int8 file: {size} bytes for {raw} weight bytes, ratio {ratio:.5f}")
    assert raw < size <= 1.02 * raw
    _same(_load_for_lite_interpreter(str(path))(x), fn(x))


# ---- compatibility ---------------------------------------------------------------
def test_float_models_are_still_written_as_format_1_0():
    fn = lambda x: x * 2 + 1  # noqa: E731
    data = ptlite.jit.trace(fn, _x())._serialize()
    assert data[8:16] == struct.pack("<HHI", 1, 0, 0)


def test_old_golden_file_loads_with_the_new_reader():
    path = os.path.join(GOLDEN, "v1_0_small.ptl")
    with open(path, "rb") as f:
        assert f.read(16)[8:16] == struct.pack("<HHI", 1, 0, 0)
    module = _load_for_lite_interpreter(path)
    x = ptlite.from_numpy((np.arange(384, dtype=np.float32).reshape(2, 3, 8, 8) % 17) / 17.0
                          - 0.5)
    expected = np.load(path.replace(".ptl", "_expected.npz"))
    np.testing.assert_allclose(module(x)["logits"].numpy(), expected["logits"], rtol=1e-5,
                               atol=1e-6)


def test_quantized_golden_file_is_format_1_1():
    path = os.path.join(GOLDEN, "v1_1_quant.ptl")
    with open(path, "rb") as f:
        assert f.read(16)[8:16] == struct.pack("<HHI", 1, 1, 1)
    sd = _load_for_lite_interpreter(path).state_dict()
    assert any(v.dtype is ptlite.qint8 and v.qscheme() is ptlite.per_channel_affine
               for v in sd.values())


def test_unknown_header_feature_is_refused_naming_the_upgrade():
    data = bytearray(ptlite.jit.trace(WeightOnly(), _x())._serialize())
    struct.pack_into("<I", data, 12, 0x5)
    with pytest.raises(ModelFormatError, match=r"needs format features \(flags 0x4\) that this "
                       r"runtime \(format 1\.1, ptlite .*\) does not know; upgrade ptlite"):
        _load_for_lite_interpreter(bytes(_fix_crcs(data)))


# ---- corrupt parameters ----------------------------------------------------------
def _weight_file():
    """A file whose only per-channel record is the qweight's [8, 16] axis 0 (value 1)."""
    traced = ptlite.jit.trace(WeightOnly(), _x())
    data = traced._serialize()
    return data, _qrecord(data, 2, 0, 8)


CORRUPT = [
    ("scale_zero", 12 + 4 * 2, struct.pack("<f", 0.0),
     r"corrupt \.ptl file: value 1 \(qweight\) has quantization scale 0 at index 2; scales "
     r"must be positive and finite"),
    ("scale_negative", 12, struct.pack("<f", -0.5),
     r"value 1 \(qweight\) has quantization scale -0\.5 at index 0"),
    ("scale_nan", 12 + 4 * 7, struct.pack("<f", float("nan")),
     r"value 1 \(qweight\) has quantization scale nan at index 7"),
    ("scale_inf", 12 + 4, struct.pack("<f", float("inf")),
     r"value 1 \(qweight\) has quantization scale inf at index 1"),
    ("zero_point_high", 12 + 32 + 4 * 5, struct.pack("<i", 128),
     r"value 1 \(qweight\) has zero point 128 at index 5, outside the qint8 range \[-128, 127\]"),
    ("zero_point_low", 12 + 32, struct.pack("<i", -129),
     r"has zero point -129 at index 0, outside the qint8 range"),
    ("unknown_scheme", 1, bytes([7]),
     r"value 1 \(qweight\) has unknown quantization scheme 7"),
    ("count_mismatch", 8, struct.pack("<I", 4),
     r"value 1 \(qweight\) has 4 per-channel scales but dim 0 has size 8"),
    ("axis_out_of_range", 4, struct.pack("<i", 2),
     r"value 1 \(qweight\) is quantized per channel along axis 2, outside its 2 dims"),
    ("per_tensor_with_channels", 1, bytes([1]),
     r"value 1 \(qweight\) is quantized per tensor but has axis 0 and 8 scales"),
    ("huge_count", 8, struct.pack("<I", 0x7FFFFFFF),
     r"graph section ends inside a quantization record"),
    ("bad_tag", 0, bytes([0x12]), r"value 1 \(qweight\) has a malformed quantization record"),
    ("unknown_record_flag", 2, struct.pack("<H", 2),
     r"value 1 \(qweight\) has a malformed quantization record"),
]


@pytest.mark.parametrize("case", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_parameters_are_refused_with_a_message(case):
    _, offset, patch, message = case
    data, rec = _weight_file()
    b = bytearray(data)
    b[rec + offset:rec + offset + len(patch)] = patch
    with pytest.raises(ModelFormatError, match=message):
        _load_for_lite_interpreter(bytes(_fix_crcs(b)))
    with pytest.raises(ModelFormatError, match=message):
        ptlite.jit.load(bytes(b))


def test_missing_or_misplaced_parameters_are_refused():
    data, rec = _weight_file()
    # the value record: kind, dtype, ndim, flags, 2 x i64 dims, u32 len + "qweight", 2 x u64
    flag = rec - (16 + 4 + len("qweight") + 16 + 1)
    assert data[flag - 3:flag + 1] == bytes([1, 8, 2, 1])
    b = bytearray(data)
    b[flag] = 0
    with pytest.raises(ModelFormatError, match=r"constant 1 \(qweight\) is qint8 but the file "
                       r"stores no quantization parameters for it"):
        _load_for_lite_interpreter(bytes(_fix_crcs(b)))
    b = bytearray(data)
    struct.pack_into("<I", b, 12, 0)
    with pytest.raises(ModelFormatError, match=r"value 1 \(kind 1\) has flags 0x01, not valid"):
        _load_for_lite_interpreter(bytes(_fix_crcs(b)))
    # a graph section one byte longer (into its zero padding) than the graph it holds
    b = bytearray(data)
    kind, _, off, size = struct.unpack_from("<IIQQ", b, 64)
    assert kind == 1 and size % 64
    struct.pack_into("<Q", b, 64 + 16, size + 1)
    with pytest.raises(ModelFormatError, match=r"1 unexpected bytes after the graph"):
        _load_for_lite_interpreter(bytes(_fix_crcs(b)))


def test_saving_parameters_the_reader_would_refuse_is_an_error():
    w = ptlite.quantize_per_tensor(_x(shape=(3,)), 0.0, 0, ptlite.qint8)  # torch allows it
    traced = ptlite.jit.trace(lambda x: w.dequantize() + x, _x(shape=(3,)))
    with pytest.raises(ValueError, match=r"save: cannot store: value \d+ \(\w+\) has "
                       r"quantization scale 0 at index 0; scales must be positive and finite"):
        traced._serialize()


FUZZ_SCRIPT = r"""
import sys, random
import ptlite
from ptlite.errors import ModelFormatError
from ptlite.jit.mobile import _load_for_lite_interpreter
data = open(sys.argv[1], "rb").read()
start, end = int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(5)
ok = errors = 0
for i in range(200):
    b = bytearray(data)
    if i % 2:
        b = b[: rng.randrange(len(b))]
    else:
        pos = rng.randrange(start, end)
        b[pos] ^= 1 << rng.randrange(8)
    try:
        _load_for_lite_interpreter(bytes(b))
        ok += 1
    except (ModelFormatError, ptlite.errors.UnsupportedError) as e:
        assert str(e), "empty message"
        errors += 1
print(ok, errors)
"""


def test_bit_flips_in_quantized_files_never_crash(tmp_path):
    data, rec = _weight_file()
    path = tmp_path / "q.ptl"
    path.write_bytes(data)
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    out = subprocess.run([sys.executable, str(script), str(path), str(rec - 64),
                          str(rec + 80)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    ok, errors = map(int, out.stdout.split())
    assert ok == 0 and errors == 200


def test_symmetric_weights_store_no_zero_points():
    """Per-channel symmetric weights (zero points all 0, what every weight observer makes)
    set record flag bit 0 and store only the scales: 4 bytes per channel, not 8."""
    rng = np.random.RandomState(3)
    w = ptlite.from_numpy(rng.randn(64, 32).astype(np.float32))
    scales = ptlite.from_numpy((np.abs(rng.randn(64)) * 0.02 + 0.005).astype(np.float32))

    def model_with(zps):
        qw = ptlite.quantize_per_channel(w, scales, ptlite.from_numpy(zps), 0, ptlite.qint8)
        return lambda x: F.linear(x, qw.dequantize())

    x = _x(shape=(2, 32))
    sym = ptlite.jit.trace(model_with(np.zeros(64, np.int64)), x)._serialize()
    zps = np.zeros(64, np.int64)
    zps[5] = 1
    asym = ptlite.jit.trace(model_with(zps), x)._serialize()
    rec = bytes([0xFF, 2]) + struct.pack("<HiI", 1, 0, 64)
    assert sym.find(rec) > 0 and asym.find(rec) < 0
    assert len(asym) - len(sym) in (256, 256 - 64, 256 + 64)  # 64 zero points, 64-byte padding
    lite = _load_for_lite_interpreter(sym)
    qconst = [v[4] for v in lite._info["values"] if v[0] == 1 and v[4].is_quantized][0]
    assert qconst.q_per_channel_zero_points().tolist() == [0] * 64
    _same(lite(x), model_with(np.zeros(64, np.int64))(x))
    b = bytearray(sym)
    pos = sym.find(rec)
    b[pos + 2:pos + 4] = struct.pack("<H", 0)  # claims zero points follow: they do not
    with pytest.raises(ModelFormatError):
        _load_for_lite_interpreter(bytes(_fix_crcs(b)))
