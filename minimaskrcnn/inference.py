"""Running a trained model over a dataset: predictions in original image coordinates, and AP.

``predict_dataset`` resizes each image the way training did
(``resize_and_pad`` to ``cfg.image_size``), predicts in batches, and maps the
detections back to the original image: boxes divided by the scale, masks
cropped out of the padding and resized to the original size.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from minimaskrcnn.datasets.transforms import resize_and_pad


def _to_original(pred: dict, scale: float, original_hw) -> dict:
    """Undo ``resize_and_pad`` on one image's prediction."""
    if scale == 1.0 and pred.get("masks") is not None and pred["masks"].shape[1:] == tuple(original_hw):
        return pred
    H, W = original_hw
    out = dict(pred)
    out["boxes"] = (pred["boxes"] / scale).astype(np.float32)
    if "keypoints" in pred:
        keypoints = pred["keypoints"].copy()
        keypoints[..., :2] /= scale  # (D, K, 3): x, y back to the original image; scores unchanged
        out["keypoints"] = keypoints
    if "masks" in pred:
        h, w = max(1, round(H * scale)), max(1, round(W * scale))
        masks = np.zeros((len(pred["masks"]), H, W), dtype=bool)
        for i, m in enumerate(pred["masks"]):
            crop = Image.fromarray(m[:h, :w].astype(np.uint8) * 255)
            masks[i] = np.asarray(crop.resize((W, H), Image.BILINEAR)) >= 128
        out["masks"] = masks
    return out


def predict_images(model, images: list, batch_size: int = 8) -> list[dict]:
    """Predictions for a list of (H, W, 3) uint8 images of any sizes."""
    size = model.cfg.image_size
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        prepared = [resize_and_pad({"image": im, "masks": np.zeros((0, *im.shape[:2]), bool),
                                    "boxes": np.zeros((0, 4), np.float32)}, size) for im in chunk]
        preds = model.predict(np.stack([p[0]["image"] for p in prepared]))
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


def evaluate_model(model, dataset, batch_size: int = 8, progress: bool = False) -> dict:
    """COCO box and mask AP of ``model`` on ``dataset``: {"bbox": EvalResult, "segm": EvalResult}.

    A model with the keypoint head also gets "keypoints" (OKS AP; the dataset
    must carry ``keypoints`` and, unless it has COCO's 17, ``keypoint_sigmas``).
    """
    from minimaskrcnn.evaluation import evaluate

    preds = predict_dataset(model, dataset, batch_size, progress)
    iou_types = ("bbox", "segm") if model.cfg.mask_on else ("bbox",)
    if model.cfg.keypoint_on:
        iou_types += ("keypoints",)
    return evaluate(dataset, preds, iou_types=iou_types, class_names=model.cfg.class_names)
