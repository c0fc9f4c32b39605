"""RLE encode/decode, the compressed string form, mask IoU/area/box, polygons."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from oracles import pycocotools

from minimaskrcnn.datasets import polygon, rle, rle_iou

EXAMPLE = np.array([[0, 1, 1],
                    [0, 1, 0],
                    [0, 0, 0]], dtype=bool)


def random_masks(rng, n, h, w):
    """Masks mixing noise, blobs, all-zero and all-one."""
    masks = rng.uniform(size=(n, h, w)) < rng.uniform(0, 1, size=(n, 1, 1))
    if n > 1:
        masks[0] = False
        masks[-1] = True
    return masks


# -- worked examples --------------------------------------------------------

def test_worked_example_counts_and_string():
    assert rle.mask_to_counts(EXAMPLE).tolist() == [3, 2, 1, 1, 2]
    assert rle.counts_to_string([3, 2, 1, 1, 2]) == "321O1"  # 1 - 2 = -1 -> 'O'
    assert rle.encode(EXAMPLE) == {"size": [3, 3], "counts": "321O1"}
    assert rle.area(rle.encode(EXAMPLE)) == 3
    assert rle.to_bbox(EXAMPLE).tolist() == [1.0, 0.0, 2.0, 2.0]


def test_mask_starting_with_one_has_leading_zero_count():
    mask = np.ones((2, 2), bool)
    assert rle.mask_to_counts(mask).tolist() == [0, 4]
    assert rle.mask_to_counts(np.zeros((2, 2), bool)).tolist() == [4]
    assert rle.to_bbox(np.zeros((2, 2), bool)).tolist() == [0, 0, 0, 0]


def test_worked_example_iou():
    a = np.array([3, 2, 1, 1, 2])  # 1s at pixels 3, 4, 6
    b = np.array([4, 5])  # 1s at pixels 4..8
    assert rle_iou.rle_intersection_naive(a, b) == 2
    assert rle_iou.rle_iou_naive(a, b, crowd=False) == pytest.approx(2 / 6)
    assert rle_iou.rle_iou_naive(a, b, crowd=True) == pytest.approx(2 / 3)  # / area(a)


def test_large_counts_round_trip_through_string():
    counts = np.array([0, 2**31 - 1, 5, 2**30, 0, 1], dtype=np.uint32)
    text = rle.counts_to_string(counts)
    assert rle.string_to_counts(text).tolist() == counts.tolist()
    assert rle.string_to_counts_naive(text) == counts.tolist()
    assert rle.counts_to_string_naive(counts.tolist()) == text


# -- round trips -------------------------------------------------------------

mask_strategy = hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12))


@given(mask_strategy)
def test_round_trip_any_mask(mask):
    counts = rle.mask_to_counts(mask)
    assert counts.tolist() == rle.mask_to_counts_naive(mask)
    assert int(counts.sum()) == mask.size
    np.testing.assert_array_equal(rle.counts_to_mask(counts, *mask.shape), mask)
    np.testing.assert_array_equal(rle.counts_to_mask_naive(counts, *mask.shape), mask)
    text = rle.encode(mask)["counts"]
    assert text == rle.counts_to_string_naive(counts.tolist())
    assert rle.string_to_counts_naive(text) == counts.tolist()
    np.testing.assert_array_equal(rle.decode(rle.encode(mask)), mask)
    np.testing.assert_array_equal(rle.decode({"size": list(mask.shape), "counts": counts.tolist()}), mask)
    assert rle.area(rle.encode(mask)) == mask.sum()


@given(st.integers(1, 9), st.integers(1, 9), st.booleans())
def test_round_trip_constant_masks(h, w, value):
    mask = np.full((h, w), value)
    np.testing.assert_array_equal(rle.decode(rle.encode(mask)), mask)
    expected_box = [0, 0, w, h] if value else [0, 0, 0, 0]
    assert rle.to_bbox(rle.encode(mask)).tolist() == expected_box


def test_batch_encode_decode_matches_single():
    rng = np.random.default_rng(0)
    masks = random_masks(rng, 6, 7, 5)
    counts, offsets = rle.encode_counts_batch(masks)
    for n in range(6):
        assert counts[offsets[n]:offsets[n + 1]].tolist() == rle.mask_to_counts_naive(masks[n])
    np.testing.assert_array_equal(rle.decode_counts_batch(counts, offsets, 7, 5), masks)
    strings = rle.strings_from_counts_batch(counts, offsets)
    back, back_offsets = rle.counts_from_strings_batch(strings)
    assert back.tolist() == counts.tolist() and back_offsets.tolist() == offsets.tolist()


# -- IoU, area, box ------------------------------------------------------------

def test_iou_dense_rle_and_naive_agree():
    rng = np.random.default_rng(1)
    for _ in range(20):
        h, w = rng.integers(1, 15, size=2)
        dt, gt = random_masks(rng, 4, h, w), random_masks(rng, 3, h, w)
        crowd = rng.uniform(size=3) < 0.5
        dense = rle.iou(dt, gt, crowd)
        runs = rle.iou(rle.encode_many(dt), rle.encode_many(gt), crowd)
        np.testing.assert_array_equal(dense, runs)
        for i in range(4):
            for j in range(3):
                inter, union = (dt[i] & gt[j]).sum(), (dt[i] | gt[j]).sum()
                union = dt[i].sum() if crowd[j] else union
                expected = inter / union if inter else 0.0
                assert dense[i, j] == expected
                counts_i, counts_j = rle.mask_to_counts(dt[i]), rle.mask_to_counts(gt[j])
                assert rle_iou.rle_iou_naive(counts_i, counts_j, crowd[j]) == expected


def test_iou_of_empty_masks_is_zero():
    empty = np.zeros((2, 4, 4), bool)
    assert rle.iou(empty, empty).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert rle.iou(empty[:0], empty).shape == (0, 2)


def test_box_of_mask_matches_extent():
    rng = np.random.default_rng(2)
    for mask in random_masks(rng, 30, 9, 11):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        expected = [cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]] if mask.any() else [0] * 4
        assert rle.to_bbox(rle.encode(mask)).tolist() == expected


# -- polygons -------------------------------------------------------------------

def test_square_polygon_covers_expected_pixels():
    # the square [1, 3] x [1, 3] contains the pixel centres 1.5 and 2.5 in each axis
    mask = polygon.polygons_to_mask([[1, 1, 3, 1, 3, 3, 1, 3]], 5, 5)
    expected = np.zeros((5, 5), bool)
    expected[1:3, 1:3] = True
    np.testing.assert_array_equal(mask, expected)


def test_polygon_kernel_matches_naive():
    rng = np.random.default_rng(3)
    for _ in range(200):
        h, w = rng.integers(1, 20, size=2)
        m, n = max(h, w), rng.integers(3, 8)  # vertices up to max(H, W) outside the image: the allowed range
        xy = np.stack([rng.uniform(-m, w + m, n), rng.uniform(-m, h + m, n)], axis=1).reshape(-1)
        assert polygon.polygon_to_counts(xy, h, w).tolist() == polygon.polygon_to_counts_naive(xy.tolist(), h, w)
        assert int(polygon.polygon_to_counts(xy, h, w).sum()) == h * w


# -- bad input --------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    ({"size": [2, 2], "counts": [1, 2]}, "sum to 3"),
    ({"size": [2, 2], "counts": "4\x7f"}, "characters"),
    ({"size": [2, 2], "counts": "3a"}, "malformed"),  # 'a' announces a further group
    ({"size": [2], "counts": [4]}, "size"),
    ({"counts": [4]}, "'size' and 'counts'"),
    ({"size": [2, 2], "counts": [2, -1, 3]}, "run lengths"),
])
def test_bad_rle_raises_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        rle.decode(bad)


@pytest.mark.parametrize("xy", [[1, 2, 3, 4], [1, 2, 3, 4, 5], [[1, 2], [3, 4], [5, 6]], [0, 0, 1, np.nan, 2, 2]])
def test_bad_polygon_raises(xy):
    with pytest.raises(ValueError, match="polygon"):
        polygon.polygons_to_mask([xy], 4, 4)


def test_bad_mask_inputs():
    with pytest.raises(ValueError, match="mask"):
        rle.encode(np.zeros((2, 2, 2), bool))
    with pytest.raises(TypeError, match="bool"):
        rle.encode(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="sizes differ"):
        rle.iou(np.zeros((1, 2, 2), bool), np.zeros((1, 3, 2), bool))


# -- pycocotools as an oracle (optional) -----------------------------------------

def test_agrees_with_pycocotools():
    mask_api = pycocotools("pycocotools.mask")
    rng = np.random.default_rng(4)
    for _ in range(40):
        h, w = rng.integers(1, 25, size=2)
        dt, gt = random_masks(rng, 5, h, w), random_masks(rng, 3, h, w)
        crowd = (rng.uniform(size=3) < 0.5).astype(np.uint8)
        ref_dt = mask_api.encode(np.asfortranarray(dt.transpose(1, 2, 0).astype(np.uint8)))
        ref_gt = mask_api.encode(np.asfortranarray(gt.transpose(1, 2, 0).astype(np.uint8)))
        mine_dt, mine_gt = rle.encode_many(dt), rle.encode_many(gt)
        assert [r["counts"].decode() for r in ref_dt] == [r["counts"] for r in mine_dt]
        np.testing.assert_array_equal(mask_api.iou(ref_dt, ref_gt, crowd.tolist()), rle.iou(mine_dt, mine_gt, crowd))
        np.testing.assert_array_equal(mask_api.toBbox(ref_dt), [rle.to_bbox(r) for r in mine_dt])
        np.testing.assert_array_equal(mask_api.area(ref_dt), [rle.area(r) for r in mine_dt])
        xy = rng.uniform(-2, max(h, w) + 2, size=2 * rng.integers(3, 9))
        ref_poly = mask_api.frPyObjects([xy.tolist()], int(h), int(w))[0]
        assert rle.counts_to_string(polygon.polygon_to_counts(xy, h, w)) == ref_poly["counts"].decode()
