"""Matplotlib pictures of every stage. Functions return figures; none calls plt.show().

``style`` holds the shared look (class palette, font sizes, ``use_style()``);
``widgets`` the notebooks' sliders (``interact`` and one builder per notebook).
"""
# -- shared look: palette, fonts, readability check (visualize/style.py) --
from minimaskrcnn.visualize.style import (CLASS_COLORS, class_color, class_legend, readability_problems,  # noqa: F401
                                          use_style)

# -- instances, boxes, masks, log (visualize/instances.py, visualize/log.py) --
from minimaskrcnn.visualize.instances import (ROLE_STYLES, draw_anchors, draw_boxes, draw_instances,  # noqa: F401
                                              draw_cell_anchors, draw_mask_targets, draw_proposals, draw_sampled_rois,
                                              instance_colors, role_legend, to_display_image)
from minimaskrcnn.visualize.log import format_log, log  # noqa: F401

# -- RoI grids: bins and sampling points (visualize/roi_grid.py) --
from minimaskrcnn.visualize.roi_grid import (draw_bilinear_weights, draw_feature_grid,  # noqa: F401
                                             draw_output_grid, draw_roi_align, draw_roi_align_lecture,
                                             draw_roi_comparison, draw_roi_pool)

# -- box-level decisions: NMS, anchor matching, score threshold (visualize/detection.py) --
from minimaskrcnn.visualize.detection import (draw_anchor_matching, draw_detections_at_threshold,  # noqa: F401
                                              draw_matches, draw_nms, draw_nms_steps,
                                              match_detections)

# -- from m x m probabilities to an image mask (visualize/masks.py) --
from minimaskrcnn.visualize.masks import draw_mask_resize, mask_resize_orders  # noqa: F401

# -- keypoints: skeletons, one-hot targets, heatmaps (visualize/keypoints.py) --
from minimaskrcnn.visualize.keypoints import (draw_heatmaps, draw_keypoint_targets, draw_keypoints,  # noqa: F401
                                              keypoint_legend)
