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
* ``draw_roi_align_lecture``: the lecture's RoIAlign picture, step by step: N x N cells,
  2 x 2 points per cell, a bilinear value at each, then the max (and, beside it, the mean)
* ``draw_bilinear_weights``: one sample point, its four neighbours and their area weights
* ``draw_output_grid``: a pooled (ph, pw) output as coloured cells with their values

Every function draws on ``ax`` (a new figure when None) and returns the Figure;
none calls ``plt.show()``.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.ops import (  # noqa: I001
    bilinear_interpolate,
    roi_align,
    roi_align_bin_edges,
    roi_align_sampling_points,
    roi_pool,
    roi_pool_bins,
)
from minimaskrcnn.visualize.style import FONT, OKABE_ITO, halo, text_color_on

ROI_STYLE = dict(edgecolor="white", linewidth=2.5, linestyle="--", fill=False)
ALIGN_BIN_STYLE = dict(edgecolor=OKABE_ITO[0], linewidth=2.0, fill=False)  # orange
SAMPLE_COLOR = "red"
POOL_COLORS = (OKABE_ITO[5], OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[6])  # vermillion, sky blue, green, purple
MAX_ALL_BINS = 9  # with more bins, RoIPool's picture fills only a sample of them (the rest: outlines)


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
    patch = Rectangle((x1, y1), x2 - x1, y2 - y1, **style)
    patch.set_path_effects(halo(style.get("linewidth", 1.0) + 1.5))
    return patch


def _cell_texts(ax, values, cmap, vmin, vmax, fmt="{:.3g}", fontsize=None):
    """Write each value of a (H, W) array at its cell, black or white against the cell's colour."""
    import matplotlib

    colormap = matplotlib.colormaps[cmap]
    span = vmax - vmin if vmax > vmin else 1.0
    for (i, j), v in np.ndenumerate(values):
        color = text_color_on(colormap(float(np.clip((v - vmin) / span, 0, 1))))
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize or FONT["small"],
                clip_on=True, color=color)


def draw_feature_grid(feature, ax=None, values: bool | None = None, cmap: str = "viridis",
                      title: str | None = None, vmin=None, vmax=None):
    """Draw a 2-D map (H, W) as cells with pixel borders; ``values`` writes each number.

    By default the values are written when the map has at most 64 cells. Each
    number is black or white, whichever reads better on its cell's colour.
    """
    f = _as_map(feature)
    ax = _new_axes(ax)
    H, W = f.shape
    vmin = f.min() if vmin is None else vmin
    vmax = f.max() if vmax is None else vmax
    ax.imshow(f, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(np.arange(-0.5, W, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, H, 1), minor=True)
    ax.grid(which="minor", color="black", linewidth=0.5, alpha=0.4)
    ax.tick_params(which="minor", length=0)
    ax.tick_params(which="major", labelsize=FONT["small"])
    ax.set_xticks(range(W))
    ax.set_yticks(range(H))
    if values if values is not None else f.size <= 64:
        _cell_texts(ax, f, cmap, vmin, vmax)
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    if title:
        ax.set_title(title, fontsize=FONT["title"])
    return ax.figure


def _samples(ax, xs, ys, size=60):
    """Sampling points as red crosses with a white outline (visible on any colour)."""
    points = ax.scatter(xs, ys, marker="x", color=SAMPLE_COLOR, s=size, linewidths=2.0, zorder=4)
    points.set_path_effects(halo(4.0, "white"))
    return points


def draw_roi_align(feature, roi_xyxy, output_size, spatial_scale=1.0, sampling_ratio=2,
                   aligned=True, ax=None, values: bool | None = None, highlight=None):
    """The RoI (dashed white), RoIAlign's bins (orange) and sampling points (red x).

    With ``aligned=True`` the bins tile the dashed box exactly; with ``aligned=False``
    they are shifted half a pixel right and down. ``highlight``: the bins
    ``(i, j)`` whose sampling points are drawn; by default all bins when there
    are at most 9, otherwise the same sample of three as ``draw_roi_pool``.
    """
    from matplotlib.patches import Rectangle

    f = _as_map(feature)
    ax = _new_axes(ax)
    draw_feature_grid(f, ax, values=values)
    ax.add_patch(_roi_rectangle(roi_xyxy, spatial_scale, **ROI_STYLE))
    y_edges, x_edges = roi_align_bin_edges(roi_xyxy, output_size, spatial_scale, aligned)
    ph, pw = len(y_edges) - 1, len(x_edges) - 1
    shown = _pool_highlight(ph, pw, highlight)
    thin = dict(ALIGN_BIN_STYLE, linewidth=1.0) if ph * pw > MAX_ALL_BINS else ALIGN_BIN_STYLE
    for i, (y0, y1) in enumerate(zip(y_edges[:-1], y_edges[1:])):
        for j, (x0, x1) in enumerate(zip(x_edges[:-1], x_edges[1:])):
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, **(ALIGN_BIN_STYLE if (i, j) in shown else thin)))
    ys, xs = roi_align_sampling_points(roi_xyxy, output_size, spatial_scale, sampling_ratio, aligned)
    points = [(y, x) for i, j in sorted(shown) for y in ys[i] for x in xs[j]]
    if points:
        _samples(ax, [x for _, x in points], [y for y, _ in points])
    some = "" if len(shown) >= ph * pw else f", {len(shown)} bins"
    ax.set_title(f"RoIAlign: exact bins, {ys.shape[1]}x{xs.shape[1]} samples{some}"
                 f"{'' if aligned else ', aligned=False'}", fontsize=FONT["title"])
    return ax.figure


def _pool_highlight(ph, pw, highlight):
    if highlight is None:
        return {(i, j) for i in range(ph) for j in range(pw)} if ph * pw <= MAX_ALL_BINS else \
            {(0, 0), (ph // 2, pw // 2), (ph - 1, pw - 1)}
    return {(int(i), int(j)) for i, j in highlight}


def draw_roi_pool(feature, roi_xyxy, output_size, spatial_scale=1.0, ax=None,
                  values: bool | None = None, highlight=None):
    """The RoI (dashed white) and RoIPool's quantised bins: whole pixels, end pixel included.

    Each highlighted bin is filled in its own colour (neighbouring bins may
    share a row or column of pixels) and a star marks the pixel that wins its
    max. ``highlight``: the bins ``(i, j)`` to fill; by default all of them when
    there are at most 9, otherwise the first, the middle and the last (the
    others are outlined in white), so a 7 x 7 grid stays readable.
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    f = _as_map(feature)
    ax = _new_axes(ax)
    draw_feature_grid(f, ax, values=values)
    ax.add_patch(_roi_rectangle(roi_xyxy, spatial_scale, **ROI_STYLE))
    h0, h1, w0, w1 = roi_pool_bins(roi_xyxy, output_size, f.shape, spatial_scale)
    shown = _pool_highlight(len(h0), len(w0), highlight)
    for i in range(len(h0)):
        for j in range(len(w0)):
            if h1[i] <= h0[i] or w1[j] <= w0[j]:
                continue  # empty bin
            if (i, j) not in shown:
                ax.add_patch(Rectangle((w0[j] - 0.5, h0[i] - 0.5), w1[j] - w0[j], h1[i] - h0[i], fill=False,
                                       edgecolor="white", linewidth=0.8, alpha=0.8))
                continue
            color = POOL_COLORS[(i + j) % 2 + 2 * (i % 2)] if len(shown) == len(h0) * len(w0) else \
                POOL_COLORS[(0, 1, 3)[sorted(shown).index((i, j)) % 3]]
            inset = 0.08 * ((i + j) % 2)  # keep overlapping outlines apart
            ax.add_patch(Rectangle((w0[j] - 0.5 + inset, h0[i] - 0.5 + inset),
                                   w1[j] - w0[j] - 2 * inset, h1[i] - h0[i] - 2 * inset,
                                   edgecolor=color, linewidth=3.0, facecolor=to_rgba(color, 0.3)))
            block = f[h0[i]:h1[i], w0[j]:w1[j]]
            y, x = np.unravel_index(np.argmax(block), block.shape)
            ax.scatter(w0[j] + x, h0[i] + y, marker="*", s=220, color=color, edgecolors="white",
                       linewidths=1.2, zorder=3)
    some = f" ({len(shown)} of {len(h0) * len(w0)} filled)" if len(shown) < len(h0) * len(w0) else ""
    ax.set_title(f"RoIPool: rounded, whole-pixel bins{some}", fontsize=FONT["title"])
    return ax.figure


def draw_output_grid(out, ax=None, vmin=None, vmax=None, cmap: str = "viridis", title=None,
                     fmt: str = "{:.2f}"):
    """A pooled output (ph, pw) as coloured cells, each with its value (on a shared colour scale)."""
    out = _as_map(out)
    ax = _new_axes(ax, (3, 3))
    vmin = out.min() if vmin is None else vmin
    vmax = out.max() if vmax is None else vmax
    ax.imshow(out, cmap=cmap, vmin=vmin, vmax=vmax)
    _cell_texts(ax, out, cmap, vmin, vmax, fmt=fmt)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=FONT["title"])
    return ax.figure


def draw_roi_comparison(feature, roi_xyxy, output_size, spatial_scale=1.0, sampling_ratio=2,
                        aligned=True, mode="avg", highlight=None):
    """RoIPool and RoIAlign on the same RoI, side by side, their outputs underneath.

    The outputs share the map's colour scale, so a colour means the same value
    in all four panels. Returns the figure (10 x 8.6 inches).
    """
    import matplotlib.pyplot as plt

    f = _as_map(feature)
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.6), gridspec_kw=dict(height_ratios=[1.25, 1]))
    draw_roi_pool(f, roi_xyxy, output_size, spatial_scale, ax=axes[0, 0], highlight=highlight)
    draw_roi_align(f, roi_xyxy, output_size, spatial_scale, sampling_ratio, aligned, ax=axes[0, 1],
                   highlight=highlight)
    rois = np.array([[0.0, *roi_xyxy]])
    pooled = roi_pool(f[None, None], rois, output_size, spatial_scale)[0, 0]
    aligned_out = roi_align(f[None, None], rois, output_size, spatial_scale, sampling_ratio,
                            aligned, mode)[0, 0]
    lo, hi = f.min(), f.max()
    draw_output_grid(pooled, axes[1, 0], lo, hi, title=f"roi_pool output {pooled.shape[0]}x{pooled.shape[1]}")
    draw_output_grid(aligned_out, axes[1, 1], lo, hi,
                     title=f"roi_align output {aligned_out.shape[0]}x{aligned_out.shape[1]} ({mode})")
    shown = _pool_highlight(*pooled.shape, highlight)
    if len(shown) < pooled.size:  # frame the output cells of the bins drawn above
        from matplotlib.patches import Rectangle

        for ax in axes[1]:
            for i, j in shown:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=2.5))
    fig.tight_layout()
    return fig


def draw_roi_align_lecture(feature, roi_xyxy, output_size=2, spatial_scale=1.0, aligned=True):
    """The lecture's RoIAlign picture, one step per panel (2 x 3 panels, 10 x 7 inches).

    1. the RoI on the feature map; 2. an N x N grid of equal cells (fractional
    pixels); 3. four sampling points per cell, each the centre of one of the
    cell's 2 x 2 sub-cells; 4. the bilinear value at each point (the largest
    of each cell circled); 5. the max per cell, the N x N output the lecture
    describes; 6. the mean per cell, what the paper's experiments and
    torchvision use. Panels 5 and 6 are ``roi_align(..., sampling_ratio=2,
    mode="max" / "avg")``; the function checks that the max of the drawn
    values equals panel 5.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    f = _as_map(feature)
    ph, pw = (output_size, output_size) if np.isscalar(output_size) else tuple(output_size)
    y_edges, x_edges = roi_align_bin_edges(roi_xyxy, (ph, pw), spatial_scale, aligned)
    ys, xs = roi_align_sampling_points(roi_xyxy, (ph, pw), spatial_scale, 2, aligned)  # (ph, 2), (pw, 2)
    yy, xx = np.meshgrid(ys.ravel(), xs.ravel(), indexing="ij")  # (2 ph, 2 pw)
    samples = bilinear_interpolate(f, yy, xx).value  # (2 ph, 2 pw): cell (i, j) holds [2i:2i+2, 2j:2j+2]
    cells = samples.reshape(ph, 2, pw, 2)
    rois = np.array([[0.0, *roi_xyxy]])
    out_max = roi_align(f[None, None], rois, (ph, pw), spatial_scale, 2, aligned, "max")[0, 0]
    out_avg = roi_align(f[None, None], rois, (ph, pw), spatial_scale, 2, aligned, "avg")[0, 0]
    if not np.allclose(cells.max(axis=(1, 3)), out_max):
        raise AssertionError("the drawn samples do not reproduce roi_align(mode='max')")

    fig, axes = plt.subplots(2, 3, figsize=(10, 7))
    lo, hi = f.min(), f.max()
    pad = 0.8
    view = (x_edges[0] - pad, x_edges[-1] + pad, y_edges[-1] + pad, y_edges[0] - pad)
    for n, ax in enumerate(axes[0].tolist() + [axes[1, 0]]):
        draw_feature_grid(f, ax, values=False)
        if n == 3:
            ax.images[-1].set_alpha(0.35)
        ax.add_patch(_roi_rectangle(roi_xyxy, spatial_scale, **ROI_STYLE))
        if n >= 1:
            for y0, y1 in zip(y_edges[:-1], y_edges[1:]):
                for x0, x1 in zip(x_edges[:-1], x_edges[1:]):
                    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, **ALIGN_BIN_STYLE))
        if n >= 2:
            mids_y = (y_edges[:-1] + y_edges[1:]) / 2
            mids_x = (x_edges[:-1] + x_edges[1:]) / 2
            for y in mids_y:
                ax.plot([x_edges[0], x_edges[-1]], [y, y], color="white", lw=1.2, ls=":")
            for x in mids_x:
                ax.plot([x, x], [y_edges[0], y_edges[-1]], color="white", lw=1.2, ls=":")
            _samples(ax, xx.ravel(), yy.ravel(), size=70)
        ax.set_xlim(view[0], view[1])
        ax.set_ylim(view[2], view[3])
    for (a, b), v in np.ndenumerate(samples):
        winner = v == cells[a // 2, :, b // 2, :].max()
        axes[1, 0].annotate(f"{v:.2f}", (xx[a, b], yy[a, b]), xytext=(0, 9), textcoords="offset points",
                            ha="center", va="bottom", fontsize=FONT["small"],
                            weight="bold" if winner else "normal",
                            bbox=dict(facecolor="white", alpha=0.85, pad=1,
                                      edgecolor=SAMPLE_COLOR if winner else "none", linewidth=1.5))
    titles = ["1. the RoI on the map", f"2. {ph} x {pw} equal cells", "3. 2 x 2 points per cell",
              "4. bilinear value per point"]
    for ax, t in zip(axes[0].tolist() + [axes[1, 0]], titles):
        ax.set_title(t, fontsize=FONT["title"])
    draw_output_grid(out_max, axes[1, 1], lo, hi, title="5. max per cell (lecture)")
    draw_output_grid(out_avg, axes[1, 2], lo, hi, title="6. mean per cell (paper)")
    fig.tight_layout()
    return fig


def draw_bilinear_weights(feature, y: float, x: float, ax=None):
    """One sample point, its four neighbours and the rectangle that weights each of them.

    The unit square between the neighbours is split at the point into four
    rectangles; each is shaded in the colour of the neighbour diagonally opposite,
    whose weight is that rectangle's area. Past the last row or column (the
    border rule uses that row alone) the missing neighbours are drawn hollow,
    one pixel further, with weight 0.
    """
    from matplotlib.patches import Rectangle

    f = _as_map(feature)
    ax = _new_axes(ax)
    draw_feature_grid(f, ax, cmap="Greys", values=True)
    ax.images[-1].set_alpha(0.5)
    s = bilinear_interpolate(f, y, x)
    if s.weights.sum() == 0:
        ax.set_title(f"({y:.2f}, {x:.2f}) is outside the map: value 0", fontsize=FONT["title"])
        return ax.figure
    yl, xl, yh, xh = s.ys[0], s.xs[0], s.ys[3], s.xs[3]
    # on or past the last row/column the rule uses that row alone: draw a notional neighbour one
    # pixel further (hollow), whose weight is 0, so the four rectangles still tile a unit square
    notional = [False, xh == xl, yh == yl, xh == xl or yh == yl]
    yh, xh = (yl + 1 if yh == yl else yh), (xl + 1 if xh == xl else xh)
    # the point after the border clamp: ly = w3 + w4 and lx = w2 + w4
    py = yl + s.weights[2] + s.weights[3]
    px = xl + s.weights[1] + s.weights[3]
    corners = [(yl, xl), (yl, xh), (yh, xl), (yh, xh)]
    colors = [POOL_COLORS[0], POOL_COLORS[1], POOL_COLORS[2], OKABE_ITO[0]]
    for n, ((cy, cx), color) in enumerate(zip(corners, colors)):
        oy, ox = corners[3 - n]  # the opposite neighbour's corner bounds this neighbour's rectangle
        ax.add_patch(Rectangle((min(px, ox), min(py, oy)), abs(ox - px), abs(oy - py),
                               facecolor=color, alpha=0.45, edgecolor=color))
        ax.scatter(cx, cy, s=160, color="white" if notional[n] else color, edgecolors=color if notional[n] else "black",
                   linewidths=2.5 if notional[n] else 1.0, zorder=3)
        ax.annotate(f"w={s.weights[n]:.3f}", (cx, cy), textcoords="offset points", ha="center",
                    xytext=(0, 14 if n < 2 else -24), fontsize=FONT["normal"], color=text_color_on(color), weight="bold",
                    bbox=dict(facecolor=color, alpha=0.8, pad=1.5, edgecolor="none"))
    ax.scatter(px, py, marker="x", s=110, color="black", linewidths=2.5, zorder=4)
    ax.set_xlim(xl - 0.8, xh + 0.8)  # zoom on the four neighbours
    ax.set_ylim(yh + 0.8, yl - 0.8)
    ax.set_title(f"f({y:.2f}, {x:.2f}) = {float(s.value):.4g}", fontsize=FONT["title"])
    return ax.figure
