"""Matplotlib pictures of every stage. Functions return figures; none calls plt.show()."""
# -- instances, boxes, masks, log (visualize/instances.py, visualize/log.py) --

# -- RoI grids: bins and sampling points (visualize/roi_grid.py) --
