"""COCO keypoint format: write and read keypoint datasets and results.

COCO's "person_keypoints" files are instance files (``coco.py``) with three
additions::

    "categories":  [{"id": 1, "name": "person",
                     "keypoints": ["head", "neck", ...],          K names, in order
                     "skeleton": [[1, 2], [2, 3], ...]}]          bones, 1-based indices
    "annotations": [{..., "keypoints": [x1, y1, v1, x2, y2, v2, ...],   3K numbers
                     "num_keypoints": 8}]                               how many have v > 0

Visibility ``v``: 0 not labelled (written as 0, 0, 0), 1 labelled but hidden,
2 labelled and visible. Our writer also stores ``"keypoint_sigmas"`` in the
category (an extension other tools ignore) so that the evaluator finds the
OKS sigmas of the toy data in the file.

Coordinates: COCO keypoints are *pixel indices* (the annotator clicked pixel
(x, y), whose centre is (x + 0.5, y + 0.5) in the package's continuous
convention). Reading adds 0.5 to labelled keypoints, writing subtracts it,
as detectron2 does; a round trip returns the same numbers. Results files
use pixel indices too.

A keypoint results entry is a detection plus its keypoints, with the
predicted score where COCO's visibility flag would be::

    {"image_id": 7, "category_id": 1, "bbox": [x, y, w, h], "score": 0.93,
     "keypoints": [x1, y1, s1, ...]}

Public API: ``write_coco_keypoints_dataset(dataset_or_samples, out_dir, ...)``,
``CocoKeypointsDataset(annotations_path, images_dir=None)``,
``coco_keypoint_results(predictions, image_ids, category_ids=None)``,
``write_coco_keypoint_results(predictions, image_ids, path, category_ids=None)``,
``keypoints_to_coco`` / ``keypoints_from_coco`` for one annotation.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from minimaskrcnn.datasets.coco import CocoDataset, _is_number
from minimaskrcnn.datasets.coco_write import check_prediction, coco_results, write_coco_dataset
from minimaskrcnn.datasets.keypoints import flip_permutation


def keypoints_to_coco(keypoints) -> tuple[list[float], int]:
    """(K, 3) [x, y, v] in continuous coordinates -> (flat COCO list, num_keypoints).

    Labelled keypoints are shifted by -0.5 to pixel indices; unlabelled ones become 0, 0, 0.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    out = np.zeros_like(kp)
    labelled = kp[:, 2] > 0
    out[labelled, :2] = kp[labelled, :2] - 0.5
    out[:, 2] = np.round(kp[:, 2])
    flat = [float(v) for v in out.reshape(-1)]
    for i in range(2, len(flat), 3):
        flat[i] = int(flat[i])  # visibility flags are integers in COCO files
    return flat, int(labelled.sum())


def keypoints_from_coco(flat, num_keypoints: int, where: str) -> np.ndarray:
    """A COCO ``keypoints`` list -> (K, 3) float32 [x, y, v] in continuous coordinates.

    Raises ValueError (naming ``where``) unless it holds 3K numbers with v in {0, 1, 2}.
    """
    if not isinstance(flat, (list, tuple)) or len(flat) != 3 * num_keypoints \
            or not all(_is_number(v) for v in flat):
        raise ValueError(f"{where}: 'keypoints' must be a list of 3 x {num_keypoints} numbers "
                         f"[x, y, v, ...], got {str(flat)[:80]}")
    kp = np.asarray(flat, dtype=np.float32).reshape(num_keypoints, 3)
    if not np.isin(kp[:, 2], (0, 1, 2)).all():
        raise ValueError(f"{where}: keypoint visibility flags must be 0, 1 or 2, got {kp[:, 2].tolist()}")
    labelled = kp[:, 2] > 0
    kp[labelled, :2] += 0.5
    kp[~labelled, :2] = 0.0
    return kp


def write_coco_keypoints_dataset(dataset_or_samples, out_dir, class_names=None, keypoint_names=None,
                                 skeleton=None, keypoint_sigmas=None) -> Path:
    """Write samples with ``keypoints`` (G, K, 3) as a COCO keypoints folder; returns the JSON path.

    Everything of ``write_coco_dataset`` (images, masks as RLE, boxes, areas),
    plus each annotation's ``keypoints`` and ``num_keypoints`` and, in every
    category, ``keypoints`` (names), ``skeleton`` (written 1-based) and
    ``keypoint_sigmas`` if given. Names, skeleton (0-based pairs) and sigmas
    default to the dataset's attributes. Labels are 1..num_classes (0 is background).
    """
    def attribute(value, name):
        value = getattr(dataset_or_samples, name, None) if value is None else value
        return None if value is None else list(value)

    class_names, keypoint_names = attribute(class_names, "class_names"), attribute(keypoint_names, "keypoint_names")
    skeleton, sigmas = attribute(skeleton, "skeleton") or [], attribute(keypoint_sigmas, "keypoint_sigmas")
    if keypoint_names is None:
        raise ValueError("keypoint_names: required when the samples carry no .keypoint_names")
    K = len(keypoint_names)
    if sigmas is not None and len(sigmas) != K:
        raise ValueError(f"keypoint_sigmas: expected {K} values (one per keypoint), got {len(sigmas)}")
    if any(len(bone) != 2 or not all(0 <= int(i) < K for i in bone) for bone in skeleton):
        raise ValueError(f"skeleton: expected 0-based index pairs in 0..{K - 1}, got {skeleton}")

    captured = []  # keypoints of every sample, in the order write_coco_dataset writes annotations

    def passing(samples):
        for i, s in enumerate(samples):
            kp = np.asarray(s.get("keypoints"), dtype=np.float32)
            if kp.shape != (len(s["labels"]), K, 3):
                raise ValueError(f"samples[{i}]: expected 'keypoints' of shape ({len(s['labels'])}, {K}, 3), "
                                 f"got {kp.shape}")
            captured.append(kp)
            yield s

    path = write_coco_dataset(passing(dataset_or_samples), out_dir, class_names)
    with open(path) as f:
        data = json.load(f)
    for ann, kp in zip(data["annotations"], (row for kp in captured for row in kp)):
        ann["keypoints"], ann["num_keypoints"] = keypoints_to_coco(kp)
    for cat in data["categories"]:
        cat["keypoints"] = keypoint_names
        cat["skeleton"] = [[int(i) + 1, int(j) + 1] for i, j in skeleton]  # COCO: 1-based
        if sigmas is not None:
            cat["keypoint_sigmas"] = [float(s) for s in sigmas]
    with open(path, "w") as f:
        json.dump(data, f)
    return path


class CocoKeypointsDataset(CocoDataset):
    """A COCO keypoints folder as samples with ``keypoints`` (G, K, 3) float32 [x, y, v].

    All categories that have keypoints must share one list of names (COCO has
    one, "person"); annotations without ``keypoints`` (e.g. crowd regions) get
    K unlabelled rows. Attributes: ``keypoint_names``, ``skeleton`` (0-based
    pairs), ``flip_map`` (``left_X``/``right_X`` pairs), ``keypoint_sigmas``
    (from the file, or None). Labels are 1..K (0 is background), as in ``CocoDataset``.
    """

    def __init__(self, annotations_path, images_dir=None) -> None:
        super().__init__(annotations_path, images_dir)
        with_kp = [c for c in self.index.categories if c.get("keypoints")]
        if not with_kp:
            raise ValueError(f"{self.annotations_path}: no category lists 'keypoints': not a keypoint dataset")
        names = with_kp[0]["keypoints"]
        if any(c["keypoints"] != names for c in with_kp) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{self.annotations_path}: categories disagree on their 'keypoints' names")
        self.keypoint_names = tuple(names)
        K = len(names)
        self.skeleton = tuple((int(i) - 1, int(j) - 1) for i, j in with_kp[0].get("skeleton", []))
        if any(not (0 <= i < K and 0 <= j < K) for i, j in self.skeleton):
            raise ValueError(f"{self.annotations_path}: 'skeleton' indices must lie in 1..{K}")
        perm = flip_permutation(self.keypoint_names)
        self.flip_map = tuple((names[i], names[j]) for i, j in enumerate(perm) if i < j)
        sigmas = with_kp[0].get("keypoint_sigmas")
        self.keypoint_sigmas = tuple(float(s) for s in sigmas) if sigmas is not None else None
        for ann in self.index.annotations:  # fail at load time, not in the middle of training
            if ann.get("keypoints") is not None:
                keypoints_from_coco(ann["keypoints"], K, self.index.where(ann))

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def extra_fields(self, anns: list[dict]) -> dict:
        K = self.num_keypoints
        kp = np.zeros((len(anns), K, 3), dtype=np.float32)
        for i, ann in enumerate(anns):
            if ann.get("keypoints") is not None:
                kp[i] = keypoints_from_coco(ann["keypoints"], K, self.index.where(ann))
        return {"keypoints": kp}


def coco_keypoint_results(predictions, image_ids, category_ids=None) -> list[dict]:
    """COCO results with keypoints: ``coco_results`` plus each detection's ``keypoints``.

    predictions[i]: "boxes" (D, 4), "labels" (D,) in 1..K (0 = background),
    "scores" (D,), optional "masks", and "keypoints" (D, K, 3) [x, y, score]
    in continuous coordinates (written as pixel indices: x - 0.5, y - 0.5).
    """
    predictions, image_ids = list(predictions), list(image_ids)
    results = coco_results(predictions, image_ids, category_ids)
    flat = []
    for i, pred in enumerate(predictions):
        D = len(check_prediction(pred, i)["labels"])
        kp = np.asarray(pred.get("keypoints"), dtype=np.float64)
        if kp.ndim != 3 or kp.shape[0] != D or kp.shape[2] != 3 or not np.isfinite(kp).all():
            raise ValueError(f"predictions[{i}]: expected finite 'keypoints' of shape ({D}, K, 3), got "
                             f"{kp.shape if kp.ndim else 'none'}")
        for row in kp:
            xy = row.copy()
            xy[:, :2] -= 0.5
            flat.append([float(v) for v in xy.reshape(-1)])
    for result, keypoints in zip(results, flat):  # coco_results keeps the prediction order
        result["keypoints"] = keypoints
    return results


def write_coco_keypoint_results(predictions, image_ids, path, category_ids=None) -> list[dict]:
    """Write ``coco_keypoint_results(...)`` to a JSON file; returns the list."""
    results = coco_keypoint_results(predictions, image_ids, category_ids)
    with open(path, "w") as f:
        json.dump(results, f)
    return results
