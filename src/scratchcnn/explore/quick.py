"""The model ``scratchcnn explore`` shows when it is given none: LeNet-5 trained for a few
seconds on the MNIST sample bundled with the package, saved in the user's cache
(:func:`scratchcnn.datasets.cache_dir`) so that only the first start trains it.

The recipe is fixed and seeded, so every machine trains the same network (to float
rounding); a change of recipe changes :data:`VERSION` and with it the file's name.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["quick_model", "default_model", "default_model_path", "RECIPE", "VERSION"]

#: How the default model is trained: on the sample's 4,000 training images, each batch
#: randomly rotated, shifted and zoomed as ``scratchcnn train`` does (drawn digits are
#: rarely centred like MNIST's).
RECIPE = {"model": "lenet5", "epochs": 3, "batch_size": 16, "lr": 2e-3, "augment": "affine:10",
          "seed": 0}
VERSION = 1


def default_model_path() -> str:
    """Where the default model is kept: ``<cache>/explore/lenet5-mnist-sample-v1.npz``."""
    from ..datasets import cache_dir
    return os.path.join(cache_dir("explore"), f"lenet5-mnist-sample-v{VERSION}.npz")


def quick_model(epochs: int | None = None, images: int | None = None,
                augment: str | None = RECIPE["augment"]):
    """LeNet-5 trained by :data:`RECIPE` on the bundled MNIST sample (``epochs`` and the
    first ``images`` training images to make it quicker still, as the tests do), with its
    held-out accuracy in ``model.meta['description']``."""
    from ..datasets import load_sample
    from ..models import lenet5
    from ..optim import Adam
    from ..transforms import parse
    data = load_sample()
    (x, y), (x_test, y_test) = data.train, data.test
    x, y = x[:images], y[:images]
    epochs = RECIPE["epochs"] if epochs is None else epochs
    model = lenet5(seed=RECIPE["seed"])
    model.input_mean, model.input_std = float(x.mean()), float(x.std())
    model.meta = {"dataset": data.name, "source": data.source, "classes": list(data.classes),
                  "input_shape": list(x.shape[1:]), "model": RECIPE["model"]}
    model.fit(x, y, epochs=epochs, batch_size=RECIPE["batch_size"],
              optimizer=Adam(RECIPE["lr"]), seed=RECIPE["seed"], verbose=0,
              augment=parse(augment))
    accuracy = model.evaluate(x_test, y_test)["accuracy"]
    model.meta["description"] = (
        f"LeNet-5 trained for {epochs} epoch{'s' if epochs != 1 else ''} on {len(x):,} "
        f"images of the bundled MNIST sample; it reads {accuracy:.1%} of the "
        f"{len(x_test):,} held-out test images right")
    return model


def default_model(say=lambda text: print(f"scratchcnn explore: {text}", file=sys.stderr)):
    """``(model, path)``: the cached default model, trained and saved first if it is not
    there (or not readable).  ``say`` tells the user what happens."""
    from ..io import save
    from ..model import load
    path = default_model_path()
    if os.path.isfile(path):
        try:
            return load(path), path
        except ValueError as err:
            say(f"the cached default model is unreadable ({err}); training it again")
    say(f"no model file given: training LeNet-5 on the bundled MNIST sample for "
        f"{RECIPE['epochs']} epochs (once; it is kept in {path})")
    start = time.perf_counter()
    model = quick_model()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save(model, path)
    say(f"trained in {time.perf_counter() - start:.0f} s: {model.meta['description']}")
    return model, path
