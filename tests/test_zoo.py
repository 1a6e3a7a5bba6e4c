"""ptlite.vision.models against torch re-statements of torchvision's architectures.

For each model: identical state_dict keys (and order) and shapes, strict loading of torch's
weights, equal parameter counts, equal str(model), and equal eval-mode outputs on the same
input. Plus ptlite's own random initialisation scheme and the error paths.
"""
from __future__ import annotations

import functools
import math
import os
import re
import sys

import numpy as np
import pytest
import torch

import ptlite
from ptlite import nn as pnn
from ptlite.vision import models
from ptlite.vision.models import segmentation
from ptlite.vision.models._utils import IntermediateLayerGetter

sys.path.insert(0, os.path.dirname(__file__))
import _torch_models as T  # noqa: E402
from conftest import from_torch  # noqa: E402

# torchvision's published parameter counts (docs / weight metadata): an oracle independent of
# both re-statements. deeplabv3_resnet50's 42,004,074 includes the aux classifier.
TORCHVISION_NUM_PARAMS = {
    "resnet18": 11689512,
    "resnet34": 21797672,
    "resnet50": 25557032,
    "resnet101": 44549160,
    "mobilenet_v2": 3504872,
    "deeplabv3_resnet50_aux": 42004074,
}


# ---------------------------------------------------------------------------------------------
# helpers
_BUILDERS = {
    "resnet18": (models.resnet18, T.resnet18),
    "resnet34": (models.resnet34, T.resnet34),
    "resnet50": (models.resnet50, T.resnet50),
    "resnet101": (models.resnet101, T.resnet101),
    "mobilenet_v2": (models.mobilenet_v2, T.MobileNetV2),
    "deeplabv3_resnet50_aux": (lambda: models.deeplabv3_resnet50(aux_loss=True),
                               lambda: T.deeplabv3_resnet50(aux_loss=True)),
    "deeplabv3_resnet50": (models.deeplabv3_resnet50, T.deeplabv3_resnet50),
    "resnet50_dilated": (
        lambda: models.resnet50(replace_stride_with_dilation=[True, False, True], num_classes=7),
        lambda: T.resnet50(replace_stride_with_dilation=[True, False, True], num_classes=7)),
    "lenet5": (models.lenet5, T.LeNet5),
}


@functools.lru_cache(maxsize=None)
def _shared(name: str, lib: str = "ptlite"):
    """A model built once per session for the read-only structure tests (ptlite's random init
    of a ResNet-50 takes ~2 s: its randn is ~8x slower than torch's)."""
    return _BUILDERS[name][0 if lib == "ptlite" else 1]()


def _randomize_bn(model: torch.nn.Module, seed: int = 1) -> None:
    """Non-trivial BatchNorm affine params and running stats, so eval-mode BN is really tested
    (torch's init leaves them at 1/0/0/1, which would hide a wrong mean/var/eps handling)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0.0, 0.1, generator=g)
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
                m.bias.normal_(0.0, 0.05, generator=g)


def _num_params(model) -> int:
    return sum(int(np.prod(tuple(p.shape))) for p in model.parameters())


def _check_same_state(ours, theirs: torch.nn.Module) -> None:
    """Same keys in the same order, same shapes."""
    so, st = ours.state_dict(), theirs.state_dict()
    assert sorted(so.keys()) == sorted(st.keys()), (
        f"only ptlite: {sorted(set(so) - set(st))[:10]}, "
        f"only torch: {sorted(set(st) - set(so))[:10]}"
    )
    assert list(so.keys()) == list(st.keys())
    for k in st:
        assert tuple(so[k].shape) == tuple(st[k].shape), k


def _load_from_torch(ours, theirs: torch.nn.Module) -> None:
    sd = {k: from_torch(v) for k, v in theirs.state_dict().items()}
    result = ours.load_state_dict(sd, strict=True)
    if result is not None:  # torch returns (missing_keys, unexpected_keys)
        missing, unexpected = result
        assert not missing and not unexpected
    # the values really arrived (not silently dropped)
    so = ours.state_dict()
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(np.asarray(so[k].numpy()), v.numpy(), err_msg=k)


def _assert_close_scaled(ours, theirs: torch.Tensor, rtol: float = 1e-4,
                         atol: float = 1e-4) -> None:
    """Max abs difference relative to the output's magnitude (deep nets accumulate rounding)."""
    a = np.asarray(ours.numpy())
    b = theirs.detach().numpy()
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert a.dtype == b.dtype == np.float32
    assert np.isfinite(a).all()
    scale = float(np.abs(b).max())
    assert scale > 1e-3, "degenerate reference output; test would be meaningless"
    err = float(np.abs(a - b).max())
    assert err <= atol * min(1.0, scale) + rtol * scale, f"max abs diff {err} at scale {scale}"


def _pair(build_ptlite, build_torch):
    torch.manual_seed(0)
    theirs = build_torch()
    _randomize_bn(theirs)
    ours = build_ptlite()
    _check_same_state(ours, theirs)
    _load_from_torch(ours, theirs)
    ours.eval()
    theirs.eval()
    return ours, theirs


def _run(ours, theirs, shape):
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = theirs(x)
    with ptlite.no_grad():
        out = ours(from_torch(x))
    return out, ref


def _norm_repr(model) -> str:
    return re.sub(r"\b(torch|ptlite)\b", "LIB", str(model))


# ---------------------------------------------------------------------------------------------
# numerics against torch
def test_lenet5_matches_torch(backend):
    ours, theirs = _pair(models.lenet5, T.LeNet5)
    out, ref = _run(ours, theirs, (2, 1, 28, 28))
    _assert_close_scaled(out, ref)
    assert _num_params(ours) == _num_params(theirs) == 61706


def test_lenet5_num_classes():
    ours, theirs = _pair(lambda: models.lenet5(num_classes=3), lambda: T.LeNet5(num_classes=3))
    out, ref = _run(ours, theirs, (1, 1, 28, 28))
    assert tuple(out.shape) == (1, 3)
    _assert_close_scaled(out, ref)


def test_resnet18_matches_torch(backend):
    ours, theirs = _pair(models.resnet18, T.resnet18)
    n = 2 if backend == "xnnpack" else 1  # the plain-loop reference kernels are slow
    out, ref = _run(ours, theirs, (n, 3, 224, 224))
    assert tuple(out.shape) == (n, 1000)
    _assert_close_scaled(out, ref)


def test_resnet50_matches_torch():
    ours, theirs = _pair(models.resnet50, T.resnet50)
    out, ref = _run(ours, theirs, (1, 3, 224, 224))
    _assert_close_scaled(out, ref)


def test_mobilenet_v2_matches_torch(backend):
    ours, theirs = _pair(models.mobilenet_v2, T.MobileNetV2)
    out, ref = _run(ours, theirs, (2, 3, 224, 224))
    assert tuple(out.shape) == (2, 1000)
    _assert_close_scaled(out, ref)


def test_mobilenet_v2_width_mult_small_input():
    ours, theirs = _pair(
        lambda: models.mobilenet_v2(width_mult=0.5, num_classes=10, dropout=0.3),
        lambda: T.MobileNetV2(width_mult=0.5, num_classes=10, dropout=0.3),
    )
    assert ours.classifier[0].p == 0.3
    out, ref = _run(ours, theirs, (1, 3, 96, 96))
    _assert_close_scaled(out, ref)


def test_deeplabv3_resnet50_aux_matches_torch():
    ours, theirs = _pair(
        lambda: models.deeplabv3_resnet50(aux_loss=True),
        lambda: T.deeplabv3_resnet50(aux_loss=True),
    )
    out, ref = _run(ours, theirs, (1, 3, 128, 128))
    assert list(out.keys()) == ["out", "aux"]
    for k in ("out", "aux"):
        assert tuple(out[k].shape) == (1, 21, 128, 128)
        _assert_close_scaled(out[k], ref[k])


def test_deeplabv3_resnet50_no_aux_matches_torch():
    ours, theirs = _pair(
        lambda: segmentation.deeplabv3_resnet50(num_classes=5),
        lambda: T.deeplabv3_resnet50(num_classes=5),
    )
    assert ours.aux_classifier is None
    # odd size: the final bilinear upsample is not an integer factor
    out, ref = _run(ours, theirs, (1, 3, 41, 53))
    assert list(out.keys()) == ["out"]
    assert tuple(out["out"].shape) == (1, 5, 41, 53)
    _assert_close_scaled(out["out"], ref["out"])


# ---------------------------------------------------------------------------------------------
# structure only (cheap)
@pytest.mark.parametrize("name", [n for n in _BUILDERS if n != "lenet5"])
def test_keys_shapes_param_count(name):
    ours, theirs = _shared(name), _shared(name, "torch")
    _check_same_state(ours, theirs)
    assert _num_params(ours) == _num_params(theirs)
    if name in TORCHVISION_NUM_PARAMS:
        assert _num_params(ours) == TORCHVISION_NUM_PARAMS[name]


def test_known_state_dict_keys():
    sd = _shared("mobilenet_v2").state_dict()
    for k in ("features.0.0.weight", "features.0.1.running_mean", "features.1.conv.0.0.weight",
              "features.1.conv.1.weight", "features.2.conv.0.0.weight",
              "features.18.0.weight", "classifier.1.weight", "classifier.1.bias"):
        assert k in sd, k
    sd = _shared("deeplabv3_resnet50").state_dict()
    for k in ("backbone.conv1.weight", "backbone.layer4.2.bn3.running_var",
              "classifier.0.convs.0.0.weight", "classifier.0.convs.3.0.weight",
              "classifier.0.convs.4.1.weight", "classifier.0.project.0.weight",
              "classifier.4.weight", "classifier.4.bias"):
        assert k in sd, k
    assert not any(k.startswith(("backbone.fc", "backbone.avgpool", "aux_classifier"))
                   for k in sd)
    assert tuple(sd["classifier.0.project.0.weight"].shape) == (256, 1280, 1, 1)
    sd = _shared("resnet50").state_dict()
    assert tuple(sd["layer2.0.conv2.weight"].shape) == (128, 128, 3, 3)


def test_dilation_layout():
    m = _shared("deeplabv3_resnet50")
    l3, l4 = m.backbone.layer3, m.backbone.layer4
    # V1.5 + replace_stride_with_dilation=[False, True, True]: layer3 first block keeps
    # dilation 1 and stride 1, later blocks dilation 2; layer4 first block dilation 2, rest 4.
    assert tuple(l3[0].conv2.stride) == (1, 1) and tuple(l3[0].conv2.dilation) == (1, 1)
    assert tuple(l3[1].conv2.dilation) == (2, 2) and tuple(l3[1].conv2.padding) == (2, 2)
    assert tuple(l4[0].conv2.dilation) == (2, 2)
    assert tuple(l4[2].conv2.dilation) == (4, 4) and tuple(l4[2].conv2.padding) == (4, 4)
    assert tuple(l4[0].downsample[0].stride) == (1, 1)
    rates = [tuple(c[0].dilation) for c in list(m.classifier[0].convs)[1:4]]
    assert rates == [(12, 12), (24, 24), (36, 36)]
    r = _shared("resnet50")
    assert tuple(r.layer2[0].conv2.stride) == (2, 2) and tuple(r.layer2[0].conv1.stride) == (1, 1)


def test_use_res_connect():
    m = _shared("mobilenet_v2")
    flags = [blk.use_res_connect for blk in list(m.features)[1:18]]
    assert flags == [False, False, True, False, True, True, False, True, True, True,
                     False, True, True, False, True, True, False]


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2",
                                  "deeplabv3_resnet50_aux", "lenet5"])
def test_repr_matches_torch(name):
    assert _norm_repr(_shared(name)) == _norm_repr(_shared(name, "torch"))


def test_intermediate_layer_getter():
    torch.manual_seed(0)
    tm = T.resnet18()
    _randomize_bn(tm)
    pm = models.resnet18()
    _load_from_torch(pm, tm)
    getter = IntermediateLayerGetter(pm, {"layer1": "feat1", "layer3": "feat2"})
    assert list(dict(getter.named_children())) == ["conv1", "bn1", "relu", "maxpool", "layer1",
                                                   "layer2", "layer3"]
    tget = T.IntermediateLayerGetter(tm, {"layer1": "feat1", "layer3": "feat2"})
    getter.eval()
    tget.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = tget(x)
    out = getter(from_torch(x))
    assert list(out.keys()) == ["feat1", "feat2"]
    assert tuple(out["feat1"].shape) == (1, 64, 16, 16)
    assert tuple(out["feat2"].shape) == (1, 256, 4, 4)
    for k in out:
        _assert_close_scaled(out[k], ref[k])
    with pytest.raises(ValueError, match="return_layers are not present in model"):
        IntermediateLayerGetter(pm, {"layer5": "x"})


# ---------------------------------------------------------------------------------------------
# random initialisation scheme (ptlite's own RNG: statistics, not bits)
def _conv_fan_out(w) -> int:
    shape = tuple(w.shape)
    return shape[0] * int(np.prod(shape[2:]))


def _check_kaiming_fan_out(model) -> None:
    zs = []
    for m in model.modules():
        if isinstance(m, pnn.Conv2d):
            w = np.asarray(m.weight.numpy(), dtype=np.float64)
            std = math.sqrt(2.0 / _conv_fan_out(m.weight))
            if w.size >= 4096:  # per-layer check where the sample is large enough
                assert abs(w.std() / std - 1) < 0.1, (tuple(w.shape), w.std(), std)
                assert abs(w.mean()) < 0.1 * std
            zs.append((w / std).ravel())
    z = np.concatenate(zs)
    assert abs(z.std() - 1) < 0.01 and abs(z.mean()) < 0.01
    # normal, not uniform: a uniform init with this std would have kurtosis 1.8, not 3
    kurt = float(((z - z.mean()) ** 4).mean() / z.var() ** 2)
    assert abs(kurt - 3) < 0.1


def _check_bn_identity(model, zero_weight_names=()) -> None:
    n = 0
    for name, m in model.named_modules():
        if isinstance(m, pnn.BatchNorm2d):
            n += 1
            expect_w = 0.0 if name in zero_weight_names else 1.0
            np.testing.assert_array_equal(m.weight.numpy(), expect_w, err_msg=name)
            np.testing.assert_array_equal(m.bias.numpy(), 0.0, err_msg=name)
            np.testing.assert_array_equal(m.running_mean.numpy(), 0.0, err_msg=name)
            np.testing.assert_array_equal(m.running_var.numpy(), 1.0, err_msg=name)
    assert n > 0


def test_resnet_init_scheme():
    m = _shared("resnet50")
    _check_kaiming_fan_out(m)
    _check_bn_identity(m)
    # fc keeps nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = np.asarray(m.fc.weight.numpy(), dtype=np.float64)
    bound = 1 / math.sqrt(2048)
    assert np.abs(w).max() <= bound and abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.02


def test_resnet_zero_init_residual():
    m = models.resnet18(zero_init_residual=True)
    zero = {f"layer{i}.{j}.bn2" for i in range(1, 5) for j in range(2)}
    _check_bn_identity(m, zero)
    m = models.resnet50(zero_init_residual=True)
    zero = {f"layer{i}.{j}.bn3" for i, n in zip(range(1, 5), (3, 4, 6, 3)) for j in range(n)}
    _check_bn_identity(m, zero)


def test_mobilenet_v2_init_scheme():
    m = _shared("mobilenet_v2")
    _check_kaiming_fan_out(m)
    _check_bn_identity(m)
    w = np.asarray(m.classifier[1].weight.numpy(), dtype=np.float64)
    assert abs(w.std() / 0.01 - 1) < 0.01 and abs(w.mean()) < 1e-4
    np.testing.assert_array_equal(m.classifier[1].bias.numpy(), 0.0)


def test_deeplab_init_scheme():
    m = _shared("deeplabv3_resnet50_aux")
    # torchvision re-initialises only the backbone (ResNet's scheme); the heads keep nn's
    # defaults: conv U(-1/sqrt(fan_in), ..) (kaiming_uniform a=sqrt(5)).
    _check_kaiming_fan_out(m.backbone)
    w = np.asarray(m.classifier[0].project[0].weight.numpy(), dtype=np.float64)
    bound = 1 / math.sqrt(1280)
    assert np.abs(w).max() <= bound and abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.05


def test_init_differs_between_seeds():
    ptlite.manual_seed(1)
    a = models.lenet5().conv1.weight.numpy().copy()
    ptlite.manual_seed(2)
    b = models.lenet5().conv1.weight.numpy().copy()
    ptlite.manual_seed(1)
    c = models.lenet5().conv1.weight.numpy().copy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------------------------
# builders and errors
@pytest.mark.parametrize(
    "builder",
    [models.resnet18, models.resnet34, models.resnet50, models.resnet101, models.mobilenet_v2,
     models.lenet5, models.deeplabv3_resnet50, segmentation.deeplabv3_resnet101],
)
def test_weights_rejected(builder):
    with pytest.raises(ValueError, match=r"ptlite cannot download pretrained weights.*"
                                         r"load_state_dict"):
        builder(weights="DEFAULT")
    with pytest.raises(ValueError, match="cannot download"):
        builder(pretrained=True)


def test_weights_backbone_rejected():
    with pytest.raises(ValueError, match="weights_backbone"):
        models.deeplabv3_resnet50(weights_backbone="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="cannot download"):
        models.deeplabv3_resnet50(pretrained_backbone=True)


def test_legacy_pretrained_false_accepted():
    m = models.resnet18(pretrained=False, num_classes=4)
    assert tuple(m.fc.weight.shape) == (4, 512)


def test_builder_positional_args_rejected():
    # torchvision's builders are keyword-only
    with pytest.raises(TypeError):
        models.resnet18(None)


def test_bad_arguments():
    with pytest.raises(ValueError, match="replace_stride_with_dilation should be None"):
        models.resnet50(replace_stride_with_dilation=[True, True])
    with pytest.raises(NotImplementedError, match="Dilation > 1 not supported in BasicBlock"):
        models.resnet18(replace_stride_with_dilation=[False, True, True])
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1"):
        models.resnet18(groups=2)
    with pytest.raises(ValueError, match="inverted_residual_setting should be non-empty"):
        models.mobilenet_v2(inverted_residual_setting=[])
    with pytest.raises(ValueError, match="stride should be 1 or 2"):
        models.InvertedResidual(8, 8, 3, 6)


def test_wrong_input_channels_raises():
    m = models.lenet5().eval()
    with pytest.raises(RuntimeError, match="conv2d|channels"):
        m(ptlite.randn(1, 3, 28, 28))


def test_get_model():
    assert "resnet50" in models.list_models() and "deeplabv3_resnet50" in models.list_models()
    m = models.get_model("ResNet18", num_classes=3)
    assert isinstance(m, models.ResNet) and tuple(m.fc.weight.shape) == (3, 512)
    with pytest.raises(ValueError, match="Unknown model"):
        models.get_model("vgg16")


def test_train_mode_dropout_and_eval():
    m = models.mobilenet_v2(num_classes=4)
    assert m.training
    m.eval()
    assert not any(mod.training for mod in m.modules())
