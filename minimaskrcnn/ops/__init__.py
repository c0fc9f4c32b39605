"""The lecture's primitives, each a readable ``*_naive`` reference beside a fast kernel."""
# -- convolution (ops/conv.py) --

# -- RoI primitives (ops/bilinear.py, ops/roi_pool.py, ops/roi_align.py, ops/nms.py) --
