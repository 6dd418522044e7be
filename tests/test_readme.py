"""The README's Python examples run as written (in a fresh directory, offline)."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_examples_run_and_say_what_they_claim(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path / "cache"))  # the bundled sample
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    namespace: dict = {}
    exec(compile(blocks[0], "README.md (ten lines)", "exec"), namespace)
    fast, textbook = [eval(line) for line in capsys.readouterr().out.splitlines()]
    assert fast["accuracy"] > 0.9  # two epochs of LeNet-5 on 4,000 images
    assert abs(fast["accuracy"] - textbook["accuracy"]) <= 0.002  # "the same answers"
    assert abs(fast["loss"] - textbook["loss"]) < 1e-4
    assert (tmp_path / "lenet5.npz").is_file()
    exec(compile(blocks[1], "README.md (one layer)", "exec"), namespace)
    shapes, sizes = capsys.readouterr().out.splitlines()
    assert shapes == "(8, 6, 14, 14) (6, 1, 5, 5) 156"
    assert sizes == "142 (6, 28, 28)"
    assert namespace["dx"].shape == (8, 1, 28, 28) and namespace["dx"].dtype == np.float32
    exec(compile(blocks[2], "README.md (bridges)", "exec"), namespace)
    assert float(capsys.readouterr().out) > 0.6  # two epochs on 1,000 images
    assert (tmp_path / "lenet5.safetensors").is_file() and (tmp_path / "lenet5.onnx").is_file()
    np.testing.assert_array_equal(namespace["twin"].predict(namespace["x_test"][:50]),
                                  namespace["model"].predict(namespace["x_test"][:50]))
