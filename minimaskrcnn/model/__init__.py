"""Mask R-CNN, one stage per file, in the order data flows: backbone, anchors, rpn, roi_heads, mask_head."""
