"""Matplotlib pictures of every stage. Functions return figures; none calls plt.show()."""
# -- instances, boxes, masks, log (visualize/instances.py, visualize/log.py) --
from minimaskrcnn.visualize.instances import (ROLE_STYLES, draw_anchors, draw_boxes, draw_instances,  # noqa: F401
                                              draw_mask_targets, draw_proposals, draw_sampled_rois,
                                              instance_colors, to_display_image)
from minimaskrcnn.visualize.log import format_log, log  # noqa: F401

# -- RoI grids: bins and sampling points (visualize/roi_grid.py) --
from minimaskrcnn.visualize.roi_grid import (draw_bilinear_weights, draw_feature_grid,  # noqa: F401
                                             draw_roi_align, draw_roi_comparison, draw_roi_pool)

# -- keypoints: skeletons, one-hot targets, heatmaps (visualize/keypoints.py) --
from minimaskrcnn.visualize.keypoints import draw_heatmaps, draw_keypoint_targets, draw_keypoints  # noqa: F401
