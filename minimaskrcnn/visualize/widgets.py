"""Sliders for the notebooks: drag a parameter, see the picture change.

Every widget is a pure drawing function (``values -> Figure``, defined in the
other ``visualize`` modules and testable without a notebook) plus ``interact``,
a thin wrapper that

1. draws the figure for the initial values and displays it at once, as an
   ordinary image (so an executed notebook, CI and a static website show it);
2. displays the controls (ipywidgets), and on every change redraws and
   *replaces* that same image (``display(..., display_id=True)`` and
   ``handle.update``), so a live notebook shows one picture that follows the
   sliders.

Without ipywidgets, or outside a notebook, only the first frame is shown.

The builders, one per notebook:

* ``bilinear_widget`` (02): the sample point -> its four neighbours and area weights
* ``roi_widget`` (03): box position and size, output size, ``sampling_ratio``, ``aligned``,
  ``mode`` -> RoIPool's and RoIAlign's bins, samples and outputs
* ``nms_widget`` (04): IoU threshold and score threshold -> kept and suppressed boxes
* ``anchor_widget`` (06): a ground-truth box against anchor size, ratios and stride -> IoUs, labels
* ``mask_resize_widget`` (08): mask threshold and resize order -> the pasted mask
* ``score_threshold_widget`` (09): the score threshold on the model's detections
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.visualize.detection import draw_anchor_matching, draw_detections_at_threshold, draw_nms
from minimaskrcnn.visualize.masks import ORDERS, draw_mask_resize, square_box
from minimaskrcnn.visualize.roi_grid import draw_bilinear_weights, draw_roi_comparison


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets is in requirements.txt
        return None
    return ipywidgets


class _Controls:
    """The controls' widget box, with a plain-text stand-in for pages that cannot run widgets."""

    def __init__(self, box, describe):
        self.box, self.describe = box, describe

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = f"[controls: {self.describe()}; drag them in a live notebook]"
        return bundle


class Interactive:
    """A figure redrawn from controls (see ``interact``).

    ``values()`` is the current keyword arguments of ``draw``; ``redraw()``
    draws them and replaces the displayed image; ``figure`` is the last figure
    drawn (closed in pyplot, still a valid Figure); ``frames`` counts draws.
    """

    def __init__(self, draw, controls: dict, fixed: dict, display):
        self.draw, self.controls, self.fixed, self._display = draw, controls, fixed, display
        self.figure, self.handle, self.frames = None, None, 0

    def values(self) -> dict:
        out = dict(self.fixed)
        out.update({k: (c.value if hasattr(c, "value") else c) for k, c in self.controls.items()})
        return out

    def describe(self) -> str:
        def fmt(v):
            return f"{v:.2f}" if isinstance(v, float) else repr(v)

        return ", ".join(f"{k} = {fmt(c.value)}" for k, c in self.controls.items() if hasattr(c, "value"))

    def _frame(self):
        import matplotlib.pyplot as plt

        try:
            fig = self.draw(**self.values())
        except ValueError as e:  # e.g. a box the sliders made empty: say so instead of failing
            fig, ax = plt.subplots(figsize=(6, 1))
            ax.set_axis_off()
            ax.text(0.5, 0.5, str(e), ha="center", va="center", fontsize=11, wrap=True)
        plt.close(fig)  # displayed by us, not again by the inline backend at the end of the cell
        self.figure = fig
        self.frames += 1
        return fig

    def show(self):
        """Display the controls and the first frame."""
        fig = self._frame()
        live = [c for c in self.controls.values() if hasattr(c, "observe")]
        widgets = _ipywidgets()
        if live and widgets is not None:
            self._display(_Controls(widgets.VBox(live), self.describe))
        self.handle = self._display(fig, display_id=True)
        for c in live:
            c.observe(lambda change: self.redraw(), names="value")
        return self

    def redraw(self):
        fig = self._frame()
        if self.handle is not None:
            self.handle.update(fig)
        else:
            self._display(fig)
        return fig


def interact(draw, controls: dict, display=None, **fixed) -> Interactive:
    """Show ``draw(**fixed, **values of controls)`` now, and redraw it whenever a control changes.

    controls: ``{argument name: ipywidgets control}`` (plain values are passed
    through unchanged); fixed: further keyword arguments of ``draw``.
    display: ``IPython.display.display`` by default (tests pass their own).
    Returns the ``Interactive``.
    """
    if display is None:
        from IPython.display import display
    return Interactive(draw, dict(controls), fixed, display).show()


# --------------------------------------------------------------------------- control helpers
def _slider(value, lo, hi, step, description, log=False):
    widgets = _ipywidgets()
    if widgets is None:
        return float(value)
    cls = widgets.FloatLogSlider if log else widgets.FloatSlider
    kwargs = dict(base=2, min=np.log2(lo), max=np.log2(hi)) if log else dict(min=lo, max=hi)
    return cls(value=value, step=step, description=description, continuous_update=False,
               readout_format=".2f", style={"description_width": "initial"},
               layout=widgets.Layout(width="480px"), **kwargs)


def _int_slider(value, lo, hi, description):
    widgets = _ipywidgets()
    if widgets is None:
        return int(value)
    return widgets.IntSlider(value=value, min=lo, max=hi, description=description, continuous_update=False,
                             style={"description_width": "initial"}, layout=widgets.Layout(width="480px"))


def _choice(value, options, description):
    widgets = _ipywidgets()
    if widgets is None:
        return value
    return widgets.Dropdown(value=value, options=options, description=description,
                            style={"description_width": "initial"})


def _checkbox(value, description):
    widgets = _ipywidgets()
    if widgets is None:
        return bool(value)
    return widgets.Checkbox(value=value, description=description)


# --------------------------------------------------------------------------- 02 bilinear
def bilinear_point(feature, y: float, x: float):
    """The figure of ``bilinear_widget``: ``draw_bilinear_weights`` at (y, x)."""
    return draw_bilinear_weights(feature, y, x)


def bilinear_widget(feature, y: float = 1.25, x: float = 2.7, display=None) -> Interactive:
    """Sliders for the sample point (y, x) over the map and one pixel beyond its border."""
    H, W = np.asarray(feature).shape
    return interact(bilinear_point, dict(y=_slider(y, -1.5, H + 0.5, 0.05, "y (row)"),
                                         x=_slider(x, -1.5, W + 0.5, 0.05, "x (column)")),
                    display=display, feature=feature)


# --------------------------------------------------------------------------- 03 RoIPool / RoIAlign
def roi_ops(feature, x1: float, y1: float, width: float, height: float, output_size: int = 2,
            sampling_ratio: int = 2, aligned: bool = True, mode: str = "avg", spatial_scale: float = 1.0):
    """The figure of ``roi_widget``: ``draw_roi_comparison`` for the box (x1, y1, x1 + width, y1 + height)."""
    return draw_roi_comparison(feature, (x1, y1, x1 + width, y1 + height), int(output_size), spatial_scale,
                               int(sampling_ratio), bool(aligned), mode)


def roi_widget(feature, box=(1.3, 0.8, 7.6, 6.1), output_size: int = 2, sampling_ratio: int = 2,
               aligned: bool = True, mode: str = "avg", display=None) -> Interactive:
    """Sliders for the box (in feature pixels, ``spatial_scale = 1``) and RoIAlign's settings.

    ``sampling_ratio`` 0 means adaptive (about one sample per pixel).
    """
    H, W = np.asarray(feature).shape
    x1, y1, x2, y2 = box
    controls = dict(
        x1=_slider(x1, -1.0, W - 1.0, 0.05, "x1"), y1=_slider(y1, -1.0, H - 1.0, 0.05, "y1"),
        width=_slider(x2 - x1, 0.5, W, 0.05, "width"), height=_slider(y2 - y1, 0.5, H, 0.05, "height"),
        output_size=_int_slider(output_size, 1, 7, "output size N"),
        sampling_ratio=_int_slider(sampling_ratio, 0, 4, "sampling_ratio (0: adaptive)"),
        aligned=_checkbox(aligned, "aligned"), mode=_choice(mode, ("avg", "max"), "mode"))
    return interact(roi_ops, controls, display=display, feature=feature)


# --------------------------------------------------------------------------- 04 NMS
def nms_frame(boxes, scores, labels, iou_threshold: float, score_threshold: float, class_names=None):
    """The figure of ``nms_widget``: per-class ``draw_nms``."""
    return draw_nms(boxes, scores, labels, iou_threshold, score_threshold, class_names, per_class=True)


def nms_widget(boxes, scores, labels, class_names=None, iou_threshold: float = 0.5,
               score_threshold: float = 0.0, display=None) -> Interactive:
    """Sliders for the NMS IoU threshold and the score threshold (per-class NMS)."""
    controls = dict(iou_threshold=_slider(iou_threshold, 0.05, 0.95, 0.05, "NMS IoU threshold"),
                    score_threshold=_slider(score_threshold, 0.0, 1.0, 0.05, "score threshold"))
    return interact(nms_frame, controls, display=display, boxes=boxes, scores=scores, labels=labels,
                    class_names=class_names)


# --------------------------------------------------------------------------- 06 anchors
RATIO_CHOICES = {"1": (1.0,), "0.5, 1, 2": (0.5, 1.0, 2.0), "0.25, 0.5, 1, 2, 4": (0.25, 0.5, 1.0, 2.0, 4.0)}


def anchor_frame(cx: float, cy: float, width: float, height: float, anchor_size: float, ratios: str,
                 stride: int, image_size=(128, 128), fg_iou: float = 0.7, bg_iou: float = 0.3, image=None):
    """The figure of ``anchor_widget``: a ground-truth box against one anchor size on one map.

    The anchors are ``generate_anchors`` for a map of stride ``stride`` covering
    the image (one size, the ratios named by ``ratios``, a key of ``RATIO_CHOICES``).
    """
    from minimaskrcnn.model.anchors import generate_anchors

    H, W = image_size
    stride = int(stride)
    anchors = generate_anchors((-(-H // stride), -(-W // stride)), stride, (float(anchor_size),),
                               RATIO_CHOICES[ratios])
    gt = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    return draw_anchor_matching(gt, anchors, fg_iou, bg_iou, image=image, image_size=image_size)


def anchor_widget(gt_box=(40.0, 30.0, 85.0, 75.0), anchor_size: float = 32.0, ratios: str = "0.5, 1, 2",
                  stride: int = 8, image_size=(128, 128), fg_iou: float = 0.7, bg_iou: float = 0.3,
                  image=None, display=None) -> Interactive:
    """Sliders for the ground-truth box (centre, size) and the anchors (size, ratios, stride)."""
    H, W = image_size
    x1, y1, x2, y2 = gt_box
    controls = dict(
        cx=_slider((x1 + x2) / 2, 0.0, W, 0.5, "box centre x"), cy=_slider((y1 + y2) / 2, 0.0, H, 0.5, "box centre y"),
        width=_slider(x2 - x1, 4.0, W, 0.5, "box width"), height=_slider(y2 - y1, 4.0, H, 0.5, "box height"),
        anchor_size=_slider(anchor_size, 8.0, 128.0, 0.25, "anchor size", log=True),
        ratios=_choice(ratios, tuple(RATIO_CHOICES), "ratios (h/w)"),
        stride=_choice(int(stride), (4, 8, 16, 32), "stride"))
    return interact(anchor_frame, controls, display=display, image_size=image_size, fg_iou=fg_iou,
                    bg_iou=bg_iou, image=image)


# --------------------------------------------------------------------------- 08 mask threshold, resize order
def mask_resize_frame(probs, threshold: float, order: str, box_side: float):
    """The figure of ``mask_resize_widget``: ``draw_mask_resize`` into a square box of ``box_side`` px."""
    box, size = square_box(box_side, margin=3)
    return draw_mask_resize(probs, box, size, threshold, order)


def mask_resize_widget(probs, threshold: float = 0.5, order: str = ORDERS[0], box_side: float = 112.0,
                       display=None) -> Interactive:
    """Sliders for the mask threshold, the order of resize and threshold, and the box size."""
    m = np.asarray(probs).shape[-1]
    controls = dict(threshold=_slider(threshold, 0.05, 0.95, 0.05, "mask threshold"),
                    order=_choice(order, ORDERS, "order"),
                    box_side=_slider(box_side, m / 2, 8 * m, 1.0, "box side (px)"))
    return interact(mask_resize_frame, controls, display=display, probs=probs)


# --------------------------------------------------------------------------- 09 score threshold
def score_threshold_frame(sample, prediction, score_threshold: float, class_names):
    """The figure of ``score_threshold_widget``: ``draw_detections_at_threshold``."""
    return draw_detections_at_threshold(sample, prediction, score_threshold, class_names)


def score_threshold_widget(sample, prediction, class_names, score_threshold: float = 0.5,
                           display=None) -> Interactive:
    """A slider for the score threshold over one image's detections (computed once)."""
    controls = dict(score_threshold=_slider(score_threshold, 0.0, 1.0, 0.01, "score threshold"))
    return interact(score_threshold_frame, controls, display=display, sample=sample, prediction=prediction,
                    class_names=class_names)
