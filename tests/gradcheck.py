"""Central-difference gradient checks for any layer on the protocol (float64)."""

import numpy as np


def numerical_grad(f, array, eps=1e-6):
    """d f() / d array by central differences, perturbing ``array`` in place."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        up = f()
        flat[k] = old - eps
        down = f()
        flat[k] = old
        gflat[k] = (up - down) / (2 * eps)
    return grad


def check_layer_gradients(layer, x, rng, rtol=1e-5, atol=1e-7):
    """Compare backward's dx and every grads[k] with numerical derivatives of <y, dout>."""
    layer.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    analytic = {k: g.copy() for k, g in layer.grads.items()}

    def loss():
        return float(np.sum(layer.forward(x) * dout))

    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=rtol, atol=atol)
    for k, p in layer.params.items():
        np.testing.assert_allclose(analytic[k], numerical_grad(loss, p), rtol=rtol, atol=atol,
                                   err_msg=f"grads[{k!r}]")
    return dx
