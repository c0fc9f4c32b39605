"""The lecture's primitives, each a readable ``*_naive`` reference beside a fast kernel."""
# -- convolution (ops/conv.py) --
from minimaskrcnn.ops.im2col import col2im, conv_output_size, im2col, im2col_naive
from minimaskrcnn.ops.conv import (
    conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_forward_naive,
    conv_transpose2d_backward, conv_transpose2d_backward_naive,
    conv_transpose2d_forward, conv_transpose2d_forward_naive,
)

# -- RoI primitives (ops/bilinear.py, ops/roi_pool.py, ops/roi_align.py, ops/nms.py) --
