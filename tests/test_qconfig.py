"""QConfig and torch's default qconfigs: the same observers with the same settings."""
import pytest
import torch
import torch.ao.quantization as tq

import ptlite
import ptlite.ao.quantization as pq

NAMES = ["default_qconfig", "default_per_channel_qconfig", "default_dynamic_qconfig",
         "per_channel_dynamic_qconfig", "float16_dynamic_qconfig"]


def _describe(obs):
    return (type(obs).__name__, str(obs.dtype).split(".")[-1],
            str(getattr(obs, "qscheme", None)).split(".")[-1],
            getattr(obs, "reduce_range", None), getattr(obs, "quant_min", None),
            getattr(obs, "quant_max", None), getattr(obs, "is_dynamic", None))


@pytest.mark.parametrize("name", NAMES)
def test_default_qconfigs_match_torch(name):
    ours, theirs = getattr(pq, name), getattr(tq, name)
    assert _describe(ours.activation()) == _describe(theirs.activation())
    assert _describe(ours.weight()) == _describe(theirs.weight())


@pytest.mark.parametrize("backend", ["qnnpack", "x86", "fbgemm", "onednn"])
def test_get_default_qconfig_matches_torch(backend):
    ours, theirs = pq.get_default_qconfig(backend), tq.get_default_qconfig(backend)
    assert _describe(ours.activation()) == _describe(theirs.activation())
    assert _describe(ours.weight()) == _describe(theirs.weight())


def test_qconfig_errors():
    with pytest.raises(ValueError, match="backend 'metal' is not supported"):
        pq.get_default_qconfig("metal")
    with pytest.raises(ValueError, match="observer instance for activation"):
        pq.QConfig(activation=pq.MinMaxObserver(), weight=pq.default_weight_observer)
    q = pq.QConfig(activation=pq.MinMaxObserver, weight=pq.default_weight_observer)
    assert q.activation is pq.MinMaxObserver and ptlite.quantization.QConfig is pq.QConfig
