"""Properties that tell RoIAlign and RoIPool apart, and properties of NMS (hypothesis).

The properties live in ``minimaskrcnn.grading.properties``: the same checks
grade the students' implementations in ``exercises/``. Here they run on the
package's own functions. Box coordinates are drawn on a grid of 1/8 pixel so
that every shift is exact in floating point: a property fails only because
the op is wrong.
"""
import numpy as np
import pytest
from hypothesis import given

from minimaskrcnn.grading import properties as P
from minimaskrcnn.ops import batched_nms, bilinear_interpolate, bilinear_interpolate_naive, nms, roi_align, roi_pool


# --------------------------------------------------------------------------- constant map
@given(P.constant_map_cases())
def test_constant_map_roi_align_gives_the_constant_in_every_non_empty_bin(case):
    P.check_constant_map_roi_align(case, roi_align)


@given(P.roi_pool_constant_cases())
def test_constant_map_roi_pool_gives_the_constant_in_every_non_empty_bin(case):
    P.check_constant_map_roi_pool(case, roi_pool)


# --------------------------------------------------------------------------- affine map
@given(P.affine_cases())
def test_affine_map_roi_align_is_exact(case):
    P.check_affine_roi_align(case, roi_align)


@given(P.affine_cases())
def test_affine_map_roi_pool_is_off_by_a_bounded_amount(case):
    P.check_affine_roi_pool(case, roi_pool)


def test_roi_pool_misalignment_is_not_zero():
    f = P.affine_map(1.0, 0.0, 0.0, 10, 12)  # f = x
    box = (2.3, 1.0, 7.6, 8.0)
    aligned = roi_align(f, P.one_roi(box), 1, 1.0, 2, True)[0, 0, 0, 0]
    pooled = roi_pool(f, P.one_roi(box), 1)[0, 0, 0, 0]
    assert aligned == pytest.approx((2.3 + 7.6) / 2 - 0.5)  # the box centre, in the index frame
    assert pooled == 8.0  # the max of f over the rounded box, columns 2..8
    assert abs(pooled - aligned) > 1


# --------------------------------------------------------------------------- box coordinates
@given(P.roi_pool_rounding_cases())
def test_roi_pool_is_piecewise_constant_in_the_box(case):
    P.check_rounding_roi_pool(case, roi_pool)


@given(P.subpixel_shift_cases())
def test_roi_align_follows_sub_pixel_shifts_of_the_box(case):
    P.check_subpixel_shift_roi_align(case, roi_align)


@given(P.lipschitz_cases())
def test_roi_align_is_lipschitz_in_the_box(case):
    P.check_lipschitz_roi_align(case, roi_align)


# --------------------------------------------------------------------------- translation
@given(P.translation_cases())
def test_translating_image_and_box_by_whole_pixels_changes_nothing(case):
    P.check_translation_roi_align(case, roi_align)
    P.check_translation_roi_pool(case, roi_pool)


# --------------------------------------------------------------------------- the inclusive end pixel
@given(P.end_pixel_cases())
def test_roi_pool_counts_its_end_pixel_roi_align_max_agrees_on_the_continuous_box(case):
    """RoIPool on pixels x1..x2 (inclusive) is RoIAlign(max) on the box [x1, x2 + 1)."""
    P.check_end_pixel(case, roi_pool, roi_align)


# --------------------------------------------------------------------------- bilinear
def _naive(feature, y, x):
    return tuple(bilinear_interpolate_naive(feature, y, x))


def _vectorised(feature, y, x):
    return tuple(bilinear_interpolate(feature, y, x))


@pytest.mark.parametrize("interp", [_naive, _vectorised])
@given(case=P.interior_points())
def test_bilinear_weights_are_the_opposite_areas(interp, case):
    P.check_area_weights(case, interp)


@pytest.mark.parametrize("interp", [_naive, _vectorised])
@given(case=P.affine_points())
def test_bilinear_is_exact_on_affine_maps(interp, case):
    P.check_affine_bilinear(case, interp)


# --------------------------------------------------------------------------- NMS
@given(P.nms_cases())
def test_nms_properties(case):
    P.check_nms(case, nms)


@given(P.nms_cases())
def test_batched_nms_never_suppresses_across_classes(case):
    P.check_batched_nms(case, batched_nms, nms)


# --------------------------------------------------------------------------- the properties can fail
def test_the_properties_catch_a_wrong_roi_align():
    """A property that cannot fail proves nothing: RoIAlign without the half-pixel shift breaks one."""
    def unaligned(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode):
        return roi_align(features, rois, output_size, spatial_scale, sampling_ratio, False, mode)

    case = dict(features=P.affine_map(1.0, 0.0, 0.0, 4, 4), rois=P.one_roi((1, 1, 3, 3)), output_size=(1, 1),
                spatial_scale=1.0, sampling_ratio=1, aligned=True, mode="avg", a=1.0, b=0.0, c=0.0)
    P.check_affine_roi_align(case, roi_align)
    with pytest.raises(AssertionError, match="wrong values"):
        P.check_affine_roi_align(case, unaligned)
    with pytest.raises(AssertionError, match="they must be equal"):
        P.check_end_pixel(dict(features=np.arange(9.0).reshape(1, 1, 3, 3), pixels=(0, 0, 1, 1),
                               output_size=(1, 1), pixels_per_bin=2), roi_pool, unaligned)
