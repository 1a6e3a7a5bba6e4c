"""nn layer modules against torch.nn: same constructor arguments give the same repr and
the same parameter names and shapes; with torch's weights loaded through
load_state_dict the forward outputs match (fast path and reference kernels); the default
initialisation follows torch's scheme; bad arguments raise torch's errors.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import ptlite
import ptlite.nn as nn
from conftest import assert_close

LIBS = {"torch": torch, "ptlite": ptlite}


def torch_repr(s: str) -> str:
    return re.sub(r"\btorch\b", "ptlite", s)


def rand_input(shape, dtype=np.float32, low=None, high=None):
    if low is not None:
        return np.random.randint(low, high, size=shape).astype(np.int64)
    return np.random.randn(*shape).astype(dtype)


def make_pair(make):
    t, p = make(torch), make(ptlite)
    return t, p


def check_structure(t, p):
    assert repr(p) == torch_repr(repr(t))
    assert ([(k, tuple(v.shape)) for k, v in p.state_dict().items()] ==
            [(k, tuple(v.shape)) for k, v in t.state_dict().items()])
    assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in p.named_buffers()] == [n for n, _ in t.named_buffers()]


def run_both(t, p, x, channels_last=False, **kw):
    xt = torch.from_numpy(x)
    xp = ptlite.tensor(x)
    if channels_last:
        xp = xp.contiguous(memory_format=ptlite.channels_last)
    with torch.no_grad():
        out_t = t(xt, **kw)
    out_p = p(xp, **kw)
    return out_t, out_p


# (id, constructor taking the library, input shape or callable producing the input)
CASES = [
    ("linear", lambda L: L.nn.Linear(5, 3), (4, 5)),
    ("linear_nobias_3d", lambda L: L.nn.Linear(5, 3, bias=False), (2, 4, 5)),
    ("linear_1d", lambda L: L.nn.Linear(6, 2), (6,)),
    ("conv1d", lambda L: L.nn.Conv1d(3, 4, 3), (2, 3, 10)),
    ("conv1d_groups", lambda L: L.nn.Conv1d(3, 6, 3, stride=2, padding=1, groups=3,
                                            bias=False), (2, 3, 9)),
    ("conv2d_lenet", lambda L: L.nn.Conv2d(1, 6, 5, padding=2), (2, 1, 28, 28)),
    ("conv2d_stride", lambda L: L.nn.Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 9, 11)),
    ("conv2d_dw_same", lambda L: L.nn.Conv2d(4, 4, 3, groups=4, padding="same"),
     (1, 4, 7, 6)),
    ("conv2d_same_asym", lambda L: L.nn.Conv2d(3, 5, (2, 4), padding="same",
                                               dilation=(1, 2)), (2, 3, 6, 9)),
    ("conv2d_valid", lambda L: L.nn.Conv2d(3, 5, 3, padding="valid", bias=False),
     (1, 3, 8, 8)),
    ("conv2d_dilation", lambda L: L.nn.Conv2d(3, 4, 3, dilation=2, padding=2), (1, 3, 9, 9)),
    ("conv2d_reflect", lambda L: L.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
     (1, 3, 6, 7)),
    ("conv2d_unbatched", lambda L: L.nn.Conv2d(2, 3, 3), (2, 6, 6)),
    ("conv2d_circular", lambda L: L.nn.Conv2d(2, 3, 3, padding=(1, 2),
                                              padding_mode="circular"), (1, 2, 5, 6)),
    ("conv2d_replicate_same", lambda L: L.nn.Conv2d(2, 3, 4, padding="same",
                                                    padding_mode="replicate"), (1, 2, 6, 6)),
    ("conv1d_reflect", lambda L: L.nn.Conv1d(2, 3, 3, padding=1, padding_mode="reflect"),
     (2, 2, 7)),
    ("conv1d_same_dilated", lambda L: L.nn.Conv1d(2, 3, 4, padding="same", dilation=3),
     (2, 2, 11)),
    ("convT2d", lambda L: L.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1,
                                               output_padding=1), (2, 4, 5, 5)),
    ("convT2d_groups", lambda L: L.nn.ConvTranspose2d(4, 2, 2, stride=2, groups=2,
                                                      bias=False), (1, 4, 3, 4)),
    ("convT2d_dilation", lambda L: L.nn.ConvTranspose2d(2, 3, 3, dilation=2), (1, 2, 4, 4)),
    ("relu", lambda L: L.nn.ReLU(), (2, 3, 4, 5)),
    ("relu_inplace", lambda L: L.nn.ReLU(inplace=True), (2, 3, 4, 5)),
    ("relu6", lambda L: L.nn.ReLU6(), (2, 3, 4, 5)),
    ("hardtanh", lambda L: L.nn.Hardtanh(-2, 3), (2, 3, 4, 5)),
    ("hardswish", lambda L: L.nn.Hardswish(), (2, 3, 4, 5)),
    ("hardsigmoid", lambda L: L.nn.Hardsigmoid(), (2, 3, 4, 5)),
    ("sigmoid", lambda L: L.nn.Sigmoid(), (2, 3, 4, 5)),
    ("tanh", lambda L: L.nn.Tanh(), (2, 3, 4, 5)),
    ("gelu", lambda L: L.nn.GELU(), (2, 3, 4, 5)),
    ("gelu_tanh", lambda L: L.nn.GELU(approximate="tanh"), (2, 3, 4, 5)),
    ("silu", lambda L: L.nn.SiLU(), (2, 3, 4, 5)),
    ("leaky_relu", lambda L: L.nn.LeakyReLU(0.2), (2, 3, 4, 5)),
    ("leaky_relu_inplace", lambda L: L.nn.LeakyReLU(inplace=True), (2, 3, 4, 5)),
    ("elu", lambda L: L.nn.ELU(alpha=0.5), (2, 3, 4, 5)),
    ("prelu", lambda L: L.nn.PReLU(), (2, 3, 4, 5)),
    ("prelu_channels", lambda L: L.nn.PReLU(3, init=0.1), (2, 3, 4, 5)),
    ("softmax", lambda L: L.nn.Softmax(dim=1), (2, 3, 4, 5)),
    ("log_softmax", lambda L: L.nn.LogSoftmax(dim=-1), (2, 3, 4, 5)),
    ("maxpool", lambda L: L.nn.MaxPool2d(2), (2, 3, 8, 8)),
    ("maxpool_ceil", lambda L: L.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
     (2, 3, 8, 9)),
    ("maxpool_dilation", lambda L: L.nn.MaxPool2d((2, 3), stride=1, dilation=2),
     (1, 2, 7, 8)),
    ("avgpool", lambda L: L.nn.AvgPool2d(2), (2, 3, 8, 8)),
    ("avgpool_pad", lambda L: L.nn.AvgPool2d(3, stride=2, padding=1,
                                             count_include_pad=False), (2, 3, 7, 8)),
    ("adaptive_avg", lambda L: L.nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 8)),
    ("adaptive_avg_1", lambda L: L.nn.AdaptiveAvgPool2d(1), (2, 3, 7, 8)),
    ("adaptive_max", lambda L: L.nn.AdaptiveMaxPool2d(2), (2, 3, 7, 8)),
    ("flatten", lambda L: L.nn.Flatten(), (2, 3, 4, 5)),
    ("flatten_0_2", lambda L: L.nn.Flatten(0, 2), (2, 3, 4, 5)),
    ("unflatten", lambda L: L.nn.Unflatten(1, (2, 6)), (3, 12, 2)),
    ("upsample_nearest", lambda L: L.nn.Upsample(scale_factor=2), (1, 2, 3, 4)),
    ("upsample_bilinear_size", lambda L: L.nn.Upsample(size=(5, 7), mode="bilinear",
                                                       align_corners=False), (1, 2, 3, 4)),
    ("upsample_bilinear_ac", lambda L: L.nn.Upsample(scale_factor=2, mode="bilinear",
                                                     align_corners=True), (1, 2, 3, 4)),
    ("upsampling_nearest2d", lambda L: L.nn.UpsamplingNearest2d(scale_factor=3), (1, 2, 3, 2)),
    ("upsampling_bilinear2d", lambda L: L.nn.UpsamplingBilinear2d(size=(6, 5)), (1, 2, 3, 2)),
    ("zeropad", lambda L: L.nn.ZeroPad2d(2), (1, 2, 3, 4)),
    ("constpad", lambda L: L.nn.ConstantPad2d((1, 2, 3, 0), 1.5), (1, 2, 3, 4)),
    ("reflectpad", lambda L: L.nn.ReflectionPad2d(1), (1, 2, 3, 4)),
    ("replicatepad", lambda L: L.nn.ReplicationPad2d((1, 0, 2, 1)), (1, 2, 3, 4)),
    ("layernorm", lambda L: L.nn.LayerNorm(6), (2, 3, 6)),
    ("layernorm_2d_noaffine", lambda L: L.nn.LayerNorm([3, 6], elementwise_affine=False),
     (2, 3, 6)),
    ("layernorm_nobias", lambda L: L.nn.LayerNorm(6, eps=1e-3, bias=False), (4, 6)),
    ("batchnorm1d_eval", lambda L: L.nn.BatchNorm1d(4).eval(), (8, 4)),
    ("batchnorm1d_3d_eval", lambda L: L.nn.BatchNorm1d(4).eval(), (8, 4, 5)),
    ("batchnorm2d_eval", lambda L: L.nn.BatchNorm2d(3).eval(), (4, 3, 5, 5)),
    ("batchnorm2d_noaffine_eval", lambda L: L.nn.BatchNorm2d(3, affine=False).eval(),
     (4, 3, 5, 5)),
    ("dropout_eval", lambda L: L.nn.Dropout(0.3).eval(), (4, 6)),
    ("dropout2d_eval", lambda L: L.nn.Dropout2d().eval(), (2, 3, 4, 4)),
    ("identity", lambda L: L.nn.Identity(54, unused="x"), (3, 4)),
    ("embedding", lambda L: L.nn.Embedding(10, 4),
     lambda: rand_input((3, 5), low=0, high=10)),
    ("embedding_pad", lambda L: L.nn.Embedding(10, 4, padding_idx=2),
     lambda: rand_input((7,), low=0, high=10)),
    ("embedding_neg_pad", lambda L: L.nn.Embedding(6, 3, padding_idx=-1, max_norm=None),
     lambda: rand_input((2, 2), low=0, high=6)),
]

CONV_4D = {"conv2d_lenet", "conv2d_stride", "conv2d_dw_same", "conv2d_valid", "maxpool",
           "avgpool", "relu", "hardswish", "convT2d", "batchnorm2d_eval", "adaptive_avg"}


def _input(spec):
    return spec() if callable(spec) else rand_input(spec)


@pytest.mark.parametrize("name,make,spec", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch(name, make, spec, backend):
    t, p = make_pair(make)
    check_structure(t, p)
    if name.startswith("batchnorm"):
        # give the running statistics non-trivial values
        with torch.no_grad():
            t.running_mean.uniform_(-1, 1)
            t.running_var.uniform_(0.5, 2)
    if t.state_dict():
        p.load_state_dict(t.state_dict())
    x = _input(spec)
    out_t, out_p = run_both(t, p, x)
    assert_close(out_p, out_t)
    if name in CONV_4D:
        # channels-last input gives the same values
        _, out_cl = run_both(t, p, x, channels_last=True)
        assert_close(out_cl, out_t)


def test_conv_transpose_output_size(backend):
    t, p = make_pair(lambda L: L.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1))
    p.load_state_dict(t.state_dict())
    x = rand_input((1, 3, 5, 5))
    for size in ([10, 10], [9, 10], (1, 2, 10, 9)):
        out_t, out_p = run_both(t, p, x, output_size=size)
        assert_close(out_p, out_t)
    with pytest.raises(ValueError, match=re.escape("requested an output size of [12, 12]")):
        p(ptlite.tensor(x), output_size=[12, 12])


def test_sequential_model_matches_torch(backend):
    def make(L):
        return L.nn.Sequential(
            L.nn.Conv2d(3, 8, 3, padding=1), L.nn.BatchNorm2d(8), L.nn.ReLU6(),
            L.nn.MaxPool2d(2), L.nn.Conv2d(8, 8, 3, groups=8), L.nn.Hardswish(),
            L.nn.AdaptiveAvgPool2d(1), L.nn.Flatten(), L.nn.Dropout(0.2),
            L.nn.Linear(8, 4), L.nn.LogSoftmax(dim=1)).eval()
    t, p = make_pair(make)
    check_structure(t, p)
    p.load_state_dict(t.state_dict())
    x = rand_input((2, 3, 12, 12))
    out_t, out_p = run_both(t, p, x)
    assert_close(out_p, out_t)
    # channels-last parameters and input (model.to(memory_format=...)) give the same values
    p.to(memory_format=ptlite.channels_last)
    assert p[0].weight.is_contiguous(memory_format=ptlite.channels_last)
    _, out_cl = run_both(t, p, x, channels_last=True)
    assert_close(out_cl, out_t)


# ---- BatchNorm training mode --------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(momentum=None), dict(momentum=0.5),
                                dict(affine=False), dict(track_running_stats=False)],
                         ids=["default", "cumulative", "momentum", "noaffine", "notrack"])
@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (4, 3, 5, 6)),
                                       ("BatchNorm1d", (6, 3)),
                                       ("BatchNorm1d", (5, 3, 4))])
def test_batchnorm_training_updates_running_stats(cls, shape, kw):
    t, p = make_pair(lambda L: getattr(L.nn, cls)(3, **kw))
    check_structure(t, p)
    if kw.get("affine", True):
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
            t.bias.uniform_(-1, 1)
    p.load_state_dict(t.state_dict())
    for step in range(3):
        x = rand_input(shape) * (step + 1) + step
        out_t, out_p = run_both(t, p, x)
        assert_close(out_p, out_t, rtol=1e-4, atol=1e-5)
        for k, v in t.state_dict().items():
            assert_close(p.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    # eval uses the running statistics (or batch statistics when not tracked)
    t.eval()
    p.eval()
    out_t, out_p = run_both(t, p, rand_input(shape))
    assert_close(out_p, out_t, rtol=1e-4, atol=1e-5)


def test_batchnorm_errors():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=re.escape("expected 4D input (got 3D input)")):
        bn(ptlite.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=re.escape("expected 2D or 3D input (got 4D input)")):
        nn.BatchNorm1d(3)(ptlite.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when "
                                         "training"):
        nn.BatchNorm1d(3)(ptlite.zeros(1, 3))


def test_batchnorm_loads_old_checkpoint_without_num_batches_tracked():
    t, p = make_pair(lambda L: L.nn.BatchNorm2d(4))
    sd = {k: v for k, v in t.state_dict().items() if k != "num_batches_tracked"}
    assert p.load_state_dict(sd).missing_keys == []


# ---- Dropout ---------------------------------------------------------------------------------
def test_dropout_training():
    ptlite.manual_seed(0)
    m = nn.Dropout(0.3)
    assert repr(m) == repr(torch.nn.Dropout(0.3))
    x = ptlite.ones(200, 100)
    out = m(x).numpy()
    kept = out != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())
    m = nn.Dropout(0.3, inplace=True)
    y = ptlite.ones(50, 40)
    m(y)
    assert (y.numpy() == 0).any()


def test_dropout2d_zeroes_whole_channels():
    ptlite.manual_seed(0)
    out = nn.Dropout2d(0.5)(ptlite.ones(8, 16, 3, 3)).numpy()
    per_channel = out.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.3 < (per_channel == 0).all(-1).mean() < 0.7


def test_dropout_bad_p():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError) as et:
            torch.nn.Dropout(p)
        with pytest.raises(ValueError) as ep:
            nn.Dropout(p)
        assert str(ep.value) == str(et.value)


# ---- Embedding -------------------------------------------------------------------------------
def test_embedding_padding_row_zero_at_init():
    ptlite.manual_seed(1)
    e = nn.Embedding(10, 4, padding_idx=2)
    w = e.weight.numpy()
    np.testing.assert_array_equal(w[2], np.zeros(4, np.float32))
    assert np.all(np.abs(w[[0, 1, 3]]) > 0)
    e = nn.Embedding(6, 3, padding_idx=-1)
    assert e.padding_idx == 5
    np.testing.assert_array_equal(e.weight.numpy()[5], np.zeros(3, np.float32))
    big = nn.Embedding(400, 50).weight.numpy()
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02  # N(0, 1) like torch


def test_embedding_from_pretrained():
    w = ptlite.tensor(rand_input((5, 3)))
    e = nn.Embedding.from_pretrained(w)
    assert e.weight.requires_grad is False and e.weight.data_ptr() == w.data_ptr()
    assert repr(e) == "Embedding(5, 3)"
    out = e(ptlite.tensor([4, 0]))
    np.testing.assert_array_equal(out.numpy(), w.numpy()[[4, 0]])


def test_embedding_bad_padding_idx():
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=-6)


# ---- default initialisation ------------------------------------------------------------------
@pytest.mark.parametrize("make,fan_in", [
    (lambda: nn.Linear(200, 64), 200),
    (lambda: nn.Conv2d(16, 32, 3), 144),
    (lambda: nn.Conv2d(16, 32, 3, groups=4), 36),
    (lambda: nn.Conv1d(8, 40, 5), 40),
    (lambda: nn.ConvTranspose2d(16, 32, 3), 288),  # weight [in, out/g, k, k]: fan_in=out*k*k
])
def test_default_init_is_torch_kaiming_uniform(make, fan_in):
    ptlite.manual_seed(0)
    m = make()
    bound = 1 / math.sqrt(fan_in)
    w = m.weight.numpy()
    assert np.abs(w).max() <= bound
    # U(-b, b): std b/sqrt(3), and it fills the range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(w).max() > 0.95 * bound
    b = m.bias.numpy()
    assert np.abs(b).max() <= bound and len(np.unique(b)) == b.size


def test_init_is_seeded():
    ptlite.manual_seed(5)
    a = nn.Linear(10, 10).weight.numpy().copy()
    ptlite.manual_seed(5)
    b = nn.Linear(10, 10).weight.numpy().copy()
    c = nn.Linear(10, 10).weight.numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_norm_and_prelu_init():
    bn = nn.BatchNorm2d(5)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(5, np.float32))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(5, np.float32))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(5, np.float32))
    assert bn.num_batches_tracked.dtype is ptlite.int64 and bn.num_batches_tracked.item() == 0
    ln = nn.LayerNorm((2, 3))
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones((2, 3), np.float32))
    pr = nn.PReLU(4, init=0.3)
    np.testing.assert_array_equal(pr.weight.numpy(), np.full(4, 0.3, np.float32))


def test_init_functions():
    ptlite.manual_seed(0)
    w = ptlite.empty(300, 200)
    nn.init.xavier_uniform_(w)
    a = math.sqrt(6 / 500)
    assert np.abs(w.numpy()).max() <= a and abs(w.numpy().std() - a / math.sqrt(3)) < 0.02 * a
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    nn.init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * math.sqrt(2 / 500)) < 0.05 * 2 * math.sqrt(2 / 500)
    nn.init.normal_(w, 3.0, 0.5)
    assert abs(w.numpy().mean() - 3) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    nn.init.uniform_(w, -2, -1)
    assert w.numpy().min() >= -2 and w.numpy().max() < -1
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    nn.init.zeros_(w)
    assert np.all(w.numpy() == 0)
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1)
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.numpy()).max() <= 0.5
    q = ptlite.empty(6, 4)
    nn.init.orthogonal_(q)
    np.testing.assert_allclose(q.numpy().T @ q.numpy(), np.eye(4), atol=1e-5)
    e = ptlite.empty(3, 4)
    nn.init.eye_(e)
    np.testing.assert_array_equal(e.numpy(), np.eye(3, 4, dtype=np.float32))
    for nl, param in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None),
                      ("conv2d", None), ("sigmoid", None)]:
        assert nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
        nn.init.xavier_uniform_(ptlite.empty(5))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("nope")


# ---- reprs of every layer (no compute needed) ------------------------------------------------
REPRS = [
    lambda L: L.nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=2, groups=1, bias=False,
                          padding_mode="circular"),
    lambda L: L.nn.Conv2d(4, 8, (3, 5), padding="same", groups=2),
    lambda L: L.nn.Conv1d(4, 8, 3, padding="valid"),
    lambda L: L.nn.ConvTranspose2d(4, 8, 3, stride=2, output_padding=1),
    lambda L: L.nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True),
    lambda L: L.nn.MaxPool2d((2, 3)),
    lambda L: L.nn.AvgPool2d(3, stride=(1, 2), padding=1),
    lambda L: L.nn.AdaptiveAvgPool2d((None, 7)),
    lambda L: L.nn.AdaptiveMaxPool2d(3, return_indices=True),
    lambda L: L.nn.BatchNorm2d(16, eps=1e-3, momentum=None, affine=False),
    lambda L: L.nn.BatchNorm1d(4, track_running_stats=False),
    lambda L: L.nn.LayerNorm((3, 4), eps=1e-6),
    lambda L: L.nn.Hardtanh(-2.0, 2.0, inplace=True),
    lambda L: L.nn.ReLU6(inplace=True),
    lambda L: L.nn.SiLU(inplace=True),
    lambda L: L.nn.ELU(),
    lambda L: L.nn.GELU("tanh"),
    lambda L: L.nn.LeakyReLU(),
    lambda L: L.nn.Softmax(),
    lambda L: L.nn.Dropout(),
    lambda L: L.nn.Dropout2d(0.1, inplace=True),
    lambda L: L.nn.Flatten(2, 3),
    lambda L: L.nn.Unflatten(-1, [2, 3]),
    lambda L: L.nn.Upsample(size=4),
    lambda L: L.nn.Upsample(scale_factor=(2, 3), mode="bilinear"),
    lambda L: L.nn.Embedding(7, 2, padding_idx=0, max_norm=1.0, norm_type=1.0,
                             scale_grad_by_freq=True, sparse=True),
    lambda L: L.nn.ZeroPad2d((1, 2, 3, 4)),
    lambda L: L.nn.ConstantPad2d(2, 0.5),
    lambda L: L.nn.ReflectionPad2d(2),
    lambda L: L.nn.PReLU(8),
    lambda L: L.nn.Linear(3, 4, bias=False),
]


@pytest.mark.parametrize("make", REPRS, ids=[str(i) for i in range(len(REPRS))])
def test_layer_repr(make):
    t, p = make_pair(make)
    check_structure(t, p)


# ---- bad constructor arguments: torch's exceptions and messages ------------------------------
BAD = [
    lambda L: L.nn.Conv2d(3, 8, 3, groups=0),
    lambda L: L.nn.Conv2d(3, 8, 3, groups=2),
    lambda L: L.nn.Conv2d(4, 6, 3, groups=4),
    lambda L: L.nn.Conv2d(3, 8, 3, padding="full"),
    lambda L: L.nn.Conv2d(3, 8, 3, padding="same", stride=2),
    lambda L: L.nn.Conv2d(3, 8, 3, padding_mode="mirror"),
    lambda L: L.nn.ConvTranspose2d(3, 8, 3, padding_mode="reflect"),
    lambda L: L.nn.Unflatten(1, 3),
    lambda L: L.nn.Hardtanh(1.0, -1.0),
]


@pytest.mark.parametrize("make", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_constructor_arguments(make):
    with pytest.raises(Exception) as et:
        make(torch)
    with pytest.raises(Exception) as ep:
        make(ptlite)
    assert type(ep.value) is type(et.value)
    assert _sorted_sets(str(ep.value)) == _sorted_sets(str(et.value))


def _sorted_sets(msg: str) -> str:
    """The message with the items of any printed set sorted (set order is per process)."""
    return re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", ")))
                  + "}", msg)


# ---- EmbeddingBag ----------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(mode="sum"), dict(mode="mean"), dict(mode="max"),
                                dict(mode="mean", padding_idx=1),
                                dict(mode="sum", include_last_offset=True)],
                         ids=["sum", "mean", "max", "mean_pad", "last_offset"])
def test_embedding_bag_matches_torch(kw):
    t, p = make_pair(lambda L: L.nn.EmbeddingBag(10, 3, **kw))
    check_structure(t, p)
    p.load_state_dict(t.state_dict())
    ids = np.array([1, 2, 4, 5, 4, 3, 2, 9, 1, 1], np.int64)
    offsets = np.array([0, 2, 2, 6, 8], np.int64)  # includes an empty bag
    with torch.no_grad():
        out_t = t(torch.from_numpy(ids), torch.from_numpy(offsets))
    assert_close(p(ptlite.tensor(ids), ptlite.tensor(offsets)), out_t)
    ids2 = ids.reshape(2, 5)
    with torch.no_grad():
        out_t = t(torch.from_numpy(ids2))
    assert_close(p(ptlite.tensor(ids2)), out_t)


def test_embedding_bag_per_sample_weights_and_errors():
    t, p = make_pair(lambda L: L.nn.EmbeddingBag(6, 2, mode="sum"))
    p.load_state_dict(t.state_dict())
    ids = np.array([0, 5, 3, 3], np.int64)
    off = np.array([0, 1], np.int64)
    w = rand_input((4,))
    with torch.no_grad():
        out_t = t(torch.from_numpy(ids), torch.from_numpy(off), torch.from_numpy(w))
    assert_close(p(ptlite.tensor(ids), ptlite.tensor(off), ptlite.tensor(w)), out_t)
    for call in [lambda L, m: m(L.tensor([1, 2])),
                 lambda L, m: m(L.tensor([[1, 2]]), L.tensor([0])),
                 lambda L, m: m(L.tensor([1, 2]), L.tensor([[0]])),
                 lambda L, m: m(L.tensor([[[1]]]))]:
        with pytest.raises(ValueError) as et:
            call(torch, t)
        with pytest.raises(ValueError) as ep:
            call(ptlite, p)
        ours = str(ep.value).replace("ptlite._tensor.Tensor", "ptlite.Tensor")
        assert ours == torch_repr(str(et.value))
