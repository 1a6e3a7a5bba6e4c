"""Graph-mode PTQ of zoo models on the real int8 kernels: output SQNR against fp32 on
held-out inputs must be at least torch's own graph-mode PTQ SQNR of the same model (same
weights, same calibration data, qnnpack engine) minus 1 dB."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.ao.quantization import get_default_qconfig_mapping as t_mapping
from torch.ao.quantization import quantize_fx as tq

import _torch_models as TM
import ptlite
from ptlite.quantization import get_default_qconfig_mapping
from ptlite.quantization.ns import compute_sqnr
from ptlite.quantization.quantize_fx import convert_fx, prepare_fx
from ptlite.vision import models as PM


def _sqnr_db(ref, outs):
    return compute_sqnr(np.concatenate(ref), np.concatenate(outs))


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18"])
def test_graph_mode_sqnr_at_least_torchs(name, qnnpack):
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    tm = getattr(TM, name)().eval()
    pm = getattr(PM, name)()
    pm.load_state_dict({k: ptlite.tensor(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    pm.eval()
    calib = [rng.random((2, 3, 96, 96), dtype=np.float32) for _ in range(4)]
    held_out = [rng.random((2, 3, 96, 96), dtype=np.float32) for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = prepare_fx(pm, get_default_qconfig_mapping("qnnpack"), (ptlite.tensor(calib[0]),))
        tp = tq.prepare_fx(tm, t_mapping("qnnpack"), (torch.from_numpy(calib[0]),))
        with torch.no_grad():
            for c in calib:
                pp(ptlite.tensor(c))
                tp(torch.from_numpy(c))
            qm = convert_fx(pp)
            tc = tq.convert_fx(tp)
            ref, ours, theirs = [], [], []
            for h in held_out:
                ref.append(pm(ptlite.tensor(h)).numpy())
                ours.append(qm(ptlite.tensor(h)).numpy())
                theirs.append(tc(torch.from_numpy(h)).numpy())
    assert qm.fallbacks == [], qm.fallback_report()
    hist = qm.op_histogram()
    assert hist.get("quantized_conv2d", 0) >= 20 and "conv2d" not in hist
    s_ours, s_torch = _sqnr_db(ref, ours), _sqnr_db(ref, theirs)
    same = np.mean(np.abs(np.concatenate(ours) - np.concatenate(theirs)) <= 1e-6)
    print(f"\n{name}: held-out SQNR vs fp32: ptlite {s_ours:.2f} dB, torch {s_torch:.2f} dB; "
          f"outputs equal to torch's int8 on {same:.4f} of elements")
    assert s_ours >= s_torch - 1.0
