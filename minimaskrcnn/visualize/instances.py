"""Pictures of instances and of the boxes a detector handles on the way.

Every function draws on ``ax`` (a new figure when None) and returns the
matplotlib Figure; none calls ``plt.show()``. Images may be (H, W, 3) or
(3, H, W), uint8 or float (floats are rescaled to [0, 1] for display). Boxes are
(K, 4) (x1, y1, x2, y2) in continuous pixel coordinates; RoIs may also be
(K, 5) with the batch index first. Labels: 0 is background, 1..K the classes,
named by ``class_names[label - 1]``.

* ``draw_instances``: translucent masks, boxes, class names and scores, coloured by class
* ``draw_boxes``: boxes styled by role ("gt", "anchor", "proposal", "positive", "negative", "ignored", "box")
* ``draw_anchors``, ``draw_proposals``, ``draw_sampled_rois``: the RPN and RoI-head stages
* ``draw_cell_anchors``: the cell centres of one feature map and the anchors of a few cells
* ``draw_mask_targets``: each RoI's crop beside its m x m mask target

Colours come from ``visualize.style``: a class has the same colour wherever it
is drawn (``CLASS_COLORS[label]``), and every line or caption over an image has
a dark outline so it stays visible on any background.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.visualize.style import FONT, ROLE_COLORS, class_color, class_legend, halo, text_color_on

ROLE_STYLES = {
    "gt": dict(edgecolor=ROLE_COLORS["gt"], linewidth=2.5, linestyle="-"),
    "anchor": dict(edgecolor=ROLE_COLORS["anchor"], linewidth=1.2, linestyle="-"),
    "proposal": dict(edgecolor=ROLE_COLORS["proposal"], linewidth=1.5, linestyle="-"),
    "positive": dict(edgecolor=ROLE_COLORS["positive"], linewidth=2.0, linestyle="-"),
    "negative": dict(edgecolor=ROLE_COLORS["negative"], linewidth=1.5, linestyle="--"),
    "ignored": dict(edgecolor=ROLE_COLORS["ignored"], linewidth=1.2, linestyle=":"),
    "box": dict(edgecolor=ROLE_COLORS["box"], linewidth=2.0, linestyle="-"),
}
ROLE_LABELS = {"gt": "ground truth", "anchor": "anchor", "proposal": "proposal", "positive": "positive",
               "negative": "negative", "ignored": "ignored", "box": "box"}


def to_display_image(image) -> np.ndarray:
    """(H, W, 3) array ready for imshow: channels last; floats min-max scaled to [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[2] not in (1, 3):
        image = image.transpose(1, 2, 0)  # (3, H, W) -> (H, W, 3)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3):
        raise ValueError(f"image: expected (H, W, 3), (3, H, W) or (H, W), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float64)
    lo, hi = np.nanmin(image), np.nanmax(image)
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def instance_colors(n: int) -> np.ndarray:
    """n distinct RGB colours (n, 3) in [0, 1], the same every call (to tell instances apart;
    ``style.class_color`` colours by class)."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    return np.array([palette[i % len(palette)] for i in range(n)])


def _axes(ax, image, title=None):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(to_display_image(image), cmap="gray")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=FONT["title"])
    return ax.figure, ax


def _boxes(boxes, name="boxes") -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
        raise ValueError(f"{name}: expected (K, 4) boxes or (K, 5) RoIs, got shape {boxes.shape}")
    return boxes[:, -4:]  # RoIs: drop the batch index


def _rectangle(ax, box, outline: bool = True, **style):
    """An unfilled box; ``outline`` draws a dark halo under it (visible on any image)."""
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = box
    patch = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, **style)
    if outline:
        patch.set_path_effects(halo(style.get("linewidth", 1.0) + 1.5))
    ax.add_patch(patch)
    return patch


def _caption(ax, x, y, text, color, va="bottom"):
    """A caption on a solid box of ``color``, in black or white, whichever reads better."""
    return ax.text(x, y, text, color=text_color_on(color), fontsize=FONT["small"], va=va, clip_on=True,
                   bbox=dict(facecolor=color, alpha=0.9, pad=1.5, edgecolor="black", linewidth=0.5))


def draw_instances(image, boxes, labels, scores=None, masks=None, class_names=None, ax=None,
                   alpha: float = 0.45, title=None, legend: bool = False, captions: bool = True):
    """Image with each instance's translucent mask, box and "name score" caption, coloured by class.

    boxes (K, 4), labels (K,) in 1..num_classes, scores (K,) or None,
    masks (K, H, W) bool or None; class_names[label - 1] names a label.
    ``style.class_color(label)`` colours an instance, so ground truth and
    predictions of the same class look alike. ``legend`` adds one entry per
    class drawn; ``captions=False`` leaves out the text (the legend names the colours).
    """
    fig, ax = _axes(ax, image, title)
    boxes = _boxes(boxes)
    labels = np.asarray(labels).reshape(-1)
    K = len(boxes)
    if len(labels) != K or (scores is not None and len(scores) != K) or (masks is not None and len(masks) != K):
        raise ValueError(f"boxes, labels, scores, masks: expected {K} of each, got {len(labels)} labels"
                         + (f", {len(scores)} scores" if scores is not None else "")
                         + (f", {len(masks)} masks" if masks is not None else ""))
    from matplotlib.colors import to_rgb

    colors = [to_rgb(class_color(max(int(label), 0))) for label in labels]
    if masks is not None and K:
        masks = np.asarray(masks, dtype=bool)
        overlay = np.zeros(masks.shape[1:] + (4,))  # (H, W, RGBA)
        for k in range(K):
            overlay[masks[k], :3] = colors[k]
            overlay[masks[k], 3] = alpha
        ax.imshow(overlay)
    for k in range(K):
        _rectangle(ax, boxes[k], edgecolor=colors[k], linewidth=2.0)
        if not captions:
            continue
        label = int(labels[k])
        name = class_names[label - 1] if class_names is not None and 1 <= label <= len(class_names) else str(label)
        caption = name if scores is None else f"{name} {float(scores[k]):.2f}"
        _caption(ax, boxes[k, 0], boxes[k, 1] - 1, caption, colors[k])
    if legend and K and class_names is not None:
        class_legend(ax, class_names, labels)
    return fig


def draw_boxes(image, boxes, roles="box", ax=None, title=None, legend: bool = True):
    """Boxes (K, 4) or RoIs (K, 5) styled by role: one role for all, or one per box."""
    fig, ax = _axes(ax, image, title)
    boxes = _boxes(boxes)
    roles = [roles] * len(boxes) if isinstance(roles, str) else list(roles)
    if len(roles) != len(boxes):
        raise ValueError(f"roles: expected one role or {len(boxes)}, got {len(roles)}")
    unknown = set(roles) - set(ROLE_STYLES)
    if unknown:
        raise ValueError(f"roles: unknown {sorted(unknown)}; choose from {list(ROLE_STYLES)}")
    for box, role in zip(boxes, roles):
        _rectangle(ax, box, **ROLE_STYLES[role])
    if legend and boxes.size:
        role_legend(ax, {r: roles.count(r) for r in ROLE_STYLES if r in roles})
    return fig


def role_legend(ax, counts: dict, loc="upper right", **kwargs):
    """A legend for box roles: ``{role: count}`` -> one line per role, "name (count)" (count None: no count)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=ROLE_STYLES[r]["edgecolor"], linestyle=ROLE_STYLES[r]["linestyle"],
                      linewidth=max(ROLE_STYLES[r]["linewidth"], 2.0), path_effects=halo(3.5),
                      label=ROLE_LABELS[r] + ("" if n is None else f" ({n})")) for r, n in counts.items()]
    kwargs.setdefault("fontsize", FONT["small"])
    kwargs.setdefault("framealpha", 0.85)
    kwargs.setdefault("facecolor", "0.35")
    kwargs.setdefault("labelcolor", "white")
    return ax.legend(handles=handles, loc=loc, **kwargs)


def draw_anchors(image, anchors, ax=None, max_anchors: int = 300, gt_boxes=None, title=None):
    """Anchors (A, 4); more than ``max_anchors`` are thinned to an evenly spaced subset."""
    anchors = _boxes(anchors, "anchors")
    shown = anchors
    if len(anchors) > max_anchors:
        shown = anchors[np.linspace(0, len(anchors) - 1, max_anchors).astype(int)]
    gt = _boxes(gt_boxes, "gt_boxes") if gt_boxes is not None else np.zeros((0, 4))
    title = title or f"anchors: {len(shown)} of {len(anchors)} shown"
    return draw_boxes(image, np.concatenate([shown, gt]), ["anchor"] * len(shown) + ["gt"] * len(gt), ax, title)


def draw_cell_anchors(image, anchors, anchors_per_cell: int, feature_shape, cells, ax=None, title=None):
    """The centre of every cell of one feature map (white dots) and the anchors of a few ``cells``.

    anchors: (fh * fw * A, 4) for one map, ordered ``(y * fw + x) * A + a``
    (``generate_anchors``); cells: ``[(y, x), ...]``, each drawn in its own
    colour with all its A anchors, so the family of shapes of one cell reads
    apart from the others'.
    """
    anchors = _boxes(anchors, "anchors")
    fh, fw = feature_shape
    A = int(anchors_per_cell)
    if len(anchors) != fh * fw * A:
        raise ValueError(f"anchors: expected fh * fw * A = {fh * fw * A} rows, got {len(anchors)}")
    fig, ax = _axes(ax, image, title)
    centres = (anchors[::A, :2] + anchors[::A, 2:]) / 2  # (fh * fw, 2): one per cell
    ax.plot(centres[:, 0], centres[:, 1], "o", color="white", markersize=3, markeredgecolor="black",
            markeredgewidth=0.5, label=f"cell centres ({fh} x {fw})")
    colors = instance_colors(len(cells) + 3)[3:]  # skip the first three: they resemble the class colours
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", color="white", markeredgecolor="black", linestyle="none",
                      label=f"cell centres ({fh} x {fw})")]
    drawn = []
    for (y, x), color in zip(cells, colors):
        first = (int(y) * fw + int(x)) * A
        for box in anchors[first:first + A]:
            _rectangle(ax, box, edgecolor=color, linewidth=2.0)
            drawn.append(box)
        handles.append(Line2D([], [], color=color, linewidth=2.0, label=f"the {A} anchors of cell ({y}, {x})"))
    ax.legend(handles=handles, loc="upper right", fontsize=FONT["small"], framealpha=0.85)
    H, W = to_display_image(image).shape[:2]
    drawn = np.array(drawn).reshape(-1, 4)
    lo = np.minimum(drawn[:, :2].min(axis=0), 0) if len(drawn) else np.zeros(2)
    hi = np.maximum(drawn[:, 2:].max(axis=0), (W, H)) if len(drawn) else np.array([W, H])
    ax.set_xlim(lo[0] - 1, hi[0] + 1)  # anchors of border cells stick out of the image
    ax.set_ylim(hi[1] + 1, lo[1] - 1)
    return fig


def draw_proposals(image, proposals, scores=None, gt_boxes=None, top_k: int = 50, ax=None, title=None):
    """The ``top_k`` highest-scoring proposals (K, 4) (all, in order, when scores is None)."""
    proposals = _boxes(proposals, "proposals")
    order = np.arange(len(proposals)) if scores is None else np.argsort(-np.asarray(scores), kind="stable")
    order = order[:top_k]
    gt = _boxes(gt_boxes, "gt_boxes") if gt_boxes is not None else np.zeros((0, 4))
    boxes = np.concatenate([proposals[order], gt])
    title = title or f"top {len(order)} of {len(proposals)} proposals"
    return draw_boxes(image, boxes, ["proposal"] * len(order) + ["gt"] * len(gt), ax, title)


def draw_sampled_rois(image, rois, labels, gt_boxes=None, ax=None, title=None):
    """Sampled RoIs (K, 4) or (K, 5): label > 0 positive (green), label 0 background (red, dashed)."""
    rois = _boxes(rois, "rois")
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(rois):
        raise ValueError(f"labels: expected {len(rois)} (one per RoI), got {len(labels)}")
    gt = _boxes(gt_boxes, "gt_boxes") if gt_boxes is not None else np.zeros((0, 4))
    roles = ["positive" if label > 0 else "negative" for label in labels] + ["gt"] * len(gt)
    title = title or f"sampled RoIs: {int((labels > 0).sum())} positive, {int((labels == 0).sum())} negative"
    return draw_boxes(image, np.concatenate([rois, gt]), roles, ax, title)


def draw_mask_targets(image, rois, mask_targets, labels=None, class_names=None, max_rois: int = 8):
    """Each RoI's crop of the image (left) beside its (m, m) mask target (right).

    rois (K, 4) or (K, 5), mask_targets (K, m, m) in [0, 1]; labels (K,) optional,
    in 1..num_classes (0 = background; class_names[label - 1] names a label).
    Shows at most ``max_rois`` pairs, one per row.
    """
    import matplotlib.pyplot as plt

    rois = _boxes(rois, "rois")
    targets = np.asarray(mask_targets)
    if targets.ndim != 3 or len(targets) != len(rois):
        raise ValueError(f"mask_targets: expected ({len(rois)}, m, m), got shape {targets.shape}")
    n = min(len(rois), max_rois)
    fig, axes = plt.subplots(max(n, 1), 2, figsize=(4, 2 * max(n, 1)), squeeze=False)
    picture = to_display_image(image)
    H, W = picture.shape[:2]
    for k in range(n):
        x1, y1, x2, y2 = rois[k]
        c0, r0 = int(np.clip(np.floor(x1), 0, W - 1)), int(np.clip(np.floor(y1), 0, H - 1))
        c1, r1 = int(np.clip(np.ceil(x2), c0 + 1, W)), int(np.clip(np.ceil(y2), r0 + 1, H))
        axes[k, 0].imshow(picture[r0:r1, c0:c1], extent=(c0, c1, r1, r0), cmap="gray")
        _rectangle(axes[k, 0], rois[k], edgecolor="lime", linewidth=1.5)
        axes[k, 0].set_xlim(c0, c1)
        axes[k, 0].set_ylim(r1, r0)
        name = ""
        if labels is not None:
            label = int(np.asarray(labels)[k])
            name = class_names[label - 1] if class_names is not None and 1 <= label <= len(class_names) else str(label)
        axes[k, 0].set_title(f"RoI {k} {name}".strip(), fontsize=FONT["small"])
        axes[k, 1].imshow(targets[k], cmap="gray", vmin=0, vmax=1)
        axes[k, 1].set_title(f"target {targets.shape[1]}x{targets.shape[2]}", fontsize=FONT["small"])
    for a in axes.ravel():
        a.set_axis_off()
    fig.tight_layout()
    return fig
