"""Sequential: a stack of layers with PyTorch's state dicts and Keras's fit/predict."""

from __future__ import annotations

import numpy as np

from . import checks, io, limits
from .layers.container import Container, Stack
from .callbacks import LambdaCallback
from .losses import CrossEntropyLoss, log_softmax, softmax
from .progress import bar as progress_bar
from .shapes import layer_macs, receptive_field
from .training import Trainer

__all__ = ["Sequential", "load", "load_checkpoint", "Checkpoint"]


class Sequential(Stack):
    """Layers applied in order; ``backward`` runs them in reverse (a :class:`Stack` that
    trains: ``fit``, ``evaluate``, ``predict``, ``summary``, ``save``).

    ``input_mean`` and ``input_std`` (scalars or per-channel) are the normalisation the
    model was trained with.  They belong to the model and are saved with it: images enter
    as the model's training data did and the model normalises them itself.

    ``state_dict()`` numbers layers from 0, parameter-free layers included, as
    ``torch.nn.Sequential``: ``[Conv2d, ReLU, MaxPool2d, Conv2d]`` gives ``'0.weight'``,
    ``'0.bias'``, ``'3.weight'``, ``'3.bias'``; a :class:`~scratchcnn.Residual` at 4 gives
    ``'4.body.0.weight'``.

    Parameters
    ----------
    layers : iterable of Layer
        The layers, first to last.
    input_mean : float, sequence of float or None
        Subtracted from every input before the first layer (one value per channel, or
        one for all); give both or neither.
    input_std : float, sequence of float or None
        Divided by after the mean.
    """

    def __init__(self, layers, input_mean=None, input_std=None):
        super().__init__(layers)
        if (input_mean is None) != (input_std is None):
            raise ValueError("Sequential: give both input_mean and input_std, or neither")
        self.input_mean, self.input_std = input_mean, input_std
        self.trainer: Trainer | None = None
        #: JSON-able facts saved with the model (data set, class names, ...)
        self.meta: dict = {}

    @property
    def input_mean(self) -> np.ndarray | None:
        """The pixel mean subtracted before the first layer: a float64 scalar array or one
        value per channel (any number or sequence assigned is stored so)."""
        return self._input_mean

    @input_mean.setter
    def input_mean(self, value):
        self._input_mean = None if value is None else np.asarray(value, np.float64)

    @property
    def input_std(self) -> np.ndarray | None:
        """The pixel standard deviation divided by after the mean (like input_mean)."""
        return self._input_std

    @input_std.setter
    def input_std(self, value):
        self._input_std = None if value is None else np.asarray(value, np.float64)

    # ------------------------------------------------------------------ forward/backward
    def _normalise(self, x):
        x = np.asarray(x)
        if x.dtype.kind in "iu":
            checks.pixel_scale(x, self, "Sequential: the input")
        if self.input_mean is None:
            return x
        dtype = self.dtype
        shape = (-1, 1, 1) if self.input_mean.ndim == 1 else ()
        mean = self.input_mean.reshape(shape).astype(dtype)
        inv = (1.0 / self.input_std).reshape(shape).astype(dtype)
        return (x.astype(dtype, copy=False) - mean) * inv

    def forward(self, x) -> np.ndarray:
        """The model's output for a batch x, or for one sample without its batch axis
        (``(C, H, W)`` for a model that starts with a convolution): then unbatched."""
        x = self._normalise(x)
        if self._one_sample(x.shape):
            self._unbatched = True
            return super().forward(x[None])[0]
        self._unbatched = False
        return super().forward(x)

    def _one_sample(self, shape: tuple) -> bool:
        first = self.layers[0] if self.layers else None
        ndim = getattr(first, "batched_ndim", None)
        return ndim is not None and len(shape) == ndim - 1

    def output_shape(self, input_shape: tuple) -> tuple:
        """The output's shape for a batch of ``input_shape``, or for one sample's shape
        (then without the batch axis: ``lenet5().output_shape((1, 28, 28)) == (10,)``)."""
        if self._one_sample(tuple(input_shape)):
            return super().output_shape((1, *input_shape))[1:]
        return super().output_shape(input_shape)

    __call__ = forward

    def backward(self, dout) -> np.ndarray | None:
        if self._unbatched:
            dx = self._backward_batch(np.asarray(dout)[None])
            return None if dx is None else dx[0]
        return self._backward_batch(dout)

    def _backward_batch(self, dout) -> np.ndarray | None:
        dout = super().backward(dout)
        if dout is not None and self.input_std is not None:
            shape = (-1, 1, 1) if self.input_std.ndim == 1 else ()
            dout = dout / self.input_std.reshape(shape).astype(dout.dtype)
        return dout

    # ------------------------------------------------------------------ inspection
    def outputs(self, x: np.ndarray) -> int:
        """How many outputs (classes) the model gives per sample of the batch ``x``."""
        return int(np.prod(self.output_shape((1, *x.shape[1:]))[1:]))

    def summary(self, input_shape: tuple) -> str:
        """A table of each layer's output shape, parameters, multiply-accumulates and
        receptive field (:func:`scratchcnn.shapes.receptive_field`).

        Parameters
        ----------
        input_shape : tuple of int
            One sample's shape, e.g. ``(1, 28, 28)``.
        """
        shape = tuple(input_shape)
        rows = [("Layer", "Output shape", "Params", "MACs", "Receptive field")]
        total_p = total_m = 0
        for i, (layer, field) in enumerate(zip(self.layers, receptive_field(self))):
            out = tuple(layer.output_shape((1, *shape)))[1:]
            p = sum(v.size for v in layer.params.values())
            m = layer_macs(layer, shape, out)
            index = f"{i:>{len(str(len(self.layers) - 1))}}"  # columns stay put past 9
            rows.append((f"{index}: {_one_line(layer)}", str(out), f"{p:,}", f"{m:,}",
                         str(field)))
            total_p, total_m, shape = total_p + p, total_m + m, out
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        line = "-" * (sum(widths) + 8)
        fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}  {{:>{widths[3]}}}  " \
              f"{{:>{widths[4]}}}"
        out_lines = [fmt.format(*rows[0]), line] + [fmt.format(*r) for r in rows[1:]] + [
            line, f"Input shape: {tuple(input_shape)}", f"Total params: {total_p:,}",
            f"Trainable params: {total_p:,}", f"Total MACs per sample: {total_m:,}"]
        return "\n".join(out_lines)

    # ------------------------------------------------------------------ Keras-style use
    def fit(self, x, y, epochs: int = 1, batch_size: int = 32, optimizer=None,
            loss="cross_entropy", validation_data=None, shuffle: bool = True, seed=None,
            scheduler=None, verbose: int = 1, on_epoch_end=None, clip_grad_norm=None,
            callbacks=(), augment=None):
        """Train on x (N, ...) and y (N,) labels (or targets); returns a History.

        x and y are checked before any step (:mod:`scratchcnn.checks`).  A loss or
        gradient that is not finite, or a loss 10,000 times the first, stops training
        with :class:`~scratchcnn.guard.TrainingDiverged` naming the epoch, the batch and
        the layer.  Calling fit again continues the same run (optimiser state, epochs,
        history) unless a new optimizer is given.  fit marks the first layer
        ``needs_input_grad = False`` (nothing uses dL/d(input)); set it back to True before
        calling ``backward`` yourself if you need that gradient.

        Parameters
        ----------
        x : numpy.ndarray
            The training inputs, (N, C, H, W) for images.
        y : numpy.ndarray
            Their labels (N,), or targets for a regression loss.
        epochs : int
            Passes over the data.
        batch_size : int
            Samples per step.
        optimizer : Optimizer, str or None
            An optimiser of :mod:`scratchcnn.optim` or its name ('adam', 'sgd', ...);
            None: Adam(1e-3), or the one of the run fit continues.
        loss : str or loss object
            'cross_entropy', 'mse', or an object of :mod:`scratchcnn.losses`.
        validation_data : (x, y) or None
            Evaluated after each epoch (``val_loss``, ``val_accuracy`` in the history).
        shuffle : bool
            Whether each epoch visits the samples in a new order.
        seed : int or None
            Seeds the shuffling.
        scheduler : StepLR, CosineAnnealingLR or None
            The learning-rate schedule, applied per epoch (or per batch:
            ``CosineAnnealingLR(..., per_batch=True)``).
        verbose : int
            0: silent; 1: a progress bar per epoch on stderr.
        on_epoch_end : callable or None
            Called with the model's Trainer after each epoch.
        clip_grad_norm : float or None
            Scale the gradients so that their global L2 norm is at most this, as
            ``torch.nn.utils.clip_grad_norm_``.
        callbacks : sequence of Callback
            Of :mod:`scratchcnn.callbacks` (EarlyStopping, ModelCheckpoint, ...).
        augment : transform or None
            A transform of :mod:`scratchcnn.transforms` applied to every training batch.
        """
        if self.trainer is None or optimizer is not None or scheduler is not None:
            self.trainer = Trainer(self, optimizer, loss, scheduler, seed)
        if on_epoch_end is not None:
            callbacks = [*callbacks, LambdaCallback(on_epoch_end=lambda t, e, logs:
                                                    on_epoch_end(t))]
        return self.trainer.run(x, y, epochs=epochs, batch_size=batch_size,
                                validation_data=validation_data, shuffle=shuffle,
                                verbose=verbose, clip_grad_norm=clip_grad_norm,
                                callbacks=callbacks, augment=augment)

    def _batches(self, x, batch_size, verbose: int = 0, what: str = "predict", tta=None):
        """(start, logits) per batch in evaluation mode.  ``tta='flip'``: the logits of the
        mean of the probabilities for each image and its mirror image (test-time
        augmentation: ``log((softmax(a) + softmax(b)) / 2)``, which softmax maps back to
        that mean).  A ValueError names the layer first if one sample would make more
        values than :mod:`scratchcnn.limits` allows."""
        checks.count("batch_size", batch_size, 1)
        if tta not in (None, "flip"):
            raise ValueError(f"tta must be None or 'flip', got {tta!r}")
        limits.check_activations(self.layers, x.shape[1:])  # before any allocation
        was_training = self.training
        self.eval()
        bar = progress_bar(len(x), what, "img", enabled=verbose > 0)
        try:
            for start in range(0, len(x), batch_size):
                out = self.forward(x[start:start + batch_size])
                if out.ndim != 2:
                    raise ValueError(f"{what}: the model gives {out.shape} for a batch of "
                                     f"{x[start:start + batch_size].shape}, not (N, classes): "
                                     "does it end with a Flatten and a Linear?")
                if tta == "flip":
                    mirrored = self.forward(x[start:start + batch_size, ..., ::-1])
                    out = np.logaddexp(log_softmax(out), log_softmax(mirrored)) - np.log(2.0)
                bar.update(len(out))
                yield start, out
        finally:
            bar.close()
            self.train(was_training)

    def predict_proba(self, x, batch_size: int = 256, verbose: int = 0, tta=None
                      ) -> np.ndarray:
        """Class probabilities (N, classes), computed in batches in evaluation mode.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs, (N, C, H, W) for images.
        batch_size : int
            Samples per forward pass.
        verbose : int
            1: a progress bar on stderr.
        tta : 'flip' or None
            'flip': averaged with the probabilities of the mirror images, for data whose
            classes a horizontal flip keeps.
        """
        x = checks.images(x, self)
        return np.concatenate([softmax(out) for _, out in
                               self._batches(x, batch_size, verbose, tta=tta)])

    def predict(self, x, batch_size: int = 256, verbose: int = 0, tta=None) -> np.ndarray:
        """Class indices (N,), int64: each sample's most probable class; the parameters are
        :meth:`predict_proba`'s."""
        x = checks.images(x, self)
        return np.concatenate([out.argmax(axis=1) for _, out in
                               self._batches(x, batch_size, verbose, tta=tta)]
                              ).astype(np.int64)

    def evaluate(self, x, y, batch_size: int = 256, loss=None, verbose: int = 0,
                 tta=None, check: bool = True) -> dict:
        """``{'loss': mean loss, 'accuracy': fraction correct}`` in evaluation mode.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs.
        y : numpy.ndarray
            Their labels (N,) (or targets).
        batch_size : int
            Samples per forward pass.
        loss : loss object or None
            None: :class:`~scratchcnn.losses.CrossEntropyLoss`.
        verbose : int
            1: a progress bar on stderr.
        tta : 'flip' or None
            As in :meth:`predict_proba`.
        check : bool
            False: x and y are already checked arrays (fit's validation data, checked
            once before the first epoch).
        """
        loss = loss or CrossEntropyLoss()
        if check:
            x = checks.images(x, self)
            y = checks.targets(y, len(x), self.outputs(x), loss)
        total, correct = 0.0, 0
        for start, out in self._batches(x, batch_size, verbose, "evaluate", tta):
            yb = y[start:start + len(out)]
            total += loss.forward(out, yb) * len(out)
            if yb.ndim == 1:
                correct += int(np.sum(out.argmax(axis=1) == yb))
        return {"loss": total / len(y), "accuracy": correct / len(y)}

    def save(self, path) -> str:
        """Write the model to one ``.npz`` file (:func:`scratchcnn.io.save`); the path."""
        return io.save(self, path)


def _one_line(layer) -> str:
    """A layer's repr on one line; a container's as its layers' names."""
    if isinstance(layer, Stack):
        return f"{type(layer).__name__}({', '.join(type(sub).__name__ for sub in layer.layers)})"
    if not isinstance(layer, Container):
        return repr(layer)
    parts = [f"{name}: " + _one_line(part)[len(type(part).__name__) + 1:-1]
             for name, part in layer.children().items()]
    return f"{type(layer).__name__}({'; '.join(parts)})"


def assemble(parts: io.ModelFile) -> Sequential:
    """The Sequential that a file read by :mod:`scratchcnn.io` describes, its weights
    loaded (a ValueError naming the file where they do not fit)."""
    try:
        model = Sequential(parts.layers, parts.input_mean, parts.input_std)
        model.astype(parts.dtype)
        model.meta = parts.meta
        model.load_state_dict(parts.state)
    except (KeyError, TypeError, ValueError) as err:
        parts.fail(str(err))
    return model


def load(path) -> Sequential:
    """Rebuild a model saved by :func:`scratchcnn.save`; it predicts identically.  Never
    unpickles: a file that is not a scratchcnn model gives a ValueError naming it."""
    return assemble(io.read_model(path))


class Checkpoint:
    """What :func:`load_checkpoint` gives back: ``model``, ``trainer_state`` (for
    ``Trainer.load_state_dict``) and the ``settings`` saved with it."""

    def __init__(self, model: Sequential, trainer_state: dict, settings: dict):
        self.model, self.trainer_state, self.settings = model, trainer_state, settings


def load_checkpoint(path) -> Checkpoint:
    """Read a file written by :func:`scratchcnn.save_checkpoint`.

    Resume with ``Trainer(c.model, <same optimizer type>, ...)`` then
    ``trainer.load_state_dict(c.trainer_state)``: the run continues bit for bit.
    """
    parts = io.read_checkpoint(path)
    return Checkpoint(assemble(parts), parts.trainer_state, parts.settings)
