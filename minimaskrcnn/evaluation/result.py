"""EvalResult: the accumulated precision/recall arrays and everything read from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the twelve COCO summary figures: key -> (AP or AR, IoU threshold or None = all, area, max dets)
STAT_DEFINITIONS = {
    "AP": ("AP", None, "all", 100), "AP50": ("AP", 0.5, "all", 100), "AP75": ("AP", 0.75, "all", 100),
    "APs": ("AP", None, "small", 100), "APm": ("AP", None, "medium", 100), "APl": ("AP", None, "large", 100),
    "AR1": ("AR", None, "all", 1), "AR10": ("AR", None, "all", 10), "AR100": ("AR", None, "all", 100),
    "ARs": ("AR", None, "small", 100), "ARm": ("AR", None, "medium", 100), "ARl": ("AR", None, "large", 100),
}
# the ten figures of COCO's keypoint summary (20 detections per image, no "small" range)
KEYPOINT_STAT_DEFINITIONS = {
    "AP": ("AP", None, "all", 20), "AP50": ("AP", 0.5, "all", 20), "AP75": ("AP", 0.75, "all", 20),
    "APm": ("AP", None, "medium", 20), "APl": ("AP", None, "large", 20),
    "AR": ("AR", None, "all", 20), "AR50": ("AR", 0.5, "all", 20), "AR75": ("AR", 0.75, "all", 20),
    "ARm": ("AR", None, "medium", 20), "ARl": ("AR", None, "large", 20),
}


def stat_definitions(iou_type: str) -> dict:
    """The summary figures of ``iou_type``: key -> (AP or AR, IoU or None, area, max dets)."""
    return KEYPOINT_STAT_DEFINITIONS if iou_type == "keypoints" else STAT_DEFINITIONS


def _mean_defined(values: np.ndarray) -> float:
    """Mean of the entries that are not -1 (undefined); -1 if there are none."""
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0


@dataclass
class EvalResult:
    """COCO evaluation of one iou_type ("bbox", "segm" or "keypoints").

    Arrays (T = 10 IoU thresholds, R = 101 recall points, K categories,
    A = 4 area ranges all/small/medium/large, M = 3 max-detection settings 1/10/100;
    for "keypoints" OKS thresholds, A = 3 all/medium/large and M = 1 setting, 20):

    * ``precision`` (T, R, K, A, M): interpolated precision at each recall point;
    * ``recall``    (T, K, A, M):    highest recall reached;
    * ``scores``    (T, R, K, A, M): detection score at which each recall point is reached.

    -1 marks settings without ground truth. ``stats`` gives the twelve COCO
    figures (ten for keypoints), ``per_class_ap`` AP per class name.
    ``max_dets=None`` in the methods below means the largest setting (100, or 20).
    """

    iou_type: str
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    category_ids: list
    class_names: list
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    area_ranges: dict
    max_dets: tuple
    num_images: int = 0
    num_gt: int = 0
    num_dt: int = 0

    def _select(self, array, kind, iou, area, max_dets, category):
        t = slice(None) if iou is None else np.flatnonzero(np.isclose(self.iou_thresholds, iou, rtol=0, atol=1e-9))
        if iou is not None and len(t) == 0:
            raise ValueError(f"iou: {iou!r} is not one of the evaluated thresholds "
                             f"{self.iou_thresholds.round(2).tolist()}")
        if area not in self.area_ranges:
            raise ValueError(f"area: {area!r} is not one of {list(self.area_ranges)}")
        if max_dets is not None and max_dets not in self.max_dets:
            raise ValueError(f"max_dets: {max_dets!r} is not one of {list(self.max_dets)}")
        a = list(self.area_ranges).index(area)
        m = list(self.max_dets).index(self.max_dets[-1] if max_dets is None else max_dets)
        k = slice(None) if category is None else [self._category_index(category)]
        return array[t][:, :, k, a, m] if kind == "AP" else array[t][:, k, a, m]

    def _category_index(self, category) -> int:
        if category in self.class_names:
            return self.class_names.index(category)
        if category in self.category_ids:
            return self.category_ids.index(category)
        raise ValueError(f"category: {category!r} is neither a class name {self.class_names} "
                         f"nor a category id {self.category_ids}")

    def average_precision(self, iou=None, area="all", max_dets=None, category=None) -> float:
        """Mean precision over recall points, IoU thresholds (or one ``iou``) and categories (or one)."""
        return _mean_defined(self._select(self.precision, "AP", iou, area, max_dets, category))

    def average_recall(self, iou=None, area="all", max_dets=None, category=None) -> float:
        """Mean of the highest recall over IoU thresholds (or one ``iou``) and categories (or one)."""
        return _mean_defined(self._select(self.recall, "AR", iou, area, max_dets, category))

    @property
    def stats(self) -> dict[str, float]:
        """The twelve COCO figures under keys AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.

        For "keypoints", COCO's ten: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl.
        """
        out = {}
        for key, (kind, iou, area, max_dets) in stat_definitions(self.iou_type).items():
            fn = self.average_precision if kind == "AP" else self.average_recall
            out[key] = fn(iou=iou, area=area, max_dets=max_dets)
        return out

    @property
    def per_class_ap(self) -> dict[str, float]:
        """AP@[.50:.95] (area all, most detections) for each class name; -1 if it has no ground truth."""
        return {name: self.average_precision(category=name) for name in self.class_names}

    def per_class(self) -> dict[str, dict[str, float]]:
        """{class name: {"AP", "AP50", "AP75"}}."""
        return {name: {"AP": self.average_precision(category=name),
                       "AP50": self.average_precision(iou=0.5, category=name),
                       "AP75": self.average_precision(iou=0.75, category=name)}
                for name in self.class_names}

    def summary(self, per_class: bool = True) -> str:
        """Plain-text table: the twelve figures (COCO's layout), then AP per class."""
        from minimaskrcnn.evaluation.summary import format_summary

        return format_summary(self, per_class=per_class)

    def plot_precision_recall(self, **kwargs):
        """See ``minimaskrcnn.evaluation.plot_precision_recall``; returns a Figure."""
        from minimaskrcnn.evaluation.summary import plot_precision_recall

        return plot_precision_recall(self, **kwargs)

    def to_dict(self) -> dict:
        """JSON-ready: the twelve figures plus per-class AP."""
        return {**self.stats, "per_class_AP": self.per_class_ap}
