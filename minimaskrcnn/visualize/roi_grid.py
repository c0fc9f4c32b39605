"""Pictures of how RoIPool and RoIAlign read a feature map for one RoI.

Everything is drawn in the feature map's *index frame*: ``imshow`` puts value
``f[i, j]`` at the point ``(x=j, y=i)``, so pixel ``(i, j)`` is the square
``[j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]``. A box ``(x1, y1, x2, y2)`` in image
coordinates (pixel ``i`` covers ``[i, i+1)``) therefore sits at
``(x1 * s - 0.5, ...)`` with ``s = spatial_scale``; this is exactly the shift
``aligned=True`` applies, and what ``aligned=False`` forgets.

* ``draw_feature_grid``: a 2-D map as coloured cells, pixel borders, optional values
* ``draw_roi_align``: the RoI, RoIAlign's exact bins and its bilinear sampling points
* ``draw_roi_pool``: the RoI and RoIPool's quantised bins (whole pixels) with each bin's max
* ``draw_roi_comparison``: the two side by side, with the pooled outputs underneath
* ``draw_bilinear_weights``: one sample point, its four neighbours and their area weights

Every function draws on ``ax`` (a new figure when None) and returns the Figure;
none calls ``plt.show()``.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.ops import (
    bilinear_interpolate,
    roi_align,
    roi_align_bin_edges,
    roi_align_sampling_points,
    roi_pool,
    roi_pool_bins,
)

ROI_STYLE = dict(edgecolor="white", linewidth=2.0, linestyle="--", fill=False)
ALIGN_BIN_STYLE = dict(edgecolor="tab:orange", linewidth=1.5, fill=False)
POOL_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def _as_map(feature) -> np.ndarray:
    f = np.asarray(feature, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"feature must be a 2-D map (H, W), got shape {f.shape}")
    return f


def _new_axes(ax, figsize=(5, 5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _roi_rectangle(roi_xyxy, spatial_scale, **style):
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = (v * spatial_scale - 0.5 for v in roi_xyxy)  # index frame
    return Rectangle((x1, y1), x2 - x1, y2 - y1, **style)


def draw_feature_grid(feature, ax=None, values: bool | None = None, cmap: str = "viridis",
                      title: str | None = None):
    """Draw a 2-D map (H, W) as cells with pixel borders; ``values`` writes each number."""
    f = _as_map(feature)
    ax = _new_axes(ax)
    H, W = f.shape
    ax.imshow(f, cmap=cmap)
    ax.set_xticks(np.arange(-0.5, W, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, H, 1), minor=True)
    ax.grid(which="minor", color="black", linewidth=0.5, alpha=0.4)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(range(W))
    ax.set_yticks(range(H))
    if values if values is not None else f.size <= 64:
        mid = (f.max() + f.min()) / 2
        for (i, j), v in np.ndenumerate(f):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7, clip_on=True,
                    color="white" if v < mid else "black")
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    if title:
        ax.set_title(title)
    return ax.figure


def draw_roi_align(feature, roi_xyxy, output_size, spatial_scale=1.0, sampling_ratio=2,
                   aligned=True, ax=None, values: bool | None = None):
    """The RoI (dashed white), RoIAlign's bins (orange) and sampling points (red x).

    With ``aligned=True`` the bins tile the dashed box exactly; with ``aligned=False``
    they are shifted half a pixel right and down.
    """
    from matplotlib.patches import Rectangle

    f = _as_map(feature)
    ax = _new_axes(ax)
    draw_feature_grid(f, ax, values=values)
    ax.add_patch(_roi_rectangle(roi_xyxy, spatial_scale, **ROI_STYLE))
    y_edges, x_edges = roi_align_bin_edges(roi_xyxy, output_size, spatial_scale, aligned)
    for y0, y1 in zip(y_edges[:-1], y_edges[1:]):
        for x0, x1 in zip(x_edges[:-1], x_edges[1:]):
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, **ALIGN_BIN_STYLE))
    ys, xs = roi_align_sampling_points(roi_xyxy, output_size, spatial_scale, sampling_ratio, aligned)
    yy, xx = np.meshgrid(ys.ravel(), xs.ravel(), indexing="ij")
    ax.scatter(xx.ravel(), yy.ravel(), marker="x", color="red", s=30, linewidths=1.5, zorder=3)
    ax.set_title(f"RoIAlign: exact bins, {ys.shape[1]}x{xs.shape[1]} samples per bin"
                 f"{'' if aligned else ' (aligned=False)'}", fontsize=10)
    return ax.figure


def draw_roi_pool(feature, roi_xyxy, output_size, spatial_scale=1.0, ax=None,
                  values: bool | None = None):
    """The RoI (dashed white) and RoIPool's quantised bins: whole pixels, end pixel included.

    Each bin is outlined in its own colour (neighbouring bins may share a row or
    column of pixels); a star marks the pixel that wins the bin's max.
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    f = _as_map(feature)
    ax = _new_axes(ax)
    draw_feature_grid(f, ax, values=values)
    ax.add_patch(_roi_rectangle(roi_xyxy, spatial_scale, **ROI_STYLE))
    h0, h1, w0, w1 = roi_pool_bins(roi_xyxy, output_size, f.shape, spatial_scale)
    for i in range(len(h0)):
        for j in range(len(w0)):
            if h1[i] <= h0[i] or w1[j] <= w0[j]:
                continue  # empty bin
            color = POOL_COLORS[(i + j) % 2 + 2 * (i % 2)]
            inset = 0.08 * ((i + j) % 2)  # keep overlapping outlines apart
            ax.add_patch(Rectangle((w0[j] - 0.5 + inset, h0[i] - 0.5 + inset),
                                   w1[j] - w0[j] - 2 * inset, h1[i] - h0[i] - 2 * inset,
                                   edgecolor=color, linewidth=2.5, facecolor=to_rgba(color, 0.3)))
            block = f[h0[i]:h1[i], w0[j]:w1[j]]
            y, x = np.unravel_index(np.argmax(block), block.shape)
            ax.scatter(w0[j] + x, h0[i] + y, marker="*", s=90, color=color, edgecolors="white",
                       zorder=3)
    ax.set_title("RoIPool: rounded box, whole-pixel bins", fontsize=10)
    return ax.figure


def draw_roi_comparison(feature, roi_xyxy, output_size, spatial_scale=1.0, sampling_ratio=2,
                        aligned=True, mode="avg"):
    """RoIPool and RoIAlign on the same RoI, side by side, their outputs underneath."""
    import matplotlib.pyplot as plt

    f = _as_map(feature)
    fig, axes = plt.subplots(2, 2, figsize=(10, 9), gridspec_kw=dict(height_ratios=[2, 1]))
    draw_roi_pool(f, roi_xyxy, output_size, spatial_scale, ax=axes[0, 0])
    draw_roi_align(f, roi_xyxy, output_size, spatial_scale, sampling_ratio, aligned, ax=axes[0, 1])
    rois = np.array([[0.0, *roi_xyxy]])
    pooled = roi_pool(f[None, None], rois, output_size, spatial_scale)[0, 0]
    aligned_out = roi_align(f[None, None], rois, output_size, spatial_scale, sampling_ratio,
                            aligned, mode)[0, 0]
    lo, hi = f.min(), f.max()
    for ax, out, name in ((axes[1, 0], pooled, "roi_pool"), (axes[1, 1], aligned_out, f"roi_align ({mode})")):
        ax.imshow(out, cmap="viridis", vmin=lo, vmax=hi)
        for (i, j), v in np.ndenumerate(out):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color="white")
        ax.set_title(f"{name} output {out.shape[0]}x{out.shape[1]}", fontsize=10)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def draw_bilinear_weights(feature, y: float, x: float, ax=None):
    """One sample point, its four neighbours and the rectangle that weights each of them.

    The unit square between the neighbours is split at the point into four
    rectangles; each is shaded in the colour of the neighbour diagonally opposite,
    whose weight is that rectangle's area.
    """
    from matplotlib.patches import Rectangle

    f = _as_map(feature)
    ax = _new_axes(ax)
    draw_feature_grid(f, ax, cmap="Greys", values=True)
    ax.images[-1].set_alpha(0.5)
    s = bilinear_interpolate(f, y, x)
    if s.weights.sum() == 0:
        ax.set_title(f"({y}, {x}) is outside the map: value 0", fontsize=10)
        return ax.figure
    yl, xl, yh, xh = s.ys[0], s.xs[0], s.ys[3], s.xs[3]
    # the point after the border clamp: ly = w3 + w4 and lx = w2 + w4
    py = yl + s.weights[2] + s.weights[3]
    px = xl + s.weights[1] + s.weights[3]
    corners = [(yl, xl), (yl, xh), (yh, xl), (yh, xh)]
    colors = ["tab:red", "tab:blue", "tab:green", "tab:orange"]
    for n, ((cy, cx), color) in enumerate(zip(corners, colors)):
        oy, ox = corners[3 - n]  # the opposite neighbour's corner bounds this neighbour's rectangle
        ax.add_patch(Rectangle((min(px, ox), min(py, oy)), abs(ox - px), abs(oy - py),
                               facecolor=color, alpha=0.35, edgecolor=color))
        ax.scatter(cx, cy, s=120, color=color, edgecolors="black", zorder=3)
        ax.annotate(f"w={s.weights[n]:.3f}", (cx, cy), textcoords="offset points", ha="center",
                    xytext=(0, 14 if n < 2 else -20), fontsize=10, color=color, weight="bold")
    ax.scatter(px, py, marker="x", s=80, color="black", zorder=4)
    ax.set_xlim(xl - 0.8, xh + 0.8)  # zoom on the four neighbours
    ax.set_ylim(yh + 0.8, yl - 0.8)
    ax.set_title(f"f({y}, {x}) = {float(s.value):.4g}", fontsize=10)
    return ax.figure
