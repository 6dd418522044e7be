"""Finite float64 values beyond float32's range never load silently as inf (issue 26)."""

import json

import numpy as np
import pytest

import scratchcnn as sc


def test_a_model_file_with_a_value_beyond_float32_is_refused_naming_the_array(tmp_path):
    path = sc.save(sc.models.lenet5().astype(np.float64), tmp_path / "m")
    arrays = dict(np.load(path))
    arch = json.loads(arrays["__architecture__"].tobytes())
    arch["dtype"] = "float32"  # a float32 model whose stored float64 weights hold 1e300
    arrays["__architecture__"] = np.frombuffer(json.dumps(arch).encode(), np.uint8)
    arrays["3.bias"][2] = -1e300
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"m.npz: not a scratchcnn model file \(weight '3.bias' holds "
                                         r"values beyond float32's range \(up to 1e\+300"):
        sc.load(path)


def test_an_optimiser_moment_beyond_the_parameters_dtype_is_refused():
    model = sc.models.lenet5()
    opt = sc.Adam(1e-3)
    x, y = sc.datasets.load_sample().train
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, optimizer=opt, verbose=0)
    state = opt.state_dict()
    state["state"]["0.weight"]["exp_avg_sq"] = np.full_like(state["state"]["0.weight"]["exp_avg_sq"], 1e39,
                                                   dtype=np.float64)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: 0.weight/exp_avg_sq holds values "
                                         r"beyond float32's range"):
        sc.Adam(1e-3).load_state_dict(state, {k: p for k, p, _ in model.named_parameters()})


def test_safetensors_beyond_float32_are_refused(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    model = sc.models.lenet5()
    tensors = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    tensors["7.weight"][0, 0] = 3e38 * 10
    path = tmp_path / "w.safetensors"
    path.write_bytes(st.save(tensors))
    with pytest.raises(ValueError, match=r"tensor '7.weight' holds values beyond float32's "
                                         r"range"):
        sc.load_safetensors(path, model=model)
