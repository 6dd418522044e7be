"""``scratchcnn visualize``: every picture is written as a valid PNG that is not blank."""

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.cli import main

plt = pytest.importorskip("matplotlib.pyplot")
Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A LeNet-5 run of two epochs on the bundled sample (model.npz and metrics.json)."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--model", "lenet5", "--epochs", "2", "--offline", "--out",
                 str(out)]) == 0
    return out


def not_blank(path) -> None:
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert pixels.std() > 10 and len(np.unique(pixels)) > 20, f"{path} looks blank"


def test_visualize_writes_every_picture(run, tmp_path, capsys):
    assert main(["visualize", str(run / "model.npz"), "--out", str(tmp_path / "pics"),
                 "--offline"]) == 0
    files = {}
    for line in capsys.readouterr().out.splitlines():
        key, _, value = line.partition("=")
        files.setdefault(key, []).append(value)
    assert set(files) == {"filters_file", "feature_maps_file", "confusion_file",
                          "misclassified_file", "curves_file"}
    assert [p.rsplit("/", 1)[1] for p in files["feature_maps_file"]] == [
        "feature_maps_0.png", "feature_maps_3.png"]  # LeNet-5's two convolutions
    for paths in files.values():
        for path in paths:
            not_blank(path)


def test_feature_maps_of_ones_own_photo(run, tmp_path, capsys):
    x, y = sc.datasets.load_sample().test
    photo = 255 - (x[int(np.flatnonzero(y == 7)[0]), 0] * 255).astype(np.uint8)  # dark on light
    Image.fromarray(photo).resize((90, 90)).save(tmp_path / "seven.png")
    assert main(["visualize", str(run / "model.npz"), "--image", str(tmp_path / "seven.png"),
                 "--out", str(tmp_path / "pics"), "--offline"]) == 0
    capsys.readouterr()
    not_blank(tmp_path / "pics" / "feature_maps_0.png")
    from scratchcnn import pictures
    model = sc.load(run / "model.npz")
    found = pictures.conv_outputs(model, x[0])
    assert [(i, maps.shape) for i, _, maps in found] == [(0, (6, 28, 28)), (3, (16, 10, 10))]
    model.eval()
    np.testing.assert_allclose(found[0][2], model.layers[0].forward(model._normalise(x[:1]))[0],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="the model has no Conv2d layer"):
        pictures.plot_filters(sc.Sequential([sc.Flatten(), sc.Linear(4, 2)]), str(tmp_path / "f"))
