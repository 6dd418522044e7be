"""The fast kernels: window views, adjoint identities, every layout against the loop
reference and the textbook."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchcnn import kernels as K
from scratchcnn import reference
from scratchcnn import textbook as T
from scratchcnn.kernels import TUNING, gemm, lines, parallel, pooling
from scratchcnn.kernels.geometry import ConvGeometry, pad
from scratchcnn.kernels.workspace import rows_per_chunk
from layouts import LAYOUTS, forced_layout


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = ((draw(st.integers(0, 2)), draw(st.integers(0, 2))),
            (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 10))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 10))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), (kh, kw), (sh, sw), \
        pads, (dh, dw)


def test_sliding_windows_definition(rng):
    xp = rng.standard_normal((2, 3, 9, 8))
    v = T.sliding_windows(xp, (3, 2), (2, 3), (2, 1))
    n, c, kh, kw, ho, wo = v.shape
    assert (ho, wo) == (3, 3)
    for i in range(kh):
        for j in range(kw):
            for y in range(ho):
                for x in range(wo):
                    np.testing.assert_array_equal(v[:, :, i, j, y, x],
                                                  xp[:, :, y * 2 + i * 2, x * 3 + j])
    with pytest.raises(ValueError):
        v[0, 0, 0, 0, 0, 0] = 1.0  # read-only view


@settings(max_examples=60)
@given(geo=geometries(), seed=st.integers(0, 999))
def test_col2im_is_the_adjoint_of_im2col(geo, seed):
    shape, k, s, pads, d = geo
    rng = np.random.default_rng(seed)
    xp = rng.standard_normal((shape[0], shape[1], shape[2] + sum(pads[0]),
                              shape[3] + sum(pads[1])))
    cols = T.im2col(xp, k, s, d)
    y = rng.standard_normal(cols.shape)
    lhs = np.vdot(cols, y)
    rhs = np.vdot(xp, T.col2im(y, xp.shape, k, s, d))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@settings(max_examples=60)
@given(geo=geometries(), seed=st.integers(0, 999))
def test_line_kernels_are_adjoint_and_agree_with_im2col(geo, seed):
    shape, k, s, pads, d = geo
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    g = ConvGeometry(shape, k, s, pads, d)
    phases = lines.to_phases(x, g, np.empty(g.phases_size))
    cols = lines.im2col_lines(phases, g)
    # the real (non-junk) part of the lines is exactly the textbook's im2col
    xp = pad(x, pads)
    real = cols.reshape(*cols.shape[:3], g.ho, g.n, g.wq)[..., :g.wo].transpose(0, 1, 2, 4, 3, 5)
    np.testing.assert_array_equal(real, T.im2col(xp, k, s, d).reshape(real.shape))
    # a chunk of output rows is the same slice of the whole
    if g.ho > 1:
        part = lines.im2col_lines(phases, g, 1, g.ho)
        np.testing.assert_array_equal(part, cols[..., g.line:])
    # <im2col(P x), y> == <x, P^T col2im(y)>
    y = rng.standard_normal(cols.shape)
    back = lines.col2im_lines(y, g, np.zeros(g.phases_size))
    dx = lines.from_phases(back, g, np.empty(shape))
    assert np.vdot(cols, y) == pytest.approx(np.vdot(x, dx), rel=1e-11, abs=1e-11)


@settings(max_examples=40)
@given(geo=geometries(), o=st.integers(1, 3), seed=st.integers(0, 999))
def test_conv_matches_the_loop_reference(geo, o, seed):
    shape, k, s, pads, d = geo
    sym = ((pads[0][0], pads[0][0]), (pads[1][0], pads[1][0]))
    if shape[2] + 2 * sym[0][0] < d[0] * (k[0] - 1) + 1 or \
            shape[3] + 2 * sym[1][0] < d[1] * (k[1] - 1) + 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((o, shape[1]) + k)
    b = rng.standard_normal(o)
    out, _ = K.conv2d_forward(x, w, b, s, sym, d)
    np.testing.assert_allclose(out, reference.conv2d(x, w, b, s, (sym[0][0], sym[1][0]), d),
                               rtol=1e-12, atol=1e-12)


def test_pools_match_the_loop_reference(rng):
    x = rng.standard_normal((2, 3, 9, 7))
    pads = ((1, 1), (1, 1))
    np.testing.assert_array_equal(pooling.max_pool2d_forward(x, (3, 2), (2, 2), pads),
                                  reference.max_pool2d(x, (3, 2), (2, 2), (1, 1)))
    np.testing.assert_allclose(pooling.avg_pool2d_forward(x, (3, 2), (2, 2), pads),
                               reference.avg_pool2d(x, (3, 2), (2, 2), (1, 1)), rtol=1e-14)


@pytest.mark.parametrize("kernel, stride, pad", [(2, 2, 0), (3, 2, 1), (2, 1, 0)])
def test_max_pool_backward_split_over_threads_equals_one_call(rng, monkeypatch, kernel,
                                                              stride, pad):
    x = rng.standard_normal((5, 2, 7, 6)).astype(np.float32)
    x[1, 0, :2, :2] = 0.5  # ties, and NaN windows in one sample only
    x[3, 1, 2:4, 1:3] = np.nan
    args = ((kernel, kernel), (stride, stride), ((pad, pad), (pad, pad)))
    out = pooling.max_pool2d_forward(x, *args)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    whole = pooling.max_pool2d_backward(dout, x, out, *args)
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "3")
    monkeypatch.setattr(TUNING, "min_parallel_elements", 1)
    calls = []
    real = parallel._executor
    monkeypatch.setattr(parallel, "_executor", lambda n: calls.append(n) or real(n))
    split = pooling.max_pool2d_backward(dout, x, out, *args)
    assert calls and max(calls) == 2  # two helper threads beside the caller
    np.testing.assert_array_equal(split, whole)
    for n in range(5):  # and each sample alone gives its part of the batch's result
        one = pooling.max_pool2d_backward(dout[n:n + 1], x[n:n + 1], out[n:n + 1], *args)
        np.testing.assert_array_equal(one, whole[n:n + 1])


@pytest.mark.parametrize("kernel, stride, pad", [(2, 2, 0), (3, 1, 1)])
def test_max_pool_gradient_goes_to_the_first_tie_and_the_last_nan(kernel, stride, pad):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, :2] = 1.0  # a tie in the top-left window
    x[0, 0, 2, 1] = x[0, 0, 3, 0] = np.nan  # two NaNs in the bottom-left one
    pads = ((pad, pad), (pad, pad))
    out = pooling.max_pool2d_forward(x, (kernel,) * 2, (stride,) * 2, pads)
    dx = pooling.max_pool2d_backward(np.ones_like(out), x, out, (kernel,) * 2, (stride,) * 2, pads)
    if kernel == 2:  # as torch.nn.functional.max_pool2d on the CPU
        np.testing.assert_array_equal(out[0, 0], [[1, 0], [np.nan, 0]])
        np.testing.assert_array_equal(dx[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0],
                                                 [0, 0, 1, 0], [1, 0, 0, 0]])
    else:  # the four windows holding both NaNs send theirs to (3, 0), the last of the two
        np.testing.assert_array_equal(dx[0, 0], [[2, 1, 2, 0], [0, 0, 1, 0],
                                                 [0, 5, 1, 0], [4, 0, 0, 0]])


def test_chunked_conv_equals_one_pass(rng, monkeypatch):
    x = rng.standard_normal((7, 3, 9, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    dout = rng.standard_normal((7, 4, 5, 5))
    args = ((2, 2), ((1, 1), (1, 1)), (1, 1))
    whole, saved = K.conv2d_forward(x, w, b, *args)
    assert saved.cols is not None
    grads = K.conv2d_backward(dout, w, saved)
    # columns of 2 output rows at most: forward and backward go chunk by chunk
    monkeypatch.setattr(TUNING, "max_column_bytes", 2 * 27 * 7 * 6 * 8)
    monkeypatch.setattr(TUNING, "dcols_bytes", 27 * 7 * 6 * 8)
    chunked, saved = K.conv2d_forward(x, w, b, *args, workspace=K.Workspace())
    assert saved.cols is None
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)
    for a, b_ in zip(K.conv2d_backward(dout, w, saved), grads):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_split_in_pieces_equal_whole_products(rng, monkeypatch, dtype):
    # a line of 128 * 18 = 2304 columns with tiny weights: pieces of 1152 columns
    monkeypatch.setattr(TUNING, "layout", "lines")  # pieces belong to the line layout
    x = rng.standard_normal((128, 2, 16, 16)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    g = ConvGeometry(x.shape, (3, 3), *args)
    assert gemm.piece(3, g.ckk, g.line, backward=False) == 1152
    assert gemm.piece(3, g.ckk, g.line, backward=True) == 1152
    out, saved = K.conv2d_forward(x, w, b, *args)
    dout = rng.standard_normal(out.shape).astype(dtype)
    pieces = (out, *K.conv2d_backward(dout, w, saved))
    # the pieces go to threads; any thread count gives the same bits
    with monkeypatch.context() as m:
        m.setenv("SCRATCHCNN_NUM_THREADS", "3")
        m.setattr(TUNING, "min_parallel_elements", 1)
        out, saved = K.conv2d_forward(x, w, b, *args)
        for a, b_ in zip((out, *K.conv2d_backward(dout, w, saved)), pieces):
            np.testing.assert_array_equal(a, b_)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    with monkeypatch.context() as m:  # in chunks of 3 output rows, pieces still divide them
        m.setattr(TUNING, "max_column_bytes", 3 * g.ckk * g.line * x.itemsize)
        m.setattr(TUNING, "dcols_bytes", 3 * g.ckk * g.line * x.itemsize)
        out, saved = K.conv2d_forward(x, w, b, *args, workspace=K.Workspace())
        assert saved.cols is None
        for a, b_ in zip((out, *K.conv2d_backward(dout, w, saved)), pieces):
            np.testing.assert_allclose(a, b_, rtol=tol, atol=tol * np.abs(b_).max())
    monkeypatch.setattr(gemm, "piece", lambda *a, **k: None)
    out, saved = K.conv2d_forward(x, w, b, *args)
    whole = (out, *K.conv2d_backward(dout, w, saved))
    for a, b_ in zip(pieces, whole):
        np.testing.assert_allclose(a, b_, rtol=tol, atol=tol * np.abs(b_).max())


def test_vgg_sized_layer_keeps_columns_bounded():
    # 64 channels at 224x224 in a batch of 16 would need 64*9*16*224*226*4 B = 1.9 GB of
    # columns at once; the workspace never holds more than the bound (or one output row).
    g = ConvGeometry((16, 64, 224, 224), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
    per_row = g.ckk * g.line * 4
    assert per_row * g.ho > 1.5e9
    rows = rows_per_chunk(g.ho, per_row)
    assert rows * per_row <= max(TUNING.max_column_bytes, per_row)
    # and a real (smaller) call holds only chunk-sized buffers
    ws = K.Workspace()
    x = np.ones((3, 64, 56, 56), np.float32)
    w = np.ones((8, 64, 3, 3), np.float32)
    g = ConvGeometry(x.shape, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
    K.conv2d_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), ws)
    cols = ws._buffers["cols"]
    assert cols.nbytes <= max(TUNING.max_column_bytes, g.ckk * g.line * 4)


@pytest.mark.parametrize("stride", [1, 2])
def test_threaded_kernels_give_bit_identical_results(rng, monkeypatch, stride):
    # slices as small as one element force every kernel onto three threads
    x = rng.standard_normal((5, 4, 11, 9)).astype(np.float32)
    w = rng.standard_normal((3, 4, 3, 2)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    args = ((stride, stride), ((1, 1), (2, 2)), (1, 2))
    out, saved = K.conv2d_forward(x, w, b, *args)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    single = (out, *K.conv2d_backward(dout, w, saved))
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "3")
    monkeypatch.setattr(TUNING, "min_parallel_elements", 1)
    calls = []
    real = parallel._executor
    monkeypatch.setattr(parallel, "_executor", lambda n: calls.append(n) or real(n))
    out, saved = K.conv2d_forward(x, w, b, *args)
    threaded = (out, *K.conv2d_backward(dout, w, saved))
    assert calls and max(calls) == 2  # two helper threads beside the caller
    for a, b_ in zip(threaded, single):
        np.testing.assert_array_equal(a, b_)


def test_nested_parallel_calls_run_inline_without_deadlock(monkeypatch):
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "2")
    monkeypatch.setattr(TUNING, "min_parallel_elements", 1)
    out = np.zeros((4, 6))

    def outer(rows):
        def inner(cols):
            out[rows, cols] += 1
        parallel.parallel_slices(inner, 6, 6)
    parallel.parallel_slices(outer, 4, 24)
    np.testing.assert_array_equal(out, np.ones((4, 6)))


def conv_in_layout(x, w, b, args, layout: str, dout):
    """Forward and backward of one convolution, in the layout asked for."""
    with forced_layout(layout):
        out, saved = K.conv2d_forward(x, w, b, *args, workspace=K.Workspace())
        assert saved.layout == layout and saved.has_bias is (b is not None)
        return (out, *K.conv2d_backward(dout, w, saved))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, bias, pads, dilation", [
    (5, True, ((1, 1), (2, 2)), (1, 1)),
    (3, False, ((0, 1), (1, 2)), (2, 1)),  # 'same'-like uneven padding, dilation
    (0, True, ((1, 1), (1, 1)), (1, 1)),   # an empty batch
])
@pytest.mark.parametrize("layout, stride", [("per_sample", (1, 1)), ("samples_last", (1, 1)),
                                            ("samples_last", (2, 3)), ("banded", (1, 1)),
                                            ("banded", (2, 3))])
def test_each_layout_equals_the_line_layout_and_the_reference(
        rng, monkeypatch, dtype, n, bias, pads, dilation, layout, stride):
    x = rng.standard_normal((n, 2, 9, 8)).astype(dtype)
    w = rng.standard_normal((4, 2, 3, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype) if bias else None
    args = (stride, pads, dilation)
    g = ConvGeometry(x.shape, (3, 2), *args)
    dout = rng.standard_normal((n, 4, g.ho, g.wo)).astype(dtype)
    result = conv_in_layout(x, w, b, args, layout, dout)
    lines = conv_in_layout(x, w, b, args, "lines", dout)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert (result[3] is None) is (lines[3] is None) is (not bias)
    for a, b_ in zip(result[:3 + bias], lines):
        assert a.dtype == dtype and a.shape == b_.shape
        np.testing.assert_allclose(a, b_, rtol=tol, atol=tol)
    if n:
        xp = pad(x.astype(np.float64), pads)
        ref = reference.conv2d(xp, w, b if bias else np.zeros(4), stride, (0, 0), dilation)
        np.testing.assert_allclose(result[0], ref, rtol=tol, atol=tol)
    # more threads change no bit; nor do chunks of 2 samples, while chunks of 2 output
    # rows change only rounding (BLAS may sum products of other widths in another order)
    with monkeypatch.context() as m:
        m.setattr(TUNING, "transpose_rows", 3)
        m.setenv("SCRATCHCNN_NUM_THREADS", "3")
        m.setattr(TUNING, "min_parallel_elements", 1)
        threaded = conv_in_layout(x, w, b, args, layout, dout)
        if layout == "banded":  # chunks of 2 samples: R holds kh*C*Wp [+ 1] per output row
            window, per_chunk = g.kh * g.c * g.wp, 2 * g.ho
        else:
            window = g.ckk
            per_chunk = 2 * g.ho * g.wo if layout == "per_sample" else 2 * g.wo * n
        m.setattr(TUNING, "max_column_bytes", (window + 1) * per_chunk * x.itemsize)
        m.setattr(TUNING, "dcols_bytes", window * per_chunk * x.itemsize)
        chunked = conv_in_layout(x, w, b, args, layout, dout)
    for a, b_, c in zip(threaded[:3 + bias], result, chunked):
        np.testing.assert_array_equal(a, b_)
        if layout == "per_sample":
            np.testing.assert_array_equal(c, b_)
        else:
            np.testing.assert_allclose(c, b_, rtol=tol, atol=tol)


def test_each_shape_takes_the_layout_measured_fastest_for_it():
    def layout(shape, o, k, stride=1, pad=0):
        return K.conv_layout(ConvGeometry(shape, (k, k), (stride,) * 2,
                                            ((pad, pad),) * 2, (1, 1)))
    assert layout((128, 1, 28, 28), 6, 5, pad=2) == "per_sample"  # LeNet-5's first layer
    assert layout((64, 3, 32, 32), 32, 3, pad=1) == "per_sample"  # CIFAR's first layer
    assert layout((128, 1, 8, 8), 16, 3, pad=1) == "per_sample"   # 64 output pixels a sample
    # LeNet-5's second layer: the banded weights are 14/5 = 2.8 times im2col's work
    assert layout((128, 6, 14, 14), 16, 5) == "banded"
    assert layout((128, 1, 7, 7), 6, 5) == "banded"  # 9 output pixels a sample
    # 16/5 = 3.2 times the work; lines would be 4/16 junk
    assert layout((128, 6, 16, 16), 16, 5) == "samples_last"
    assert layout((128, 16, 14, 14), 32, 5) == "samples_last"  # 400 values a window
    assert layout((128, 6, 7, 7), 16, 3, pad=1) == "samples_last"  # a 3x3 kernel
    assert layout((32, 64, 32, 32), 64, 3, pad=1) == "lines"  # VGG block: 2/34 junk
    assert layout((32, 8, 28, 28), 16, 3, pad=1) == "lines"   # 72 values a window
    assert layout((64, 3, 32, 32), 32, 3, 2, 1) == "lines"    # strided


@pytest.mark.parametrize("kernel", [1, 3])
def test_an_empty_batch_goes_through_a_convolution_in_every_layout(monkeypatch, kernel):
    x = np.zeros((0, 2, 5, 5))
    w = np.ones((3, 2, kernel, kernel))
    dout = np.zeros((0, 3, 6 - kernel, 6 - kernel))
    for layout in LAYOUTS:
        out, dx, dw, db = conv_in_layout(x, w, np.ones(3), ((1, 1), ((0, 0), (0, 0)), (1, 1)),
                                         layout, dout)
        assert out.shape == dout.shape and dx.shape == x.shape
        assert not dw.any() and not db.any()
