"""scikit-learn runs our classifier: check_estimator, a Pipeline, cross-validation and a
grid search, on the bundled MNIST sample."""

import warnings

import numpy as np
import pytest

import scratchcnn as sc

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from scratchcnn.sklearn import CNNClassifier  # noqa: E402

DATA = sc.datasets.load_sample()
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                  "nine"])


def small_mlp(input_shape, n_classes, seed):
    """A network for scikit-learn's own small tabular test data."""
    features = int(np.prod(input_shape))
    return sc.Sequential([sc.Flatten(), sc.Linear(features, 16, rng=seed), sc.ReLU(),
                          sc.Linear(16, n_classes, rng=seed)])


def test_check_estimator_passes():
    estimator = CNNClassifier(model=small_mlp, epochs=20, batch_size=16, lr=1e-2,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results
              if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_check_estimator_passes_with_the_default_model():
    """LeNet-5 itself on scikit-learn's rows of 2-10 features: each row a 1 x n image,
    padded to LeNet-5's smallest input, 4x4; standardised and negative values taken."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(CNNClassifier(random_state=0), on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results
              if r["status"] == "failed"]
    skipped = sorted(r["check_name"] for r in results if r["status"] == "skipped")
    assert not failed
    assert skipped == ["check_array_api_input", "check_classifier_data_not_an_array"]
    assert sum(r["status"] == "passed" for r in results) >= 50


@pytest.mark.parametrize("standardised", [False, True])
def test_lenet5_fits_scikit_learns_8x8_digits_out_of_the_box(standardised):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    if standardised:  # flat features, any real values
        clf = Pipeline([("scale", StandardScaler()),
                        ("cnn", CNNClassifier(epochs=3, random_state=0, image_shape=(8, 8)))])
        network = lambda: clf.named_steps["cnn"].network_  # noqa: E731
    else:  # (n, 8, 8) images in [0, 1]
        x_train, x_test = x_train.reshape(-1, 8, 8) / 16, x_test.reshape(-1, 8, 8) / 16
        clf = CNNClassifier(model="lenet5", epochs=3, random_state=0)
        network = lambda: clf.network_  # noqa: E731
    clf.fit(x_train, y_train)
    assert network().output_shape((1, 1, 8, 8)) == (1, 10)  # built for the data's shape
    assert clf.score(x_test, y_test) >= 0.85


def test_lenet5_on_flat_string_labelled_images_in_a_pipeline():
    (x, y), (xt, yt) = DATA.train, DATA.test
    flat, labels = x[:2000].reshape(2000, -1), NAMES[y[:2000]]  # (n, 784), strings
    pipe = Pipeline([("scale", FunctionTransformer(lambda a: a * 1.0)),  # any step before
                     ("cnn", CNNClassifier(epochs=3, lr=3e-3, random_state=0,
                                           image_shape=(28, 28)))])
    pipe.fit(flat, labels)
    clf = pipe.named_steps["cnn"]
    assert list(clf.classes_) == sorted(NAMES) and clf.n_features_in_ == 784
    assert pipe.score(xt.reshape(len(xt), -1), NAMES[yt]) > 0.85
    proba = clf.predict_proba(xt[:5].reshape(5, -1))
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert set(pipe.predict(xt[:20].reshape(20, -1))) <= set(NAMES)
    # (n, H, W) images are the same as flat ones
    again = CNNClassifier(epochs=3, lr=3e-3, random_state=0).fit(x[:2000, 0], labels)
    np.testing.assert_array_equal(again.predict(xt[:50, 0]), clf.predict(xt[:50].reshape(50, -1)))


def test_cross_val_score_and_grid_search():
    x, y = DATA.train
    x, y = x[:1200], y[:1200]
    scores = cross_val_score(CNNClassifier(epochs=4, lr=3e-3, random_state=0), x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.75
    search = GridSearchCV(CNNClassifier(epochs=1, random_state=0),
                          {"lr": [1e-4, 3e-3]}, cv=2).fit(x, y)
    assert search.best_params_ == {"lr": 3e-3}  # 1e-4 barely moves in one epoch
    assert search.best_estimator_.network_.trainer.epoch == 1


def test_params_clone_and_errors():
    clf = CNNClassifier(model="convnet_bn_mini", epochs=3, lr=2e-3, random_state=7)
    assert clf.get_params()["model"] == "convnet_bn_mini" and clf.get_params()["lr"] == 2e-3
    assert clone(clf.set_params(epochs=4)).get_params()["epochs"] == 4
    x, y = DATA.train
    with pytest.raises(ValueError, match="model must be one of"):
        CNNClassifier(model="resnet").fit(x[:10], y[:10])
    with pytest.raises(ValueError, match=r"image_shape \(5, 5\) holds 25 values, but X has 784"):
        CNNClassifier(image_shape=(5, 5)).fit(x[:10].reshape(10, -1), y[:10])
    trained = CNNClassifier(epochs=1).fit(x[:10], y[:10])
    with pytest.raises(ValueError, match=r"like raw 0-255 pixels, but the model was trained on "
                                         r"data in \[0, 1\]; divide by 255.0 first"):
        trained.predict(x[:10] * 255)
    a = CNNClassifier(epochs=1, random_state=3).fit(x[:256], y[:256]).predict_proba(x[:20])
    b = CNNClassifier(epochs=1, random_state=3).fit(x[:256], y[:256]).predict_proba(x[:20])
    np.testing.assert_array_equal(a, b)  # the same random_state, the same model
