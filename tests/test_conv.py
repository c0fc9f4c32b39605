import multiprocessing
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimaskrcnn.nn import numerical_gradient, rel_error
from minimaskrcnn.ops import tiles
from minimaskrcnn.ops.im2col import _im2col_kernel
from minimaskrcnn.ops import (
    col2im, conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_forward_naive,
    conv_output_size, conv_transpose2d_backward, conv_transpose2d_backward_naive,
    conv_transpose2d_forward, conv_transpose2d_forward_naive, im2col, im2col_naive,
)

CONV_PAIRS = [(conv2d_forward, conv2d_backward), (conv2d_forward_naive, conv2d_backward_naive)]
TRANSPOSED_PAIRS = [(conv_transpose2d_forward, conv_transpose2d_backward),
                    (conv_transpose2d_forward_naive, conv_transpose2d_backward_naive)]

# (N, C, H, W, F, k, stride, padding, dilation)
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 1, 1, 1),  # odd sizes, "same" padding
    (1, 2, 9, 9, 3, 3, 2, 1, 1),  # batch 1, stride 2
    (2, 2, 8, 7, 3, 3, 2, 0, 1),  # stride 2, no padding
    (2, 3, 5, 5, 2, 1, 1, 0, 1),  # 1x1 (the no-im2col path)
    (2, 3, 6, 5, 2, 1, 2, 0, 1),  # 1x1 stride 2 (ResNet shortcut)
    (1, 2, 9, 8, 2, 3, 1, 2, 2),  # dilation 2
    (1, 2, 6, 6, 3, 2, 1, 0, 1),  # even kernel
    (2, 1, 4, 4, 1, 4, 1, 0, 1),  # kernel as large as the input
    (1, 2, 5, 5, 2, 3, 1, 3, 1),  # padding larger than the kernel radius
]


def _conv_data(rng, N, C, H, W, F, k, dtype=np.float64):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, k, k)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


def _check_gradients(forward, backward, x, w, b, args, rng):
    out, cache = forward(x, w, b, *args)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    num_dx = numerical_gradient(lambda v: forward(v, w, b, *args)[0], x, dout)
    num_dw = numerical_gradient(lambda v: forward(x, v, b, *args)[0], w, dout)
    num_db = numerical_gradient(lambda v: forward(x, w, v, *args)[0], b, dout)
    assert rel_error(dx, num_dx) <= 1e-6
    assert rel_error(dw, num_dw) <= 1e-6
    assert rel_error(db, num_db) <= 1e-6


@pytest.mark.parametrize("forward, backward", CONV_PAIRS, ids=["fast", "naive"])
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_gradients_match_numerical(forward, backward, case):
    rng = np.random.default_rng(sum(case))
    N, C, H, W, F, k, stride, padding, dilation = case
    x, w, b = _conv_data(rng, N, C, H, W, F, k)
    _check_gradients(forward, backward, x, w, b, (stride, padding, dilation), rng)


@pytest.mark.parametrize("forward, backward", TRANSPOSED_PAIRS, ids=["fast", "naive"])
@pytest.mark.parametrize("case", [(2, 3, 4, 5, 2, 2, 2, 0), (1, 2, 3, 3, 3, 3, 2, 1), (2, 2, 4, 3, 2, 3, 1, 0),
                                  (1, 2, 3, 4, 2, 4, 2, 1)], ids=str)
def test_conv_transpose2d_gradients_match_numerical(forward, backward, case):
    N, C, H, W, F, k, stride, padding = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((C, F, k, k))
    b = rng.standard_normal(F)
    _check_gradients(forward, backward, x, w, b, (stride, padding), rng)


def test_conv2d_worked_example():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    for forward in (conv2d_forward, conv2d_forward_naive):
        out, _ = forward(x, w, None)
        np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -4.0))


def test_im2col_worked_example_and_col2im_counts_windows():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    expected = np.array([[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]], dtype=float)
    np.testing.assert_array_equal(im2col(x, 2)[0], expected)
    np.testing.assert_array_equal(im2col_naive(x, 2, 2)[0], expected)
    counts = col2im(np.ones((1, 4, 4)), (1, 1, 3, 3), 2)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_im2col_kernel_matches_naive_and_col2im_is_its_adjoint(n, c, h, w, k, stride, padding, dilation, seed):
    if conv_output_size(min(h, w), k, stride, padding, dilation) < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cols = im2col(x, k, stride, padding, dilation)
    np.testing.assert_array_equal(cols, im2col_naive(x, k, k, stride, padding, dilation))
    g = rng.standard_normal(cols.shape)  # <im2col(x), g> == <x, col2im(g)>
    assert np.isclose(np.sum(cols * g), np.sum(x * col2im(g, x.shape, k, stride, padding, dilation)))


@given(n=st.integers(1, 3), c=st.integers(1, 4), f=st.integers(1, 4), h=st.integers(1, 10),
       w=st.integers(1, 10), k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       dilation=st.integers(1, 2), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_fast_conv2d_equals_naive(n, c, f, h, w, k, stride, padding, dilation, bias, seed):
    if conv_output_size(min(h, w), k, stride, padding, dilation) < 1:
        return
    rng = np.random.default_rng(seed)
    x, wt, b = _conv_data(rng, n, c, h, w, f, k)
    b = b if bias else None
    args = (stride, padding, dilation)
    out, cache = conv2d_forward(x, wt, b, *args)
    out_ref, cache_ref = conv2d_forward_naive(x, wt, b, *args)
    np.testing.assert_allclose(out, out_ref, rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    for got, ref in zip(conv2d_backward(dout, cache), conv2d_backward_naive(dout, cache_ref)):
        if ref is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


@given(n=st.integers(1, 3), c=st.integers(1, 4), f=st.integers(1, 4), h=st.integers(1, 6),
       w=st.integers(1, 6), k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 1),
       seed=st.integers(0, 2**16))
def test_fast_conv_transpose2d_equals_naive(n, c, f, h, w, k, stride, padding, seed):
    if min((h - 1) * stride - 2 * padding + k, (w - 1) * stride - 2 * padding + k) < 1:
        return
    rng = np.random.default_rng(seed)
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((c, f, k, k)), rng.standard_normal(f)
    out, cache = conv_transpose2d_forward(x, wt, b, stride, padding)
    out_ref, cache_ref = conv_transpose2d_forward_naive(x, wt, b, stride, padding)
    assert out.shape == (n, f, (h - 1) * stride - 2 * padding + k, (w - 1) * stride - 2 * padding + k)
    np.testing.assert_allclose(out, out_ref, rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    for got, ref in zip(conv_transpose2d_backward(dout, cache), conv_transpose2d_backward_naive(dout, cache_ref)):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_transposed_conv_is_the_input_gradient_of_conv():
    # conv_transpose(y, w) == d/dx <conv(x, w), y>: the two are adjoint.
    rng = np.random.default_rng(0)
    x, w, _ = _conv_data(rng, 2, 3, 8, 8, 4, 2)
    out, cache = conv2d_forward(x, w, None, stride=2)
    y = rng.standard_normal(out.shape)
    dx, _, _ = conv2d_backward(y, cache)
    upsampled, _ = conv_transpose2d_forward(y, w, None, stride=2)  # w (4, 3, 2, 2) read as (C_in, C_out, k, k)
    np.testing.assert_allclose(upsampled, dx, rtol=1e-12, atol=1e-12)


def test_float32_in_float32_out_and_close_to_float64():
    rng = np.random.default_rng(1)
    x, w, b = _conv_data(rng, 2, 4, 9, 9, 5, 3)
    out64, cache64 = conv2d_forward(x, w, b, 1, 1)
    out32, cache32 = conv2d_forward(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), 1, 1)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-4)
    dout = rng.standard_normal(out64.shape)
    for g32, g64 in zip(conv2d_backward(dout.astype(np.float32), cache32), conv2d_backward(dout, cache64)):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-3)
    t32, _ = conv_transpose2d_forward(x.astype(np.float32), rng.standard_normal((4, 3, 2, 2)).astype(np.float32), None)
    assert t32.dtype == np.float32 and t32.shape == (2, 3, 18, 18)


def test_non_contiguous_input_gives_the_same_result():
    rng = np.random.default_rng(2)
    x, w, b = _conv_data(rng, 2, 3, 6, 6, 2, 3)
    x_t = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # same values, F-order planes
    assert not x_t.flags.c_contiguous
    np.testing.assert_array_equal(conv2d_forward(x_t, w, b, 1, 1)[0], conv2d_forward(x, w, b, 1, 1)[0])


def test_results_do_not_share_memory_with_work_buffers():
    rng = np.random.default_rng(3)
    x, w, b = _conv_data(rng, 1, 2, 5, 5, 2, 3)
    out1, cache1 = conv2d_forward(x, w, b, 1, 1)
    kept = out1.copy()
    dx1, _, _ = conv2d_backward(np.ones_like(out1), cache1)
    kept_dx = dx1.copy()
    conv2d_forward(2 * x, w, b, 1, 1)  # another call reuses the work buffers
    conv2d_backward(np.ones_like(out1), cache1)
    np.testing.assert_array_equal(out1, kept)
    np.testing.assert_array_equal(dx1, kept_dx)


@pytest.mark.parametrize("x_shape, w_shape, kwargs, error, match", [
    ((3, 5, 5), (2, 3, 3, 3), {}, ValueError, "x must be a 4-d"),
    ((1, 3, 5, 5), (2, 3, 3), {}, ValueError, "w must be a 4-d"),
    ((1, 3, 5, 5), (2, 4, 3, 3), {}, ValueError, "channel mismatch"),
    ((1, 3, 2, 2), (2, 3, 3, 3), {}, ValueError, "kernel .* larger than the padded x"),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"stride": 0}, ValueError, "stride"),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"padding": -1}, ValueError, "padding"),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"stride": 1.5}, ValueError, "stride"),
])
def test_conv2d_rejects_bad_shapes_and_arguments(x_shape, w_shape, kwargs, error, match):
    for forward in (conv2d_forward, conv2d_forward_naive):
        with pytest.raises(error, match=match):
            forward(np.zeros(x_shape), np.zeros(w_shape), None, **kwargs)


def test_conv2d_rejects_bad_values_and_dtypes():
    x, w = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3))
    bad = x.copy()
    bad[0, 1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        conv2d_forward(bad, w, None)
    with pytest.raises(ValueError, match="w contains NaN"):
        conv2d_forward(x, np.full_like(w, np.inf), None)
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        conv2d_forward(x.astype(np.int64), w, None)
    with pytest.raises(TypeError, match="x must be a numpy array"):
        conv2d_forward(x.tolist(), w, None)
    with pytest.raises(TypeError, match="w has dtype float32 but x has dtype float64"):
        conv2d_forward(x, w.astype(np.float32), None)
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        conv2d_forward(x, w, np.zeros(3))
    out, cache = conv2d_forward(x, w, None)
    with pytest.raises(ValueError, match="dout must be"):
        conv2d_backward(np.zeros((1, 2, 4, 4)), cache)


def test_conv_transpose2d_rejects_bad_input():
    x = np.zeros((1, 3, 4, 4))
    with pytest.raises(ValueError, match="channel mismatch"):
        conv_transpose2d_forward(x, np.zeros((2, 3, 2, 2)), None)  # w must be (C_in=3, C_out, k, k)
    with pytest.raises(ValueError, match="padding"):
        conv_transpose2d_forward(np.zeros((1, 3, 1, 1)), np.zeros((3, 2, 2, 2)), None, stride=2, padding=1)
    with pytest.raises(ValueError, match="x must be a 4-d"):
        conv_transpose2d_forward(np.zeros((3, 4, 4)), np.zeros((3, 2, 2, 2)), None)


# ----------------------------------------------------------------------------
# Tiles and threads (ops/tiles.py): the fast path cuts the pixels into tiles and may run
# them on several threads; the result must not depend on either.
# ----------------------------------------------------------------------------
_RUN_TILES = tiles.run


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of a few pixels, so that even test-sized inputs are cut into many bands and groups."""
    monkeypatch.setattr(tiles, "TILE_BYTES", 1)
    monkeypatch.setattr(tiles, "MIN_TILE_PIXELS", 7)


def _fast_results(x, w, b, dout, args, transposed, threads, min_flops, monkeypatch):
    """Forward and backward of the fast path with ``threads`` threads above ``min_flops``,
    and how many threads each pass actually used."""
    monkeypatch.setattr(tiles, "num_threads", lambda: threads)
    monkeypatch.setattr(tiles, "PARALLEL_MIN_FLOPS", min_flops)
    used = []
    monkeypatch.setattr(tiles, "run", lambda *a, **k: used.append(_RUN_TILES(*a, **k)) or used[-1])
    forward, backward = TRANSPOSED_PAIRS[0] if transposed else CONV_PAIRS[0]
    out, cache = forward(x, w, b, *args)
    return (out, *backward(dout, cache)), used


# (N, C, H, W, F, k, stride, padding, transposed): odd batch sizes, bands (H large), groups of images
TILED_CASES = [
    (1, 3, 13, 9, 4, 3, 1, 1, False),  # one image: bands of rows are the only split
    (3, 3, 7, 6, 5, 3, 1, 1, False),  # odd batch
    (3, 4, 9, 8, 3, 3, 2, 1, False),  # stride 2: dx by col2im over whole images
    (3, 4, 6, 5, 6, 1, 1, 0, False),  # 1x1: the columns are views of x
    (5, 2, 4, 4, 3, 3, 1, 0, False),  # no padding: dx grid larger than the output grid
    (3, 3, 5, 4, 2, 2, 2, 0, True),  # the mask head's 2x2 stride-2 transposed conv
    (1, 2, 6, 5, 3, 3, 2, 1, True),
]


@pytest.mark.parametrize("case", TILED_CASES, ids=str)
def test_threaded_tiles_are_bit_identical_to_one_thread_and_match_naive(case, small_tiles, monkeypatch):
    N, C, H, W, F, k, stride, padding, transposed = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((C, F, k, k) if transposed else (F, C, k, k))
    b = rng.standard_normal(F)
    forward_naive, backward_naive = TRANSPOSED_PAIRS[1] if transposed else CONV_PAIRS[1]
    out_ref, cache_ref = forward_naive(x, w, b, stride, padding)
    dout = rng.standard_normal(out_ref.shape)
    reference = (out_ref, *backward_naive(dout, cache_ref))
    args = (stride, padding)
    one, used_one = _fast_results(x, w, b, dout, args, transposed, 1, 0.0, monkeypatch)
    assert used_one == [1, 1]
    for threads in (2, 3):
        many, used = _fast_results(x, w, b, dout, args, transposed, threads, 0.0, monkeypatch)
        # really threaded (more tiles than threads, no threshold), except a transposed conv's
        # forward pass, which splits by whole images only
        assert used == [1 if transposed and N == 1 else threads, threads]
        for got, ref in zip(many, one):
            np.testing.assert_array_equal(got, ref)  # bit-identical, not merely close
    for got, ref in zip(one, reference):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_parallel_threshold_both_sides_give_identical_results(monkeypatch):
    # Default tile sizes: (6, 64, 24, 24) 64->16 3x3 is cut into several tiles.
    rng = np.random.default_rng(7)
    x, w, b = _conv_data(rng, 6, 64, 24, 24, 16, 3, dtype=np.float32)
    dout = rng.standard_normal((6, 16, 24, 24)).astype(np.float32)
    assert len(tiles.plan(6, 24, 24, 64 * 9, 4)) >= 2
    flops = 2.0 * 6 * 16 * 64 * 9 * 24 * 24  # of the forward pass; backward does twice as much
    below, used_below = _fast_results(x, w, b, dout, (1, 1), False, 2, flops * 1.01, monkeypatch)
    above, used_above = _fast_results(x, w, b, dout, (1, 1), False, 2, flops * 0.99, monkeypatch)
    assert used_below == [1, 2]  # forward just below the threshold, backward above it
    assert used_above == [2, 2]
    for got, ref in zip(above, below):
        np.testing.assert_array_equal(got, ref)


def test_same_input_same_bits_run_to_run_with_default_threads():
    rng = np.random.default_rng(8)
    x, w, b = _conv_data(rng, 3, 32, 40, 40, 32, 3, dtype=np.float32)
    dout = rng.standard_normal((3, 32, 40, 40)).astype(np.float32)
    first = None
    for _ in range(3):
        out, cache = conv2d_forward(x, w, b, 1, 1)
        results = (out, *conv2d_backward(dout, cache))
        if first is None:
            first = results
        for got, ref in zip(results, first):
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("N, rows, width, col_rows, bands", [
    (1, 13, 9, 5, True), (3, 7, 6, 27, True), (5, 4, 4, 8, False), (8, 64, 64, 288, True),
    (128, 14, 14, 288, True), (1, 3, 3, 1, True), (36, 28, 28, 32, False),
])
def test_plan_covers_every_pixel_once_in_equal_tiles(N, rows, width, col_rows, bands, small_tiles):
    for tile_bytes in (1, 64 << 10, 2 << 20):
        tiles.TILE_BYTES = tile_bytes
        todo = tiles.plan(N, rows, width, col_rows, 4, bands=bands)
        covered = np.zeros((N, rows), dtype=int)
        for n0, n1, r0, r1 in todo:
            assert 0 <= n0 < n1 <= N and 0 <= r0 < r1 <= rows
            assert n1 - n0 == 1 or (r0, r1) == (0, rows)  # a band of one image, or whole images
            assert bands or (r0, r1) == (0, rows)
            covered[n0:n1, r0:r1] += 1
        np.testing.assert_array_equal(covered, 1)
        images = [n1 - n0 for n0, n1, _, _ in todo]
        band_rows = [r1 - r0 for _, _, r0, r1 in todo]
        assert max(images) - min(images) <= 1 and max(band_rows) - min(band_rows) <= 1  # equal parts
        assert todo == tiles.plan(N, rows, width, col_rows, 4, bands=bands)  # shapes alone decide


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 3), dilation=st.integers(1, 2),
       data=st.data())
def test_im2col_kernel_fills_any_tile_like_the_naive_reference(n, c, h, w, k, stride, padding, dilation, data):
    Ho, Wo = conv_output_size(h, k, stride, padding, dilation), conv_output_size(w, k, stride, padding, dilation)
    if min(Ho, Wo) < 1:
        return
    n0 = data.draw(st.integers(0, n - 1))
    n1 = data.draw(st.integers(n0 + 1, n))
    r0 = data.draw(st.integers(0, Ho - 1))
    r1 = data.draw(st.integers(r0 + 1, Ho))
    x = np.random.default_rng(n * h + w).standard_normal((n, c, h, w))
    cols = np.full((n1 - n0, c * k * k, (r1 - r0) * Wo), np.nan)  # every entry must be written
    _im2col_kernel(x, n0, n1, r0, r1, k, k, stride, padding, dilation, Wo, cols)
    expected = im2col_naive(x, k, k, stride, padding, dilation)[n0:n1, :, r0 * Wo : r1 * Wo]
    np.testing.assert_array_equal(cols, expected)


def test_an_error_in_one_tile_reaches_the_caller_and_the_pool_keeps_working(monkeypatch):
    monkeypatch.setattr(tiles, "num_threads", lambda: 2)
    monkeypatch.setattr(tiles, "PARALLEL_MIN_FLOPS", 0.0)
    done = []

    def task(slot, i, tile):
        if i == 3:
            raise RuntimeError("tile 3 failed")
        done.append(i)

    with pytest.raises(RuntimeError, match="tile 3 failed"):
        tiles.run(task, list(range(8)), flops=1.0)
    assert sorted(done) == [0, 1, 2, 4, 5, 6, 7]  # the other tiles still ran, and were waited for
    done.clear()
    assert tiles.run(lambda slot, i, tile: done.append(i), list(range(8)), flops=1.0) == 2
    assert sorted(done) == list(range(8))


def _threaded_conv_in_child(queue):
    tiles.num_threads = lambda: 2
    tiles.PARALLEL_MIN_FLOPS = 0.0
    x = np.ones((4, 8, 16, 16), dtype=np.float32)
    out, _ = conv2d_forward(x, np.ones((8, 8, 3, 3), dtype=np.float32), None, 1, 1)
    queue.put(float(out[0, 0, 5, 5]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_still_run_threaded_convolutions(monkeypatch):
    monkeypatch.setattr(tiles, "num_threads", lambda: 2)
    monkeypatch.setattr(tiles, "PARALLEL_MIN_FLOPS", 0.0)
    x = np.ones((4, 8, 16, 16), dtype=np.float32)
    conv2d_forward(x, np.ones((8, 8, 3, 3), dtype=np.float32), None, 1, 1)  # the parent's pool now exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_threaded_conv_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    if child.is_alive():  # it would hang waiting for the parent's threads, which a fork does not copy
        child.kill()
        pytest.fail("the forked child hung in a threaded convolution")
    assert child.exitcode == 0 and queue.get(timeout=5) == 8 * 9  # every window fully inside: 8 channels x 9 taps


def test_im2col_refuses_an_out_buffer_of_the_wrong_shape():
    from minimaskrcnn.ops.im2col import im2col
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match="out"):
        im2col(x, 3, padding=1, out=np.empty((1, 18, 24), np.float32))
    with pytest.raises(ValueError, match="out"):
        im2col(x, 3, padding=1, out=np.empty((1, 18, 25), np.float64))
    assert im2col(x, 3, padding=1, out=np.empty((1, 18, 25), np.float32)).shape == (1, 18, 25)
