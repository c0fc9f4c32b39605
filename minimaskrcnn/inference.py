"""Running a trained model over a dataset: predictions in original image coordinates, and AP.

``predict_dataset`` resizes each image the way training did (longer side
``cfg.image_size``, aspect ratio kept: ``transforms.resize_longer``), predicts in
batches padded to their largest image, and maps the detections back to the
original image: boxes divided by the scale, masks resized to the original size.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from minimaskrcnn import checks
from minimaskrcnn.datasets.transforms import PAD_VALUE, batch_shape, resize_longer


def _to_original(pred: dict, scale: float, original_hw) -> dict:
    """Undo ``resize_longer`` on one image's prediction (masks come at the resized image's size)."""
    if scale == 1.0 and pred.get("masks") is not None and pred["masks"].shape[1:] == tuple(original_hw):
        return pred
    H, W = original_hw
    out = dict(pred)
    boxes = (pred["boxes"] / scale).astype(np.float32)  # the resized size was rounded: clip again
    np.clip(boxes[:, 0::2], 0, W, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, H, out=boxes[:, 1::2])
    out["boxes"] = boxes
    if "keypoints" in pred:
        keypoints = pred["keypoints"].copy()
        keypoints[..., :2] /= scale  # (D, K, 3): x, y back to the original image; scores unchanged
        out["keypoints"] = keypoints
    if "masks" in pred:
        masks = np.zeros((len(pred["masks"]), H, W), dtype=bool)
        for i, m in enumerate(pred["masks"]):
            resized = Image.fromarray(m.astype(np.uint8) * 255)
            masks[i] = np.asarray(resized.resize((W, H), Image.BILINEAR)) >= 128
        out["masks"] = masks
    return out


def predict_images(model, images: list, batch_size: int = 8) -> list[dict]:
    """Predictions for a list of (H, W, 3) uint8 images of any sizes (``[]`` for no images)."""
    checks.integer("batch_size", batch_size, 1)
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray) or im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
            raise ValueError(f"images[{i}]: expected a (H, W, 3) uint8 RGB array, got {checks.describe(im)}")
        checks.image_size(f"images[{i}]", im.shape[0], im.shape[1])
    size, stride = model.cfg.image_size, model.cfg.backbone_stride
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        prepared = [resize_longer({"image": im, "masks": np.zeros((0, *im.shape[:2]), bool),
                                   "boxes": np.zeros((0, 4), np.float32)}, size) for im in chunk]
        sizes = [p[0]["image"].shape[:2] for p in prepared]
        H, W = batch_shape(sizes, stride)
        batch = np.full((len(chunk), H, W, 3), PAD_VALUE, dtype=np.uint8)  # padded at right and bottom
        for n, (p, (h, w)) in enumerate(zip(prepared, sizes)):
            batch[n, :h, :w] = p[0]["image"]
        preds = model.predict(batch, image_sizes=sizes)
        results += [_to_original(pr, scale, im.shape[:2])
                    for pr, (_, scale), im in zip(preds, prepared, chunk)]
    return results


def predict_dataset(model, dataset, batch_size: int = 8, progress: bool = False) -> list[dict]:
    """Predictions for every sample of ``dataset``, in dataset order."""
    from tqdm.auto import tqdm

    out = []
    for start in tqdm(range(0, len(dataset), batch_size), disable=not progress, desc="predict"):
        images = [dataset[i]["image"] for i in range(start, min(start + batch_size, len(dataset)))]
        out += predict_images(model, images, batch_size)
    return out


def to_dataset_labels(model, dataset, preds) -> list[dict]:
    """Predictions renumbered into the dataset's labels, classes matched by name.

    A COCO folder may list the same categories in another order than the model
    was trained with (or only some of them); detections of a class the dataset
    does not have are dropped. ``ValueError`` if no class name is shared.
    """
    names = list(getattr(dataset, "class_names", None) or model.cfg.class_names)
    if names == list(model.cfg.class_names):
        return preds
    to_dataset = {k + 1: names.index(n) + 1 for k, n in enumerate(model.cfg.class_names) if n in names}
    if not to_dataset:
        raise ValueError(f"dataset: none of its categories {names} is one of the model's "
                         f"{list(model.cfg.class_names)}")
    out = []
    for p in preds:
        keep = np.array([int(label) in to_dataset for label in p["labels"]], dtype=bool)
        q = {k: v[keep] for k, v in p.items()}
        q["labels"] = np.array([to_dataset[int(label)] for label in q["labels"]], dtype=np.int64)
        out.append(q)
    return out


def evaluate_predictions(model, dataset, batch_size: int = 8, progress: bool = False):
    """(results, predictions): COCO AP of ``model`` on ``dataset``, predictions in the dataset's labels.

    Results are {"bbox": EvalResult, "segm": EvalResult}; a model with the
    keypoint head also gets "keypoints" (OKS AP; the dataset must carry
    ``keypoints`` and, unless it has COCO's 17, ``keypoint_sigmas``).
    """
    from minimaskrcnn.evaluation import evaluate

    preds = to_dataset_labels(model, dataset, predict_dataset(model, dataset, batch_size, progress))
    iou_types = ("bbox", "segm") if model.cfg.mask_on else ("bbox",)
    if model.cfg.keypoint_on:
        iou_types += ("keypoints",)
    class_names = getattr(dataset, "class_names", None) or model.cfg.class_names
    return evaluate(dataset, preds, iou_types=iou_types, class_names=class_names), preds


def evaluate_model(model, dataset, batch_size: int = 8, progress: bool = False) -> dict:
    """COCO AP of ``model`` on ``dataset``: {"bbox": EvalResult, "segm": EvalResult} (see above)."""
    return evaluate_predictions(model, dataset, batch_size, progress)[0]
