"""minimaskrcnn: Mask R-CNN from scratch in NumPy, with Numba-JIT hot loops.

Sub-packages, in the order data flows through the model:

* ``minimaskrcnn.nn``        the hand-written layer kit, losses, optimizer, gradient checks
* ``minimaskrcnn.ops``       convolution, bilinear interpolation, RoIPool, RoIAlign, NMS
* ``minimaskrcnn.boxes``     the one box convention: (x1, y1, x2, y2), IoU, box coding
* ``minimaskrcnn.datasets``  toy shapes and COCO-format I/O
* ``minimaskrcnn.model``     backbone, RPN, RoI heads, mask head, Mask R-CNN
* ``minimaskrcnn.evaluation`` COCO-style AP for boxes and masks
* ``minimaskrcnn.visualize`` matplotlib pictures of every stage
"""
__version__ = "0.1.0"
