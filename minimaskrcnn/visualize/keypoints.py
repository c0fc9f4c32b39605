"""Pictures of keypoints: skeletons over the image, one-hot targets, heatmaps.

Every function draws on ``ax`` (a new figure when None) and returns the
matplotlib Figure; none calls ``plt.show()``. Keypoints are (G, K, 3) rows in
continuous pixel coordinates: ``[x, y, v]`` for ground truth (v = 0 not
labelled, 1 hidden, 2 visible) or ``[x, y, score]`` for predictions.
Keypoints named ``left_*`` are drawn in blue, ``right_*`` in orange, the
rest in white, so a left/right swap shows at a glance.

* ``draw_keypoints``: skeletons (bones coloured per instance) and keypoints
* ``draw_keypoint_targets``: an RoI cut into m x m cells and each keypoint's one-hot target cell
* ``draw_heatmaps``: the m²-way softmax of each keypoint's heatmap, with arg-max and target
* ``keypoint_legend``: what the keypoint colours and markers mean
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.visualize.instances import _axes, _rectangle, instance_colors, to_display_image

SIDE_COLORS = {"left": "tab:blue", "right": "tab:orange", "centre": "white"}


def _side(name) -> str:
    name = str(name)
    return "left" if name.startswith("left_") else "right" if name.startswith("right_") else "centre"


def _keypoint_array(keypoints) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.size == 0 and not (kp.ndim == 3 and kp.shape[2] == 3):
        return kp.reshape(0, 0, 3)  # e.g. [] for "no instances"
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError(f"keypoints: expected (G, K, 3) rows [x, y, v or score], got shape {kp.shape}")
    return kp


def draw_keypoints(image, keypoints, skeleton=(), keypoint_names=None, boxes=None, scores: bool = False,
                   threshold: float = 0.0, ax=None, title=None, marker_size: float = 6.0):
    """Each instance's skeleton and keypoints over the image.

    keypoints (G, K, 3) (or (K, 3) for one instance); skeleton: 0-based index
    pairs; boxes (G, 4) optional. ``scores=False``: the third column is COCO's
    visibility, labelled keypoints (v > 0) are drawn and hidden ones (v = 1)
    hollow. ``scores=True``: it is a prediction score, keypoints scoring above
    ``threshold`` are drawn. A bone is drawn when both its ends are.
    ``image=None`` draws on top of what ``ax`` already shows (e.g. ``draw_instances``).
    """
    if image is None:
        if ax is None:
            raise ValueError("image: None is only allowed when drawing onto an existing ax")
        fig = ax.figure
    else:
        fig, ax = _axes(ax, image, title)
    kp = _keypoint_array(keypoints)
    G, K = kp.shape[:2]
    names = list(keypoint_names) if keypoint_names is not None else [""] * K
    if len(names) != K:
        raise ValueError(f"keypoint_names: expected {K} names, got {len(names)}")
    if any(not (0 <= i < K and 0 <= j < K) for i, j in skeleton):
        raise ValueError(f"skeleton: expected 0-based index pairs in 0..{K - 1}, got {list(skeleton)}")
    colors = instance_colors(G + 2)[2:]  # from green on: never the left/right keypoint colours
    for g in range(G):
        shown = kp[g, :, 2] > threshold if scores else kp[g, :, 2] > 0
        for i, j in skeleton:
            if shown[i] and shown[j]:
                ax.plot(kp[g, [i, j], 0], kp[g, [i, j], 1], color=colors[g], linewidth=2, alpha=0.9)
        for k in np.flatnonzero(shown):
            hidden = not scores and kp[g, k, 2] == 1
            color = SIDE_COLORS[_side(names[k])]
            ax.plot(kp[g, k, 0], kp[g, k, 1], "o", markersize=marker_size, markeredgecolor="black",
                    markeredgewidth=0.8, markerfacecolor="none" if hidden else color)
        if boxes is not None:
            _rectangle(ax, np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[g], edgecolor=colors[g],
                       linewidth=1.0, linestyle="--")
    return fig


def keypoint_legend(ax, hidden: bool = True, loc="lower center", **kwargs):
    """A legend for ``draw_keypoints``' colours: left, right, centre keypoints (and hollow = hidden).

    ``ax`` may be an Axes or a Figure. Returns the Legend.
    """
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="none", markersize=8, markeredgecolor="black",
                      markerfacecolor=SIDE_COLORS[side], label=f"{side} keypoint")
               for side in ("left", "right", "centre")]
    if hidden:
        handles.append(Line2D([], [], marker="o", linestyle="none", markersize=8, markeredgecolor="black",
                              markerfacecolor="none", label="hidden (v = 1)"))
    kwargs.setdefault("fontsize", 10)
    kwargs.setdefault("ncol", len(handles))
    kwargs.setdefault("frameon", False)
    return ax.legend(handles=handles, loc=loc, **kwargs)


def draw_keypoint_targets(image, roi, targets, heatmap_size: int, keypoint_names=None, ax=None,
                          grid: bool = True, title=None):
    """An RoI cut into m x m cells, with each keypoint's one-hot target cell filled.

    roi: (4,) box (x1, y1, x2, y2); targets: (K,) cell indices ``i * m + j``
    from ``keypoint_targets`` (-1 = ignored, not drawn). Cell (i, j) covers
    ``[x1 + j w/m, x1 + (j+1) w/m) x [y1 + i h/m, y1 + (i+1) h/m)``.
    """
    from matplotlib.patches import Rectangle

    fig, ax = _axes(ax, image, title)
    x1, y1, x2, y2 = (float(v) for v in np.asarray(roi, dtype=np.float64).reshape(-1)[-4:])
    m = int(heatmap_size)
    cw, ch = (x2 - x1) / m, (y2 - y1) / m
    targets = np.asarray(targets).reshape(-1)
    names = list(keypoint_names) if keypoint_names is not None else [""] * len(targets)
    if grid:
        for t in range(m + 1):
            ax.plot([x1 + t * cw] * 2, [y1, y2], color="white", linewidth=0.3, alpha=0.5)
            ax.plot([x1, x2], [y1 + t * ch] * 2, color="white", linewidth=0.3, alpha=0.5)
    _rectangle(ax, (x1, y1, x2, y2), edgecolor="lime", linewidth=1.5)
    for k, t in enumerate(targets):
        if t < 0:
            continue
        i, j = divmod(int(t), m)
        ax.add_patch(Rectangle((x1 + j * cw, y1 + i * ch), cw, ch, color=SIDE_COLORS[_side(names[k])], alpha=0.9))
    pad = 0.1 * max(x2 - x1, y2 - y1)
    H, W = to_display_image(image).shape[:2]
    ax.set_xlim(max(x1 - pad, 0), min(x2 + pad, W))
    ax.set_ylim(min(y2 + pad, H), max(y1 - pad, 0))
    return fig


def draw_heatmaps(logits, keypoint_names=None, targets=None, ncols: int = 5, softmax: bool = True,
                  zoom: int | None = None):
    """One panel per keypoint: its m x m heatmap as a softmax over the m² cells.

    logits: (K, m, m) heatmap logits of one RoI (``softmax=False``: show them raw).
    targets: (K,) target cell indices (-1 = none), marked with a green square;
    the arg-max is marked with a red cross (a legend says so). The colours
    follow the square root of the probability, so a spread-out heatmap shows
    its spread and not only its peak. ``zoom``: show a ``zoom x zoom`` window
    of cells around the arg-max and the target instead of the whole grid
    (a peak of one cell in 56 is otherwise a speck). Returns the figure,
    at most 10 inches wide.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm
    from matplotlib.lines import Line2D

    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 3 or logits.shape[1] != logits.shape[2]:
        raise ValueError(f"logits: expected (K, m, m), got shape {logits.shape}")
    K, m, _ = logits.shape
    names = list(keypoint_names) if keypoint_names is not None else [f"keypoint {k}" for k in range(K)]
    maps = logits
    if softmax:
        flat = logits.reshape(K, -1)
        e = np.exp(flat - flat.max(axis=1, keepdims=True))
        maps = (e / e.sum(axis=1, keepdims=True)).reshape(K, m, m)  # each map sums to 1
    ncols = max(1, min(ncols, K))
    nrows = -(-K // ncols)
    side = 10.0 / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(10.0, (side + 0.45) * nrows + 0.5), squeeze=False)
    for k, a in enumerate(axes.ravel()):
        a.set_axis_off()
        if k >= K:
            continue
        a.imshow(maps[k], cmap="viridis", norm=PowerNorm(0.5, vmin=0.0, vmax=max(maps[k].max(), 1e-12))
                 if softmax else None)
        i, j = divmod(int(maps[k].argmax()), m)
        a.plot(j, i, "x", color="red", markersize=10, markeredgewidth=2.5)
        centre = [(i, j)]
        if targets is not None and targets[k] >= 0:
            ti, tj = divmod(int(targets[k]), m)
            a.plot(tj, ti, "s", markersize=12, markerfacecolor="none", markeredgecolor="lime", markeredgewidth=2)
            centre.append((ti, tj))
        if zoom is not None and zoom < m:
            ci, cj = np.mean(centre, axis=0)
            half = max(zoom, 2 + int(np.ptp([c[0] for c in centre])), 2 + int(np.ptp([c[1] for c in centre]))) / 2
            a.set_xlim(cj - half, cj + half)
            a.set_ylim(ci + half, ci - half)
        peak = f"p={maps[k].max():.2f}" if softmax else f"max={maps[k].max():.1f}"
        a.set_title(f"{names[k]}\n{peak}", fontsize=10)
    fig.legend(handles=[Line2D([], [], marker="x", color="red", markeredgewidth=2.5, linestyle="none",
                               label="arg-max (the prediction)"),
                        Line2D([], [], marker="s", color="lime", markerfacecolor="none", markeredgewidth=2,
                               linestyle="none", label="target cell")],
               loc="lower center", ncol=2, fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0.5 / ((side + 0.45) * nrows + 0.5), 1, 1))
    return fig
