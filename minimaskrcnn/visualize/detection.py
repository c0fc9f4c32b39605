"""Pictures of the box-level decisions a detector makes: NMS, anchor matching, a score threshold.

Every function returns a matplotlib Figure (or draws on ``ax``) and never calls
``plt.show()``. Boxes are (K, 4) ``(x1, y1, x2, y2)`` in continuous pixel
coordinates; labels are 0 background, 1..K classes, named
``class_names[label - 1]`` and coloured ``style.class_color(label)``.

* ``draw_nms``: which boxes NMS keeps, suppresses, or never sees (below the score threshold)
* ``draw_nms_steps``: greedy NMS one decision per panel
* ``draw_anchor_matching``: one ground-truth box against a grid of anchors: IoUs and labels
* ``draw_detections_at_threshold``: ground truth beside the detections scoring at least a threshold,
  with the number that match an object
* ``draw_matches``: an evaluation's verdicts for one image and class: true positives beside false positives
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.boxes import box_iou
from minimaskrcnn.visualize.instances import ROLE_STYLES, _axes, _caption, _rectangle, draw_instances, role_legend
from minimaskrcnn.visualize.style import BACKGROUND_COLOR, FONT, class_color, class_legend

STATE_STYLES = {  # how draw_nms draws a box in each state
    "kept": dict(linewidth=3.0, linestyle="-"),
    "suppressed": dict(linewidth=1.5, linestyle="--"),
    "pending": dict(linewidth=1.2, linestyle="--"),
    "below": dict(linewidth=1.0, linestyle=":"),
}
STATE_LABELS = {"kept": "kept", "suppressed": "suppressed by NMS", "pending": "not decided yet",
                "below": "below the score threshold"}


def _as_boxes(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes: expected (K, 4) (x1, y1, x2, y2), got shape {b.shape}")
    return b


def _new_axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _canvas(ax, boxes, margin: float = 0.08):
    """Limits that hold every box, y pointing down, equal aspect, a light background."""
    if len(boxes):
        lo, hi = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
    else:
        lo, hi = np.zeros(2), np.ones(2)
    pad = margin * (hi - lo).max()
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(hi[1] + pad, lo[1] - pad)
    ax.set_aspect("equal")
    ax.set_facecolor("0.93")
    ax.tick_params(labelsize=FONT["small"])


def _place_captions(ax, items):
    """Captions ``(box, text, color)`` at a corner of their box where they do not cover an earlier one.

    Tries the top-left corner, then bottom-left, top-right and bottom-right
    (inside the box), judging overlap from the text's approximate size on screen;
    a caption that would stick out of the axes tries the next corner.
    """
    fig = ax.figure
    fig.canvas.draw_idle()
    to_px = ax.transData.transform
    px_per_pt = fig.dpi / 72.0
    frame = ax.get_window_extent()
    placed = []
    for box, text, color in items:
        w = (0.62 * len(text) + 0.6) * FONT["small"] * px_per_pt
        h = 1.5 * FONT["small"] * px_per_pt
        x1, y1, x2, y2 = box
        options = [((x1, y1), "left", "top"), ((x1, y2), "left", "bottom"),
                   ((x2, y1), "right", "top"), ((x2, y2), "right", "bottom")]
        chosen = options[0]
        for (x, y), ha, va in options:
            px, py = to_px((x, y))
            left = px if ha == "left" else px - w
            top = py if va == "top" else py + h  # display y grows upwards; the image's y axis points down
            rect = (left, top - h, left + w, top)
            inside = frame.x0 <= rect[0] and rect[2] <= frame.x1 and frame.y0 <= rect[1] and rect[3] <= frame.y1
            if inside and not any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3]
                                  for r in placed):
                chosen = ((x, y), ha, va)
                placed.append(rect)
                break
        else:
            px, py = to_px(options[0][0])
            placed.append((px, py - h, px + w, py))
        (x, y), ha, va = chosen
        t = _caption(ax, x, y, text, color, va=va)
        t.set_ha(ha)


def _draw_states(ax, boxes, scores, labels, states, captions=True):
    """Boxes in their NMS states, coloured by class; captions "i: score" on kept boxes only."""
    items = []
    for n, (box, state) in enumerate(zip(boxes, states)):
        color = BACKGROUND_COLOR if state == "below" else class_color(labels[n])
        _rectangle(ax, box, outline=state == "kept", edgecolor=color, **STATE_STYLES[state])
        if captions and state == "kept":
            items.append((box, f"{n}: {scores[n]:.2f}", color))
    items.sort(key=lambda item: -float(item[1].split(": ")[1]))  # the best boxes get the best spots
    _place_captions(ax, items)


def _state_legend(ax, labels, class_names, states_used, loc="upper left"):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    if class_names is not None:
        handles += [Patch(facecolor=class_color(k), edgecolor="black", label=class_names[k - 1])
                    for k in sorted(set(int(v) for v in labels)) if 1 <= k <= len(class_names)]
    handles += [Line2D([], [], color="0.2", label=STATE_LABELS[s], **STATE_STYLES[s])
                for s in STATE_STYLES if s in states_used]
    return ax.legend(handles=handles, loc=loc, bbox_to_anchor=(1.02, 1.0), fontsize=FONT["small"],
                     framealpha=0.9, borderaxespad=0)


def nms_states(boxes, scores, labels, iou_threshold: float, score_threshold: float = 0.0,
               per_class: bool = True) -> list[str]:
    """Each box's fate: "below" (score < score_threshold), "kept" or "suppressed" by (per-class) NMS."""
    from minimaskrcnn.ops import batched_nms, nms

    boxes = _as_boxes(boxes)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.ones(len(boxes), np.int64) if labels is None else np.asarray(labels).reshape(-1)
    if not (len(scores) == len(labels) == len(boxes)):
        raise ValueError(f"boxes, scores, labels: expected {len(boxes)} of each, got {len(scores)} scores, "
                         f"{len(labels)} labels")
    states = np.array(["below"] * len(boxes), dtype=object)
    candidates = np.flatnonzero(scores >= score_threshold)
    states[candidates] = "suppressed"
    if len(candidates):
        b, s, lab = boxes[candidates], scores[candidates], labels[candidates]
        keep = batched_nms(b, s, lab, iou_threshold) if per_class else nms(b, s, iou_threshold)
        states[candidates[keep]] = "kept"
    return states.tolist()


def draw_nms(boxes, scores, labels=None, iou_threshold: float = 0.5, score_threshold: float = 0.0,
             class_names=None, per_class: bool = True, ax=None, title=None):
    """What NMS does to a set of scored boxes, coloured by class.

    Boxes scoring below ``score_threshold`` never reach NMS (grey, dotted); of
    the others, NMS (per class when ``per_class``, as for final detections)
    keeps some (solid, with "index: score") and suppresses the rest (dashed).
    """
    boxes = _as_boxes(boxes)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.ones(len(boxes), np.int64) if labels is None else np.asarray(labels).reshape(-1)
    states = nms_states(boxes, scores, labels, iou_threshold, score_threshold, per_class)
    ax = _new_axes(ax, (8.5, 4.6))
    _canvas(ax, boxes)
    _draw_states(ax, boxes, scores, labels, states)
    _state_legend(ax, labels, class_names, set(states))
    kept = states.count("kept")
    ax.set_title(title or f"IoU > {iou_threshold:.2f} suppresses, score >= {score_threshold:.2f}: "
                          f"{kept} of {len(boxes)} kept", fontsize=FONT["title"])
    return ax.figure


def draw_nms_steps(boxes, scores, iou_threshold: float, labels=None, class_names=None, ncols: int = 3,
                   max_steps: int = 5):
    """Greedy NMS, one decision per panel: the box kept at each step and the boxes it removes.

    The first panel shows every box with "index: score"; then, after step n, the boxes kept so far
    (solid, "index: score"), those removed (dashed) and those still to decide
    (thin dashed, grey). Plain (not per-class) NMS, as ``nms_steps``.
    """
    import matplotlib.pyplot as plt

    from minimaskrcnn.ops import nms_steps

    boxes = _as_boxes(boxes)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.ones(len(boxes), np.int64) if labels is None else np.asarray(labels).reshape(-1)
    steps = list(nms_steps(boxes, scores, iou_threshold))[:max_steps]
    n_panels = len(steps) + 1
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(10, 3.4 * nrows), squeeze=False)
    kept, removed = [], []
    for n, ax in enumerate(axes.ravel()):
        if n >= n_panels:
            ax.set_axis_off()
            continue
        if n > 0:
            kept.append(steps[n - 1][0])
            removed += list(steps[n - 1][1])
        states = ["kept" if i in kept else "suppressed" if i in removed else "pending"
                  for i in range(len(boxes))]
        _canvas(ax, boxes)
        items = []
        for i, (box, state) in enumerate(zip(boxes, states)):
            color = "0.45" if state == "pending" else class_color(labels[i])
            _rectangle(ax, box, outline=state == "kept", edgecolor=color, **STATE_STYLES[state])
            if state == "kept" or n == 0:  # the first panel names every box
                items.append((box, f"{i}: {scores[i]:.2f}", color))
        items.sort(key=lambda item: -float(item[1].split(": ")[1]))
        _place_captions(ax, items)
        if n == 0:
            ax.set_title(f"all {len(boxes)} boxes", fontsize=FONT["title"])
        else:
            k, gone = steps[n - 1]
            ax.set_title(f"step {n}: keep {k}, remove {list(gone) if gone else 'none'}", fontsize=FONT["title"])
    fig.tight_layout()
    return fig


def draw_anchor_matching(gt_box, anchors, fg_iou: float = 0.7, bg_iou: float = 0.3, image=None,
                         image_size=None, max_shown: int = 12, top: int = 10, title=None):
    """One ground-truth box against a set of anchors: which become positive, ignored or negative.

    Left: the ground truth (white), the positive anchors (yellow, solid) and
    the best of the ignored ones (blue, dotted; at most ``max_shown`` anchors
    in all, best first, so the picture stays readable), the best anchor
    captioned with its IoU; negatives are only counted. Right: the ``top`` highest IoUs as bars
    coloured by label, with the two thresholds. Labels follow
    ``match_boxes(..., allow_low_quality=True)``, the RPN's rule: the best
    anchor is positive even below ``fg_iou``.
    """
    import matplotlib.pyplot as plt

    from minimaskrcnn.model.matcher import IGNORE, NEGATIVE, POSITIVE, match_boxes

    gt = _as_boxes(np.asarray(gt_box, dtype=np.float64).reshape(1, 4))
    anchors = _as_boxes(anchors)
    iou = box_iou(gt, anchors)[0]  # (A,)
    _, labels = match_boxes(iou[None], fg_iou, bg_iou, allow_low_quality=True)
    order = np.argsort(-iou, kind="stable")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw=dict(width_ratios=[1.1, 1]))
    if image is not None:
        _axes(left, image)
        H, W = np.asarray(image).shape[:2]
    else:
        H, W = image_size if image_size is not None else (128, 128)
        left.imshow(np.full((H, W), 0.25), cmap="gray", vmin=0, vmax=1)
        left.set_axis_off()
    shown = [a for a in order if labels[a] != NEGATIVE][:max_shown]
    for a in shown[::-1]:  # best drawn last, on top
        role = "positive" if labels[a] == POSITIVE else "ignored"
        _rectangle(left, anchors[a], **ROLE_STYLES[role])
    _rectangle(left, gt[0], **ROLE_STYLES["gt"])
    best = order[0]
    if iou[best] > 0:
        _rectangle(left, anchors[best], edgecolor=ROLE_STYLES["positive"]["edgecolor"], linewidth=3.5)
        _caption(left, anchors[best, 0], anchors[best, 3] + 1, f"best IoU {iou[best]:.2f}",
                 ROLE_STYLES["positive"]["edgecolor"], va="top")
    left.set_xlim(0, W)
    left.set_ylim(H, 0)
    n_pos, n_ign, n_neg = (int(np.sum(labels == v)) for v in (POSITIVE, IGNORE, NEGATIVE))
    note = f"drawn: the best {len(shown)}" if len(shown) < n_pos + n_ign else None
    legend = role_legend(left, {"gt": None, "positive": n_pos, "ignored": n_ign}, loc="lower right", title=note)
    legend.get_title().set_color("white")
    left.set_title(title or f"{len(anchors)} anchors: {n_pos} positive, {n_ign} ignored, {n_neg} negative",
                   fontsize=FONT["title"])

    top_ids = order[:top]
    colors = [ROLE_STYLES["positive" if labels[a] == POSITIVE else "ignored" if labels[a] == IGNORE
                          else "negative"]["edgecolor"] for a in top_ids]
    y = np.arange(len(top_ids))
    right.barh(y, iou[top_ids], color=colors, edgecolor="black")
    sizes = [f"{anchors[a, 2] - anchors[a, 0]:.0f}x{anchors[a, 3] - anchors[a, 1]:.0f} at "
             f"({(anchors[a, 0] + anchors[a, 2]) / 2:.0f}, {(anchors[a, 1] + anchors[a, 3]) / 2:.0f})"
             for a in top_ids]
    right.set_yticks(y, sizes, fontsize=FONT["small"])
    right.invert_yaxis()
    for t, name in ((bg_iou, "bg_iou"), (fg_iou, "fg_iou")):
        right.axvline(t, color="black", ls="--", lw=1.5)
        right.text(t, -0.7, f"{name} {t:.2f}", fontsize=FONT["small"], va="bottom", ha="center")
    from matplotlib.patches import Patch

    right.legend(handles=[Patch(facecolor=ROLE_STYLES[r]["edgecolor"], edgecolor="black", label=r)
                          for r in ("positive", "ignored", "negative")], loc="lower right",
                 fontsize=FONT["small"], framealpha=0.9)
    right.set_xlim(0, 1)
    right.set_xlabel("IoU with the ground-truth box", fontsize=FONT["normal"])
    right.set_title(f"the {len(top_ids)} best anchors (w x h at centre)", fontsize=FONT["title"], pad=18)
    right.tick_params(labelsize=FONT["small"])
    fig.tight_layout()
    return fig


def match_detections(gt_boxes, gt_labels, boxes, labels, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """Greedy matching by decreasing score, box IoU >= threshold and the same class.

    Returns (D,) bool: detection d found an object no higher-scoring detection
    had found (the true positives of COCO's matching, without crowd regions).
    """
    gt_boxes, boxes = _as_boxes(gt_boxes), _as_boxes(boxes)
    gt_labels, labels = np.asarray(gt_labels).reshape(-1), np.asarray(labels).reshape(-1)
    hit = np.zeros(len(boxes), bool)
    if not len(boxes) or not len(gt_boxes):
        return hit
    iou = box_iou(boxes, gt_boxes)  # (D, G)
    taken = np.zeros(len(gt_boxes), bool)
    for d in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        ok = (~taken) & (gt_labels == labels[d]) & (iou[d] >= iou_threshold)
        if ok.any():
            g = int(np.argmax(np.where(ok, iou[d], -1)))
            taken[g] = hit[d] = True
    return hit


def draw_detections_at_threshold(sample, prediction, score_threshold: float, class_names, title=None):
    """Ground truth (left) beside the detections scoring at least ``score_threshold`` (right).

    The right title counts the shown detections that match an object (box IoU
    >= 0.5, same class, greedy by score: ``match_detections``) and the objects
    none of them finds. Colours are by class in both panels, with one legend.
    """
    import matplotlib.pyplot as plt

    keep = np.asarray(prediction["scores"]) >= score_threshold
    boxes, labels, scores = prediction["boxes"][keep], prediction["labels"][keep], prediction["scores"][keep]
    masks = prediction["masks"][keep] if "masks" in prediction else None
    hit = match_detections(sample["boxes"], sample["labels"], boxes, labels, scores)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    draw_instances(sample["image"], sample["boxes"], sample["labels"], masks=sample.get("masks"),
                   class_names=class_names, ax=axes[0], title=f"ground truth: {len(sample['labels'])} objects")
    missed = len(sample["labels"]) - int(hit.sum())
    counts = (f"{int(hit.sum())} match an object, {len(boxes) - int(hit.sum())} do not; "
              f"{missed} object{'s' if missed != 1 else ''} missed")
    draw_instances(sample["image"], boxes, labels, scores, masks, class_names, ax=axes[1],
                   title=title or f"score >= {score_threshold:.2f}: {len(boxes)} shown\n{counts}")
    class_legend(fig, class_names, loc="lower center", ncol=len(class_names), bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def draw_matches(image, gt_boxes, det_boxes, det_scores, matches, ious=None, title=None):
    """Greedy matching's verdicts, true positives (left) beside false positives (right).

    gt_boxes (G, 4) are drawn white and named g0, g1, ... in both panels;
    det_boxes (D, 4) with det_scores (D,) and matches (D,) (the matched
    object's index, or -1 for a false positive), in score order. A false
    positive is drawn thick and dashed, captioned with its best IoU and the
    object it overlaps, so a duplicate of a found object is easy to see.
    """
    import matplotlib.pyplot as plt

    gt_boxes, det_boxes = _as_boxes(gt_boxes), _as_boxes(det_boxes)
    matches = np.asarray(matches).reshape(-1)
    if len(matches) != len(det_boxes) or len(det_scores) != len(det_boxes):
        raise ValueError(f"det_scores, matches: expected {len(det_boxes)} of each, got {len(det_scores)}, {len(matches)}")
    ious = box_iou(det_boxes, gt_boxes) if ious is None else np.asarray(ious)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    tp_color, fp_color = ROLE_STYLES["positive"]["edgecolor"], ROLE_STYLES["negative"]["edgecolor"]
    for ax, want_tp in ((axes[0], True), (axes[1], False)):
        _axes(ax, image)
        for g, box in enumerate(gt_boxes):
            _rectangle(ax, box, **ROLE_STYLES["gt"])
            _caption(ax, box[0], box[3], f"g{g}", "white", va="top")
        items = []
        for d, (box, score, m) in enumerate(zip(det_boxes, det_scores, matches)):
            if (m >= 0) != want_tp:
                continue
            if want_tp:
                _rectangle(ax, box, edgecolor=tp_color, linewidth=2.5)
                items.append((box, f"{score:.2f} TP g{m}", tp_color))
            else:
                _rectangle(ax, box, edgecolor=fp_color, linewidth=3.5, linestyle="--")
                best = int(np.argmax(ious[d])) if ious.shape[1] else -1
                overlap = f", IoU {ious[d, best]:.2f} with g{best}" if best >= 0 and ious[d, best] > 0 else ""
                items.append((box, f"{score:.2f} FP{overlap}", fp_color))
        _place_captions(ax, items)
        n = int(np.sum((matches >= 0) == want_tp))
        ax.set_title(f"{n} true positive{'s' if n != 1 else ''}" if want_tp else
                     f"{n} false positive{'s' if n != 1 else ''}", fontsize=FONT["title"])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
