"""A scikit-learn classifier around a scratchcnn network (needs the ``[sklearn]`` extra).

    from scratchcnn.sklearn import CNNClassifier
    clf = CNNClassifier(model="lenet5", epochs=5).fit(X, y)     # X: images, y: any labels
    clf.score(X_test, y_test)

It drops into a ``Pipeline``, ``cross_val_score`` or ``GridSearchCV`` like any other
classifier.
"""

from __future__ import annotations

import math

import numpy as np

from .extras import require

_sk = require("sklearn", "scratchcnn.sklearn")
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data  # noqa: E402

from .models import MIN_SIZE, MODELS  # noqa: E402
from .optim import OPTIMIZERS  # noqa: E402

__all__ = ["CNNClassifier"]


class CNNClassifier(ClassifierMixin, BaseEstimator):
    """A network of the zoo (or of your own), trained by ``fit`` and used as a classifier.

    Parameters
    ----------
    model : str or callable
        A zoo name (``"lenet5"``, ``"convnet_bn_mini"``, ...; built for the images' shape:
        images smaller than the model's smallest input, ``scratchcnn.models.MIN_SIZE``,
        are padded with zeros around them up to it) or
        ``build(input_shape, n_classes, seed) -> Sequential``.
    epochs, optimizer, lr : as ``Sequential.fit`` (``optimizer`` by name).
    batch_size : int or ``"auto"`` (the default): a hundredth of the training images,
        clipped to [16, 64], so that a small set (scikit-learn's 1,797 digits) still
        gets enough steps and a large one runs at full speed (as ``MLPClassifier``'s
        ``"auto"`` depends on the data).
    random_state : int or None; the same value gives the same model bit for bit.
    verbose : 0 (silent) or 1 (a line per epoch).
    image_shape : ``(H, W)`` or ``(C, H, W)`` of one image when X comes flat,
        ``(n, C*H*W)``; without it a flat row of a square number of values is one
        grey square image, any other row a (1, 1, n_features) image.

    X is ``(n, H, W)``, ``(n, C, H, W)`` or flat ``(n, H*W)`` of any finite real values:
    pixels in [0, 1] or standardised features (the network normalises them by their mean
    and standard deviation, saved with it).  ``classes_`` holds the labels seen in
    ``fit``, of any type (strings too).

    scikit-learn's ``check_estimator`` passes every check it runs here with the default
    model (``tests/test_sklearn.py``).  Skipped by scikit-learn itself:
    ``check_array_api_input`` (SCIPY_ARRAY_API unset) and
    ``check_classifier_data_not_an_array`` (pandas not installed).
    """

    def __init__(self, model="lenet5", epochs: int = 5, batch_size="auto",
                 optimizer: str = "adam", lr: float = 2e-3, random_state=None,
                 verbose: int = 0, image_shape=None):
        self.model, self.epochs, self.batch_size = model, epochs, batch_size
        self.optimizer, self.lr, self.random_state = optimizer, lr, random_state
        self.verbose, self.image_shape = verbose, image_shape

    def fit(self, X, y):
        X, y = validate_data(self, X, y, allow_nd=True, dtype=np.float32, y_numeric=False,
                             multi_output=False)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        images = self._images(X, fitting=True)
        if len(images) < 2:
            raise ValueError(f"CNNClassifier: fit needs at least 2 images, got n_samples = "
                             f"{len(images)}")
        seed = self.random_state
        if callable(self.model):
            net = self.model(images.shape[1:], len(self.classes_), seed)
        elif self.model in MODELS:
            net = MODELS[self.model](input_shape=images.shape[1:],
                                     num_classes=len(self.classes_), seed=seed)
        else:
            raise ValueError(f"CNNClassifier: model must be one of {sorted(MODELS)} or a "
                             f"callable, got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"CNNClassifier: optimizer must be one of {sorted(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        std = float(images.std())
        net.input_mean, net.input_std = np.array(float(images.mean())), np.array(std or 1.0)
        batch_size = min(64, max(16, len(images) // 100)) if self.batch_size == "auto" \
            else self.batch_size
        net.fit(images, labels.astype(np.int64), epochs=self.epochs,
                batch_size=batch_size, optimizer=OPTIMIZERS[self.optimizer](lr=self.lr),
                seed=seed, verbose=self.verbose)
        self.network_ = net
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, len(classes_)), columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        return self.network_.predict_proba(self._images(X))

    def predict(self, X) -> np.ndarray:
        """The most likely label of each sample, from ``classes_``."""
        proba = self.predict_proba(X)  # first: it says when fit has not run
        return self.classes_[np.argmax(proba, axis=1)]

    def _images(self, X: np.ndarray, fitting: bool = False) -> np.ndarray:
        """X as (n, C, H, W), by the rules in the class docstring, padded as in fit."""
        images = self._shaped(X)
        if fitting:
            smallest = MIN_SIZE.get(self.model, 1) if isinstance(self.model, str) else 1
            self.padding_ = [((gap // 2, gap - gap // 2) if gap > 0 else (0, 0)) for gap in
                             (smallest - images.shape[2], smallest - images.shape[3])]
        if any(sum(p) for p in self.padding_):
            images = np.pad(images, ((0, 0), (0, 0), *self.padding_))
        return images

    def _shaped(self, X: np.ndarray) -> np.ndarray:
        if X.ndim == 4:
            return X
        if X.ndim == 3:
            return X[:, None]
        if X.ndim != 2:
            raise ValueError(f"CNNClassifier: X must be (n, H, W), (n, C, H, W) or flat "
                             f"(n, features), got shape {X.shape}")
        n, features = X.shape
        shape = tuple(self.image_shape) if self.image_shape is not None else None
        if shape is None:
            side = math.isqrt(features)
            shape = (1, side, side) if side * side == features and side > 1 else (1, 1, features)
        elif len(shape) == 2:
            shape = (1, *shape)
        if math.prod(shape) != features:
            raise ValueError(f"CNNClassifier: image_shape {self.image_shape} holds "
                             f"{math.prod(shape)} values, but X has {features} features")
        return X.reshape(n, *shape)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags
