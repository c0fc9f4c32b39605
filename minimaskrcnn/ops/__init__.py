"""The lecture's primitives, each a readable ``*_naive`` reference beside a fast kernel."""
# -- convolution (ops/conv.py) --
from minimaskrcnn.ops.im2col import col2im, conv_output_size, im2col, im2col_naive
from minimaskrcnn.ops.conv import (
    conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_forward_naive,
    conv_transpose2d_backward, conv_transpose2d_backward_naive,
    conv_transpose2d_forward, conv_transpose2d_forward_naive,
)

# -- RoI primitives (ops/bilinear.py, ops/roi_pool.py, ops/roi_align.py, ops/nms.py) --
from minimaskrcnn.ops.bilinear import (
    Bilinear, bilinear_interpolate, bilinear_interpolate_naive, linear_weights,
)
from minimaskrcnn.ops.roi_pool import (
    roi_pool, roi_pool_backward, roi_pool_backward_naive, roi_pool_bins, roi_pool_naive,
)
from minimaskrcnn.ops.roi_align import (
    roi_align, roi_align_backward, roi_align_backward_naive, roi_align_bin_edges, roi_align_naive,
    roi_align_sampling_points,
)
from minimaskrcnn.ops.nms import batched_nms, batched_nms_naive, nms, nms_naive, nms_steps

# -- swapping the model's RoIAlign / NMS / mask loss for a student's (ops/override.py) --
from minimaskrcnn.ops import override
from minimaskrcnn.ops.override import use
