"""Mask R-CNN, one stage per file, in the order data flows.

backbone.py  -> anchors.py -> rpn.py -> (matcher.py, poolers.py) -> roi_heads.py -> mask_head.py,
all wired together in mask_rcnn.py.
"""
from minimaskrcnn.model.mask_rcnn import MaskRCNN
