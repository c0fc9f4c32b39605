"""The catalogue of bad inputs and faults: each gives a clear error, or a documented result.

Every ``ERRORS`` case is a call that must raise exactly the given exception type
with a message that names the argument (or file) -- so that a careless change
that lets the input through, crashes with another exception, or loses the name,
fails here. ``CLI`` cases must exit with code 2 and one line on stderr naming
the argument, never a traceback. ``RESULTS`` are inputs with a defined answer
(empty batches, NaN features, 16-bit images). The fault cases at the end kill
or interrupt training, fill the disk and make the output folder read-only.

Everything runs on tiny inputs (32x32 images, a few training steps).
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import tiny_batch, tiny_config
from PIL import Image

from minimaskrcnn import checks
from minimaskrcnn.boxes import box_iou, clip_boxes, decode_boxes, encode_boxes
from minimaskrcnn.checkpoint import atomic_savez, load_npz
from minimaskrcnn.cli import main
from minimaskrcnn.config import Config
from minimaskrcnn.datasets import CocoDataset, ShapesConfig, ShapesDataset, coco_results, write_coco_dataset
from minimaskrcnn.datasets.coco import load_annotations
from minimaskrcnn.datasets.images import read_rgb
from minimaskrcnn.datasets.polygon import polygons_to_mask
from minimaskrcnn.datasets.transforms import collate, resize_and_pad
from minimaskrcnn.evaluation import evaluate, evaluate_coco
from minimaskrcnn.inference import predict_images
from minimaskrcnn.model import MaskRCNN
from minimaskrcnn.model.anchors import generate_anchors
from minimaskrcnn.nn.layers import Conv2d, GroupNorm, Linear, MaxPool2d, Sequential
from minimaskrcnn.nn.losses import sigmoid_bce_with_logits, smooth_l1_loss, softmax_cross_entropy
from minimaskrcnn.ops import (batched_nms, bilinear_interpolate, nms, roi_align, roi_align_backward,
                              roi_align_sampling_points, roi_pool, roi_pool_backward, roi_pool_bins)
from minimaskrcnn.train import train

REPO = Path(__file__).resolve().parents[1]
F = np.zeros((1, 1, 8, 8), np.float32)  # a feature map for the RoI ops
ROI = [[0, 1, 1, 5, 5]]
_MODEL = {}


def model() -> MaskRCNN:
    """One tiny untrained model for every case (built once)."""
    if "m" not in _MODEL:
        _MODEL["m"] = MaskRCNN(tiny_config())
    return _MODEL["m"]


def forward_with(**changes):
    """Train-mode forward of the tiny batch with image 0's target changed."""
    images, targets = tiny_batch()
    targets[0] = {**targets[0], **changes}
    return model().forward(images, targets, np.random.default_rng(0))


def target_replaced(value):
    images, targets = tiny_batch()
    targets[0] = value
    return model().forward(images, targets, np.random.default_rng(0))


def gt_dict(**image):
    return {"images": [{"id": 1, "height": 20, "width": 20, **image}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 8], "area": 64,
                             "iscrowd": 0}],
            "categories": [{"id": 1, "name": "box"}]}


def with_annotation(**fields):
    gt = gt_dict()
    gt["annotations"][0].update(fields)
    return gt


def results_with(**fields):
    return evaluate_coco(gt_dict(), [{"image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 8], "score": 0.9,
                                      **fields}], "bbox")


def sample(**changes):
    images, targets = tiny_batch()
    return {"image": images[0], "boxes": targets[0]["boxes"], "labels": targets[0]["labels"],
            "masks": targets[0]["masks"], "iscrowd": np.zeros(2, bool), "image_id": 0, **changes}


def prediction(**changes):
    s = sample()
    return {"boxes": s["boxes"], "labels": s["labels"], "scores": np.array([0.9, 0.8]), "masks": s["masks"],
            **changes}


def saved_checkpoint(tmp, **arrays):
    """A .npz beside the tiny model's arrays, with some replaced (None removes one)."""
    data = model().checkpoint_arrays()
    for k, v in arrays.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    path = tmp / "ckpt.npz"
    np.savez(path, **data)
    return str(path)


def first_param():
    return "param/" + next(model().named_parameters())[0]


def write(tmp, name, text):
    (tmp / name).write_text(text)
    return str(tmp / name)


def disk_full_writer(f, **arrays):
    raise OSError(errno.ENOSPC, "No space left on device")


def save_on_full_disk(tmp, monkeypatch):
    monkeypatch.setattr(np, "savez", disk_full_writer)
    atomic_savez(str(tmp / "c.npz"), {"a": np.zeros(2)})


# (id, call(tmp, monkeypatch), exception type, regex the message must contain: it names the argument)
ERRORS = [
    # -- RoI ops, NMS, bilinear, boxes -----------------------------------------------------------
    ("roi_align/adaptive-sampling-on-a-huge-roi", lambda t, m: roi_align(F, [[0, 0, 0, 1e5, 1e5]], 7, 1.0, -1, True),
     ValueError, r"rois\[0\] = .*MAX_SAMPLES_PER_BIN"),
    ("roi_align/sampling-ratio-1000", lambda t, m: roi_align(F, ROI, 2, 1.0, 1000, True),
     ValueError, r"rois\[0\] = .*samples per bin"),
    ("roi_align/roi-at-1e20", lambda t, m: roi_align(F, [[0, -1e20, 0, 1e20, 1]], 2, 1.0, 2, True),
     ValueError, r"rois\[0\] = .*2\*\*24"),
    ("roi_pool/roi-at-1e20", lambda t, m: roi_pool(F, [[0, -1e20, -1e20, 1e20, 1e20]], 2),
     ValueError, r"rois\[0\] = .*2\*\*24"),
    ("roi_pool/roi-at-1e20-times-scale", lambda t, m: roi_pool(F, [[0, 0, 0, 2e7, 2e7]], 2, 1.0),
     ValueError, r"rois\[0\] = .*spatial_scale"),
    ("roi_align/nan-roi", lambda t, m: roi_align(F, [[0, 0, 0, np.nan, 1]], 2), ValueError, "rois contains NaN"),
    ("roi_align/output-size-1e6", lambda t, m: roi_align(F, ROI, 10**6), ValueError, "output_size must be at most"),
    ("roi_align/rois-without-batch-index", lambda t, m: roi_align(F, [[1, 1, 5, 5]], 2), ValueError,
     r"rois must have shape \(K, 5\)"),
    ("roi_align/ragged-rois", lambda t, m: roi_align(F, [[0, 1, 1, 5, 5], [0, 1]], 2), ValueError,
     r"rois must have shape \(K, 5\)"),
    ("roi_align/batch-index-out-of-range", lambda t, m: roi_align(F, [[1, 1, 1, 5, 5]], 2), ValueError,
     r"rois\[:, 0\] must be integer batch indices in \[0, 1\)"),
    ("roi_align/features-3d", lambda t, m: roi_align(F[0], ROI, 2), ValueError,
     r"features must have shape \(N, C, H, W\)"),
    ("roi_align/features-of-strings", lambda t, m: roi_align(np.full((1, 1, 2, 2), "a"), ROI, 2), TypeError,
     "features must be a real-valued array"),
    ("roi_align/mode-mean", lambda t, m: roi_align(F, ROI, 2, mode="mean"), ValueError, "mode must be 'avg' or 'max'"),
    ("roi_align/aligned-1", lambda t, m: roi_align(F, ROI, 2, aligned=1), TypeError, "aligned must be True or False"),
    ("roi_align_backward/grad-of-wrong-shape", lambda t, m: roi_align_backward(np.zeros((1, 1, 3, 3)), F, ROI, 2),
     ValueError, r"grad_output must have the forward output's shape \(1, 1, 2, 2\)"),
    ("roi_pool/spatial-scale-nan", lambda t, m: roi_pool(F, ROI, 2, float("nan")), ValueError,
     "spatial_scale must be positive"),
    ("roi_pool_backward/output-size-float", lambda t, m: roi_pool_backward(np.zeros((1, 1, 2, 2)), F, ROI, (2, 2.5)),
     TypeError, "output_size must be an int or a pair"),
    ("roi_pool_bins/feature-size-text", lambda t, m: roi_pool_bins((0, 0, 2, 2), 2, "ab"), TypeError,
     "feature_size must be a pair"),
    ("roi_pool_bins/box-nan", lambda t, m: roi_pool_bins((0, 0, np.nan, 2), 2, (4, 4)), ValueError, "roi_xyxy"),
    ("roi_align_sampling_points/box-reversed", lambda t, m: roi_align_sampling_points((3, 0, 1, 2), 2),
     ValueError, "roi_xyxy must be one finite box"),
    ("nms/nan-score", lambda t, m: nms(np.zeros((1, 4)), np.array([np.nan]), 0.5), ValueError,
     "scores contains NaN"),
    ("nms/threshold-text", lambda t, m: nms(np.zeros((1, 4)), np.zeros(1), "0.5"), ValueError,
     "iou_threshold must be a finite number"),
    ("nms/reversed-box", lambda t, m: nms(np.array([[2.0, 0, 1, 1]]), np.zeros(1), 0.5), ValueError,
     "boxes must satisfy x2 >= x1"),
    ("batched_nms/float-categories", lambda t, m: batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(2), 0.5),
     TypeError, "idxs must be an integer array"),
    ("bilinear/nan-point", lambda t, m: bilinear_interpolate(np.zeros((3, 3)), np.nan, 1.0), ValueError,
     "y and x must be finite"),
    ("bilinear/feature-3d", lambda t, m: bilinear_interpolate(np.zeros((1, 3, 3)), 1.0, 1.0), ValueError,
     "feature must be a non-empty 2-D map"),
    ("box_iou/five-columns", lambda t, m: box_iou(np.zeros((1, 5)), np.zeros((1, 4))), ValueError,
     r"boxes1 must have shape \(K, 4\)"),
    ("clip_boxes/image-size-text", lambda t, m: clip_boxes(np.zeros((1, 4)), "ab"), TypeError,
     "image_size must be a pair"),
    ("encode_boxes/zero-width-reference", lambda t, m: encode_boxes([[0, 0, 2, 2]], [[1, 0, 1, 2]]), ValueError,
     "reference must have positive width"),
    ("decode_boxes/clamp-nan", lambda t, m: decode_boxes(np.zeros((1, 4)), [[0, 0, 2, 2]], clamp=float("nan")),
     ValueError, "clamp must be a number"),
    ("encode_boxes/negative-weights", lambda t, m: encode_boxes([[0, 0, 2, 2]], [[0, 0, 2, 2]], (1, 1, -1, 1)),
     ValueError, "weights must be four positive numbers"),
    # -- layers and losses --------------------------------------------------------------------------
    ("Conv2d/wrong-channels", lambda t, m: Conv2d(3, 2, 3, rng=np.random.default_rng(0)).forward(
        np.zeros((1, 2, 5, 5), np.float32)), ValueError, "x has 2 channels"),
    ("Conv2d/zero-in-channels", lambda t, m: Conv2d(0, 2, 3, rng=np.random.default_rng(0)), ValueError,
     "in_channels must be an integer >= 1"),
    ("Linear/wrong-features", lambda t, m: Linear(4, 2, rng=np.random.default_rng(0)).forward(
        np.zeros((1, 3), np.float32)), ValueError, "x has 3 features"),
    ("Linear/float64-into-float32", lambda t, m: Linear(4, 2, rng=np.random.default_rng(0)).forward(
        np.zeros((1, 4))), TypeError, "x has dtype float64"),
    ("Linear.backward/dout-of-wrong-shape", lambda t, m: Linear(4, 2, rng=np.random.default_rng(0)).backward(
        np.zeros((1, 3), np.float32), np.zeros((1, 4), np.float32)), ValueError, "dout must have the output's shape"),
    ("GroupNorm/wrong-channels", lambda t, m: GroupNorm(2, 4).forward(np.zeros((1, 3, 2, 2), np.float32)),
     ValueError, r"x must have shape \(N, 4"),
    ("MaxPool2d/kernel-larger-than-input", lambda t, m: MaxPool2d(5).forward(np.zeros((1, 1, 3, 3), np.float32)),
     ValueError, "kernel_size 5 is larger"),
    ("MaxPool2d.backward/dout-of-wrong-shape", lambda t, m: MaxPool2d(2).backward(
        np.zeros((1, 1, 3, 3), np.float32), ((1, 1, 4, 4), np.zeros((1, 1, 2, 2), np.int64))), ValueError,
     "dout must have the output's shape"),
    ("Sequential/not-a-module", lambda t, m: Sequential(np.zeros(3)), TypeError, r"layers\[0\] must be a Module"),
    ("softmax_cross_entropy/label-out-of-range", lambda t, m: softmax_cross_entropy(np.zeros((1, 2)), np.array([2])),
     ValueError, r"labels must be in \[0, 2\)"),
    ("sigmoid_bce/target-1.5", lambda t, m: sigmoid_bce_with_logits(np.zeros(2), np.array([0.0, 1.5])),
     ValueError, r"targets must lie in \[0, 1\]"),
    ("smooth_l1/negative-beta", lambda t, m: smooth_l1_loss(np.zeros(2), np.zeros(2), beta=-1.0), ValueError,
     "beta must be >= 0"),
    # -- the model ---------------------------------------------------------------------------------
    ("MaskRCNN/config-not-a-Config", lambda t, m: MaskRCNN({"steps": 3}), TypeError, "cfg: expected a Config"),
    ("forward/None-target", lambda t, m: target_replaced(None), TypeError, r"targets\[0\]: expected a dict"),
    ("forward/target-without-masks", lambda t, m: target_replaced({"boxes": np.zeros((0, 4)), "labels": []}),
     ValueError, r"targets\[0\]: missing key\(s\) \['masks'\]"),
    ("forward/float-mask-0.3", lambda t, m: forward_with(masks=tiny_batch()[1][0]["masks"] * 0.3), ValueError,
     r"targets\[0\]\['masks'\]: expected a bool mask .* 0.3"),
    ("forward/box-entirely-outside-the-image", lambda t, m: forward_with(
        boxes=np.array([[2, 3, 14, 12], [40, 40, 50, 50]], np.float32)), ValueError,
     r"targets\[0\]\['boxes'\]\[1\] = .* entirely outside the 32x32 image"),
    ("forward/nan-box", lambda t, m: forward_with(boxes=np.array([[2, 3, 14, np.nan], [1, 1, 5, 5]])), ValueError,
     r"targets\[0\]\['boxes'\]: need finite"),
    ("forward/background-label", lambda t, m: forward_with(labels=np.array([0, 1])), ValueError,
     r"targets\[0\]\['labels'\]: expected values in 1..3"),
    ("forward/fractional-label", lambda t, m: forward_with(labels=np.array([1.5, 1])), ValueError,
     r"targets\[0\]\['labels'\]: expected integer class labels"),
    ("forward/masks-of-wrong-size", lambda t, m: forward_with(masks=np.zeros((2, 16, 16), bool)), ValueError,
     r"targets\[0\]\['masks'\]: expected shape \(2, 32, 32\)"),
    ("forward/one-target-for-two-images", lambda t, m: model().forward(
        tiny_batch()[0], tiny_batch()[1][:1], np.random.default_rng(0)), ValueError, "targets: expected 2 dicts"),
    ("forward/targets-a-dict", lambda t, m: model().forward(tiny_batch()[0], tiny_batch()[1][0],
                                                            np.random.default_rng(0)), TypeError,
     "targets: expected a list"),
    ("forward/rng-none", lambda t, m: model().forward(*tiny_batch(), None), TypeError,
     "rng = None: expected a numpy random Generator"),
    ("predict/float-images", lambda t, m: model().predict(np.zeros((1, 32, 32, 3))), TypeError,
     "images: expected uint8"),
    ("predict/size-not-a-multiple-of-the-stride", lambda t, m: model().predict(np.zeros((1, 36, 32, 3), np.uint8)),
     ValueError, "images: height and width must be positive multiples of the stride 16"),
    ("predict/zero-by-zero-images", lambda t, m: model().predict(np.zeros((1, 0, 0, 3), np.uint8)), ValueError,
     "images: height and width must be positive multiples"),
    ("predict/images-of-two-sizes", lambda t, m: model().predict([np.zeros((32, 32, 3), np.uint8),
                                                                  np.zeros((16, 32, 3), np.uint8)]),
     ValueError, "images: expected one"),
    ("predict/with-masks-text", lambda t, m: model().predict(np.zeros((1, 32, 32, 3), np.uint8), "no"), TypeError,
     "with_masks = 'no': expected True or False"),
    ("backward/before-forward", lambda t, m: MaskRCNN(tiny_config()).backward(), RuntimeError,
     r"backward\(\) needs a forward\(\)"),
    # -- Config: every kind of field ----------------------------------------------------------------
    ("Config/negative-nms-threshold", lambda t, m: Config(rpn_nms_thresh=-1.0), ValueError,
     r"Config.rpn_nms_thresh = -1.0: expected a number in \[0.0, 1.0\]"),
    ("Config/detections-per-image--1", lambda t, m: Config(detections_per_image=-1), ValueError,
     "Config.detections_per_image = -1: expected an integer >= 1"),
    ("Config/score-threshold-2", lambda t, m: Config(score_thresh=2.0), ValueError, "Config.score_thresh = 2.0"),
    ("Config/steps--5", lambda t, m: Config(steps=-5), ValueError, "Config.steps = -5: expected an integer >= 1"),
    ("Config/momentum-1", lambda t, m: Config(momentum=1.0), ValueError, r"Config.momentum = 1.0: .*\[0.0, 1.0\)"),
    ("Config/zero-pixel-std", lambda t, m: Config(pixel_std=(0.0, 1.0, 1.0)), ValueError, "Config.pixel_std"),
    ("Config/milestones-backwards", lambda t, m: Config(lr_milestones=(5, 3)), ValueError, "Config.lr_milestones"),
    ("Config/flip-probability-1.5", lambda t, m: Config(hflip_prob=1.5), ValueError, "Config.hflip_prob"),
    ("Config/negative-seed", lambda t, m: Config(seed=-1), ValueError, "Config.seed = -1"),
    ("Config/duplicate-class-names", lambda t, m: Config(class_names=("a", "a")), ValueError, "Config.class_names"),
    ("Config/class-names-numbers", lambda t, m: Config(class_names=(1, 2)), TypeError,
     "Config.class_names = .*: expected a tuple of str"),
    ("Config/anchor-size-text", lambda t, m: Config(anchor_sizes=("a", "b", "c")), TypeError, "Config.anchor_sizes"),
    ("Config/sampling-ratio-1000", lambda t, m: Config(roi_sampling_ratio=1000), ValueError,
     "Config.roi_sampling_ratio = 1000"),
    ("Config/mask-threshold-0", lambda t, m: Config(mask_threshold=0.0), ValueError, "Config.mask_threshold"),
    ("Config/canonical-level-9", lambda t, m: Config(fpn_canonical_level=9), ValueError,
     "Config.fpn_canonical_level = 9"),
    ("Config/zero-keypoint-convs", lambda t, m: Config(keypoint_num_convs=0), ValueError,
     "Config.keypoint_num_convs"),
    ("Config/negative-warmup", lambda t, m: Config(warmup_steps=-1), ValueError, "Config.warmup_steps"),
    ("Config/zero-clip-norm", lambda t, m: Config(clip_grad_norm=0.0), ValueError, "Config.clip_grad_norm"),
    ("Config/lr-nan", lambda t, m: Config(base_lr=float("nan")), ValueError, "Config.base_lr"),
    ("Config/steps-a-float", lambda t, m: Config(steps=2.0), TypeError, "Config.steps = 2.0"),
    ("Config.from_json/not-json", lambda t, m: Config.from_json("{steps: 3", "my.json"), ValueError,
     "my.json: not valid JSON"),
    ("Config.from_dict/a-list", lambda t, m: Config.from_dict([1, 2]), TypeError,
     "Config.from_dict: expected a JSON object"),
    ("Config.from_dict/unknown-field", lambda t, m: Config.from_dict({"stepz": 3}), ValueError,
     r"unknown Config fields: \['stepz'\]"),
    # -- datasets and transforms --------------------------------------------------------------------
    ("ShapesDataset/negative-count", lambda t, m: ShapesDataset(-1), ValueError, "num_images"),
    ("ShapesConfig/image-size-100000", lambda t, m: ShapesConfig(image_size=100000), ValueError,
     r"image_size: expected an int in \[16, 4096\]"),
    ("ShapesConfig/1000-instances", lambda t, m: ShapesConfig(max_instances=1000), ValueError,
     "min_instances, max_instances"),
    ("collate/float-mask-0.3", lambda t, m: collate([sample(masks=sample()["masks"] * 0.3)]), ValueError,
     r"samples\[0\]\['masks'\]: expected a bool mask"),
    ("collate/no-samples", lambda t, m: collate([]), ValueError, "samples: expected a non-empty list"),
    ("collate/sample-without-labels", lambda t, m: collate([{"image": np.zeros((4, 4, 3), np.uint8)}]),
     ValueError, r"samples\[0\]: missing key"),
    ("resize_and_pad/size-0", lambda t, m: resize_and_pad(sample(), 0), ValueError, "size = 0"),
    ("write_coco_dataset/float-mask", lambda t, m: write_coco_dataset([sample(masks=sample()["masks"] * 0.5)], t,
                                                                      ("a", "b", "c")), ValueError,
     r"samples\[0\]\['masks'\]"),
    ("polygons_to_mask/text-coordinates", lambda t, m: polygons_to_mask([["1", "2", "3", "4", "5", "6"]], 8, 8),
     ValueError, r"polygons\[0\]: a polygon must be a flat list of numbers"),
    ("polygons_to_mask/image-of-1e12-pixels", lambda t, m: polygons_to_mask([[0, 0, 1, 0, 1, 1]], 10**6, 10**6),
     ValueError, "polygon image: 1000000 x 1000000 = .* more than the limit"),
    ("load_annotations/polygon-at-1e9", lambda t, m: load_annotations(with_annotation(
        segmentation=[[0, 0, 1e9, 0, 1e9, 1e9]])), ValueError, "annotation id 1 .*polygon 0.*within max\\(H, W\\) = 20 pixels"),
    ("load_annotations/image-of-1e12-pixels", lambda t, m: load_annotations(gt_dict(height=10**6, width=10**6)),
     ValueError, "image id 1: 1000000 x 1000000"),
    ("load_annotations/not-json", lambda t, m: load_annotations(write(t, "a.json", "{nope")), ValueError,
     r"a.json: not valid JSON"),
    ("load_annotations/duplicate-image-id", lambda t, m: load_annotations(
        {**gt_dict(), "images": gt_dict()["images"] * 2}), ValueError, "image id 1 appears twice"),
    ("load_annotations/rle-of-another-size", lambda t, m: load_annotations(with_annotation(
        segmentation={"size": [5, 5], "counts": [25]})), ValueError, r"annotation id 1 .*RLE size \[5, 5\]"),
    ("load_annotations/bbox-nan", lambda t, m: load_annotations(with_annotation(bbox=[0, 0, float("nan"), 2])),
     ValueError, r"annotation id 1 .*'bbox' must be"),
    ("CocoDataset/no-images-folder", lambda t, m: CocoDataset(write(t, "annotations.json", json.dumps(
        with_annotation(segmentation=[[2, 2, 10, 2, 10, 10]])))),
     FileNotFoundError, "images directory not found"),
    ("read_rgb/not-an-image", lambda t, m: read_rgb(write(t, "x.png", "text"), "IMAGE"), ValueError,
     r"IMAGE .*x.png: cannot read it as an image"),
    ("read_rgb/float-image", lambda t, m: (Image.fromarray(np.zeros((4, 4), np.float32)).save(t / "f.tif"),
                                           read_rgb(t / "f.tif", "IMAGE")), ValueError,
     "IMAGE .*f.tif: a floating-point image"),
    ("read_rgb/missing-file", lambda t, m: read_rgb(t / "none.png", "IMAGE"), FileNotFoundError,
     "IMAGE .*none.png: no such file"),
    ("coco_results/image-id-text", lambda t, m: coco_results([prediction()], ["abc"]), ValueError,
     r"image_ids\[0\]: expected an integer, got 'abc'"),
    ("predict_images/float-image", lambda t, m: predict_images(model(), [np.zeros((20, 30, 3))]), ValueError,
     r"images\[0\]: expected a \(H, W, 3\) uint8 RGB array"),
    ("predict_images/batch-size-0", lambda t, m: predict_images(model(), [], batch_size=0), ValueError,
     "batch_size = 0: expected an integer >= 1"),
    ("generate_anchors/feature-shape-of-one-number", lambda t, m: generate_anchors((2,), 16, (16.0,), (1.0,)),
     ValueError, r"feature_shape: expected \(H, W\) of ints >= 0, got \(2,\)"),
    ("generate_anchors/negative-stride", lambda t, m: generate_anchors((2, 2), -16, (16.0,), (1.0,)), ValueError,
     "stride = -16: expected a number > 0"),
    ("generate_anchors/zero-ratio", lambda t, m: generate_anchors((2, 2), 16, (16.0,), (0.0,)), ValueError,
     "ratios: expected at least one positive number"),
    # -- evaluation ---------------------------------------------------------------------------------
    ("results/category-id-text", lambda t, m: results_with(category_id="abc"), ValueError,
     "result 0: 'category_id' must be an integer, got 'abc'"),
    ("results/image-id-a-list", lambda t, m: results_with(image_id=[1]), ValueError,
     r"result 0: 'image_id' must be an integer, got \[1\]"),
    ("results/nan-in-bbox", lambda t, m: results_with(bbox=[2, 2, float("nan"), 8]), ValueError,
     r"result 0 \(image id 1\): 'bbox' must be \[x, y, w, h\] of finite numbers"),
    ("results/negative-width", lambda t, m: results_with(bbox=[2, 2, -8, 8]), ValueError,
     r"result 0 \(image id 1\): 'bbox'"),
    ("results/score-true", lambda t, m: results_with(score=True), ValueError, "'score' must be a finite number"),
    ("results/unknown-image", lambda t, m: results_with(image_id=7), ValueError,
     "result 0: image id 7 is not in the annotations"),
    ("results/not-a-list", lambda t, m: evaluate_coco(gt_dict(), {"image_id": 1}, "bbox"), ValueError,
     "expected a JSON list of detections"),
    ("evaluate/nan-predicted-box", lambda t, m: evaluate([sample()], [prediction(
        boxes=np.array([[0, 0, np.nan, 1], [0, 0, 1, 1]]))], "bbox"), ValueError,
     r"predictions\[0\]: boxes and scores must be finite"),
    ("evaluate/nan-ground-truth-box", lambda t, m: evaluate([sample(boxes=np.array([[0, 0, np.nan, 1],
                                                                                   [0, 0, 1, 1]]))],
                                                            [prediction()], "bbox"), ValueError,
     r"samples\[0\]\['boxes'\] contains NaN"),
    ("evaluate/float-ground-truth-mask", lambda t, m: evaluate([sample(masks=sample()["masks"] * 0.3)],
                                                               [prediction()]), ValueError,
     r"samples\[0\]\['masks'\]: expected a bool mask"),
    ("evaluate/uint8-predicted-masks", lambda t, m: evaluate([sample()], [prediction(
        masks=sample()["masks"].astype(np.uint8))]), ValueError, r"predictions\[0\]: masks must be bool"),
    ("evaluate/iou-type-mask", lambda t, m: evaluate([sample()], [prediction()], "mask"), ValueError,
     "iou_types: expected a non-empty subset"),
    ("evaluate/fewer-predictions", lambda t, m: evaluate([sample(), sample(image_id=1)], [prediction()], "bbox"),
     ValueError, "predictions: fewer predictions than samples"),
    ("evaluate/image-id-text", lambda t, m: evaluate([sample(image_id="a")], [prediction()], "bbox"), ValueError,
     r"samples\[0\]\['image_id'\]: expected an integer"),
    ("EvalResult/iou-0.33", lambda t, m: evaluate([sample()], [prediction()], "bbox")["bbox"].average_precision(
        iou=0.33), ValueError, "iou: 0.33 is not one of the evaluated thresholds"),
    # -- checkpoints --------------------------------------------------------------------------------
    ("load/missing-file", lambda t, m: MaskRCNN.load(str(t / "none.npz")), ValueError, "checkpoint: no such file"),
    ("load/not-an-npz", lambda t, m: MaskRCNN.load(write(t, "x.npz", "not a zip")), ValueError,
     r"checkpoint .*x.npz' is not a readable .npz file"),
    ("load/pickled-array", lambda t, m: (np.savez(t / "p.npz", a=np.array([{"a": 1}], dtype=object)),
                                         MaskRCNN.load(str(t / "p.npz"))), ValueError,
     r"checkpoint .*p.npz' is not a readable .npz file"),
    ("load/no-config", lambda t, m: MaskRCNN.load(saved_checkpoint(t, config=None)), ValueError,
     r"ckpt.npz' has no 'config' text entry"),
    ("load/config-not-json", lambda t, m: MaskRCNN.load(saved_checkpoint(t, config=np.array("{x"))), ValueError,
     r"ckpt.npz': config: not valid JSON"),
    ("load/nan-weight", lambda t, m: MaskRCNN.load(saved_checkpoint(t, **{first_param(): np.full(
        model().checkpoint_arrays()[first_param()].shape, np.nan, np.float32)})), ValueError,
     r"ckpt.npz': parameter '.*' holds NaN"),
    ("load/text-weight", lambda t, m: MaskRCNN.load(saved_checkpoint(t, **{first_param(): np.full(
        model().checkpoint_arrays()[first_param()].shape, "a")})), TypeError, r"ckpt.npz': state_dict\['.*'\] has dtype"),
    ("load/weight-of-wrong-shape", lambda t, m: MaskRCNN.load(saved_checkpoint(t, **{first_param(): np.zeros(3)})),
     ValueError, r"ckpt.npz': state_dict\['.*'\] has shape \(3,\)"),
    ("resume/from-a-final-model", lambda t, m: (model().save(str(t / "checkpoint.npz")),
                                                train(tiny_config(), str(t), resume=True, progress=False)),
     ValueError, "resume: .*checkpoint.npz is not a training checkpoint"),
    ("atomic_savez/disk-full", lambda t, m: save_on_full_disk(t, m), OSError,
     r"No space left on device.*cannot write .*c.npz|cannot write .*c.npz \(No space left on device\)"),
    ("save/into-a-missing-folder", lambda t, m: model().save(str(t / "no" / "such" / "m.npz")), OSError,
     r"cannot write .*m.npz"),
    ("train/checkpoint-every-0", lambda t, m: train(tiny_config(), str(t), checkpoint_every=0), ValueError,
     "checkpoint_every = 0: expected an integer >= 1"),
    ("train/out-dir-is-a-file", lambda t, m: train(tiny_config(), write(t, "f", "x")), NotADirectoryError,
     "out_dir .*f: exists and is not a directory"),
]


@pytest.mark.parametrize("call, error, match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_input_gives_a_clear_error(call, error, match, tmp_path, monkeypatch):
    with pytest.raises(Exception) as info:
        call(tmp_path, monkeypatch)
    assert type(info.value) is error or (error is OSError and isinstance(info.value, OSError)), \
        f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    assert info.match(match)


# -- the command line: exit code 2, one line naming the argument, no traceback -------------------------


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A tiny COCO folder, a tiny model checkpoint and a tiny config, shared by the CLI cases."""
    root = tmp_path_factory.mktemp("cli")
    ds = ShapesDataset(4, seed=0, config=ShapesConfig(image_size=32, min_visible_area=10))
    write_coco_dataset(ds, root / "data")
    cfg = tiny_config(steps=3, warmup_steps=1, lr_milestones=(2,))
    (root / "tiny.json").write_text(cfg.to_json())
    MaskRCNN(cfg).save(str(root / "model.npz"))
    (root / "run").mkdir()
    (root / "run" / "checkpoint.npz").write_bytes(b"an earlier run")
    (root / "bad.json").write_text("{not json")
    (root / "list.json").write_text("[1, 2]")
    (root / "file").write_text("x")
    for name, fields in (("r_cat.json", {"category_id": "abc"}), ("r_img.json", {"image_id": [0]})):
        (root / name).write_text(json.dumps([{"image_id": 0, "category_id": 1, "bbox": [0, 0, 5, 5],
                                             "score": 0.5, **fields}]))
    (root / "r_nan.json").write_text('[{"image_id": 0, "category_id": 1, "bbox": [0, NaN, 5, 5], "score": 0.5}]')
    return root


CLI = [
    ("train/config-not-json", "train --config {r}/bad.json --out {t}/o", r"--config .*bad.json.*not valid JSON"),
    ("train/config-a-list", "train --config {r}/list.json --out {t}/o", r"--config .*list.json.*JSON object"),
    ("train/steps--5", "train --set steps=-5 --out {t}/o", "Config.steps = -5: expected an integer >= 1"),
    ("train/into-an-existing-run", "train --config {r}/tiny.json --out {r}/run",
     r"--out .*run: already holds a run \(checkpoint.npz\); use --resume .* or --overwrite"),
    ("train/resume-without-checkpoint", "train --config {r}/tiny.json --out {t}/new --resume",
     r"--resume: .*checkpoint.npz not found"),
    ("train/resume-and-overwrite", "train --out {r}/run --resume --overwrite", "exclude each other"),
    ("train/zero-steps", "train --steps 0", "--steps: expected an integer >= 1, got 0"),
    ("train/lr-inf", "train --lr inf", "--lr: expected a positive finite number"),
    ("train/missing-data", "train --config {r}/tiny.json --out {t}/o --data {t}/none",
     "--data .*none: no such file or directory"),
    ("train/out-is-a-file", "train --config {r}/tiny.json --out {r}/file", "--out .*file: exists and is not a dir"),
    ("train/unknown-field", "train --set stepz=3", r"--set 'stepz=3': expected KEY=VALUE"),
    ("train/wrong-type", "train --set use_fpn=1", "Config.use_fpn = 1"),
    ("evaluate-results/category-id-text", "evaluate-results {r}/data {r}/r_cat.json", "'category_id' must be an int"),
    ("evaluate-results/image-id-a-list", "evaluate-results {r}/data {r}/r_img.json", "'image_id' must be an integer"),
    ("evaluate-results/nan-in-bbox", "evaluate-results {r}/data {r}/r_nan.json", r"r_nan.json: result 0 .*'bbox'"),
    ("evaluate-results/annotations-not-json", "evaluate-results {r}/bad.json {r}/r_cat.json",
     r"bad.json: not valid JSON"),
    ("evaluate/missing-checkpoint", "evaluate --checkpoint {t}/none.npz --num-images 1 --results {t}/r.json",
     "--checkpoint .*none.npz: no such file"),
    ("evaluate/results-into-a-file", "evaluate --checkpoint {r}/model.npz --results {r}/file/r.json",
     "--results .*: exists and is not a directory"),
    ("predict/missing-image", "predict {t}/none.png --checkpoint {r}/model.npz --out {t}/p", "IMAGE .*none.png"),
    ("predict/not-an-image", "predict {r}/bad.json --checkpoint {r}/model.npz --out {t}/p",
     "IMAGE .*bad.json: cannot read it as an image"),
    ("predict/score-nan", "predict x.png --score-thresh nan", r"--score-thresh: expected a number in \[0, 1\]"),
    ("make-shapes/existing-dataset", "make-shapes {r}/data -n 1", r"annotations.json already exists .*--overwrite"),
    ("make-shapes/size-100000", "make-shapes {t}/d -n 1 --size 100000", "--size: expected an integer <= 4096"),
    ("ablate/table-of-a-missing-file", "ablate --table-only --out {t}/none.json", "--out .*none.json: no such file"),
    ("ablate/table-of-a-bad-file", "ablate --table-only --out {r}/bad.json", r"bad.json: not valid JSON"),
]


@pytest.mark.parametrize("argv, match", [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_cli_bad_input_is_one_line_and_exit_code_2(argv, match, cli_files, tmp_path, capsys):
    code = main(argv.format(r=cli_files, t=tmp_path).split())
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
    assert "Traceback" not in err
    assert len(lines) == 1 or lines[0].startswith("usage:"), err  # argparse: usage line, then the error
    assert __import__("re").search(match, err), err


# -- documented results for edge inputs --------------------------------------------------------------


def _nan_map():
    f = np.arange(25.0).reshape(1, 1, 5, 5)
    f[0, 0, 1, 1] = np.nan
    return f


def _sixteen_bit_png(tmp):
    grey = np.full((8, 8), 1000, np.uint16)  # 1000 / 65535 of full scale: nearly black
    grey[:, 4:] = 65535
    Image.fromarray(grey).save(tmp / "g16.png")
    return read_rgb(tmp / "g16.png")


RESULTS = [
    ("roi_pool/nan-propagates", lambda t: roi_pool(_nan_map(), [[0, 0, 0, 3, 3]], 2)[0, 0],
     lambda out: np.isnan(out[0, 0]) and np.array_equal(out[[0, 1, 1], [1, 0, 1]], [8, 16, 18])),
    ("roi_pool/all-nan-bin-is-nan", lambda t: roi_pool(np.full((1, 1, 4, 4), np.nan), [[0, 0, 0, 3, 3]], 2),
     lambda out: np.isnan(out).all()),
    ("roi_pool/all-minus-inf-bin", lambda t: roi_pool(np.full((1, 1, 4, 4), -np.inf), [[0, 0, 0, 3, 3]], 2),
     lambda out: (out == -np.inf).all()),
    ("roi_align/nan-propagates-avg", lambda t: roi_align(_nan_map(), [[0, 0, 0, 4, 4]], 2, 1.0, 2, True),
     lambda out: np.isnan(out[0, 0, 0, 0]) and np.isfinite(out[0, 0, 1, 1])),
    ("roi_align/nan-propagates-max", lambda t: roi_align(_nan_map(), [[0, 0, 0, 4, 4]], 2, 1.0, 2, True, "max"),
     lambda out: np.isnan(out[0, 0, 0, 0]) and np.isfinite(out[0, 0, 1, 1])),
    ("roi_pool/box-off-the-map-gives-0", lambda t: roi_pool(np.ones((1, 1, 4, 4)), [[0, 9, 9, 12, 12]], 2),
     lambda out: (out == 0).all()),
    ("roi_align/zero-size-aligned-box-gives-0", lambda t: roi_align(np.ones((1, 1, 4, 4)), [[0, 2, 2, 2, 2]], 2,
                                                                     1.0, -1, True, "max"),
     lambda out: (out == 0).all()),
    ("roi_align/no-rois", lambda t: roi_align(F, np.zeros((0, 5)), 3), lambda out: out.shape == (0, 1, 3, 3)),
    ("nms/no-boxes", lambda t: nms(np.zeros((0, 4)), np.zeros(0), 0.5), lambda keep: keep.shape == (0,)),
    ("predict/zero-images", lambda t: model().predict(np.zeros((0, 32, 32, 3), np.uint8)), lambda r: r == []),
    ("predict/empty-list", lambda t: model().predict([]), lambda r: r == []),
    ("forward/box-partly-outside-is-clipped", lambda t: forward_with(
        boxes=np.array([[-5, 3, 14, 12], [16, 14, 40, 40]], np.float32))["loss"], np.isfinite),
    ("read_rgb/16-bit-grey-png-is-scaled-not-white", _sixteen_bit_png,
     lambda rgb: rgb.dtype == np.uint8 and rgb.shape == (8, 8, 3) and (rgb[:, :4] == 4).all()
     and (rgb[:, 4:] == 255).all()),
    ("evaluate/no-detections", lambda t: evaluate([sample()], [prediction(boxes=np.zeros((0, 4)), labels=[],
                                                                          scores=[], masks=np.zeros((0, 32, 32),
                                                                                                    bool))],
                                                  "bbox")["bbox"].stats["AP"], lambda ap: ap == 0.0),
    ("evaluate_coco/no-results", lambda t: evaluate_coco(gt_dict(), [], "bbox")["bbox"].stats["AR100"],
     lambda ar: ar == 0.0),
]


@pytest.mark.parametrize("call, check", [c[1:] for c in RESULTS], ids=[c[0] for c in RESULTS])
def test_edge_input_gives_the_documented_result(call, check, tmp_path):
    assert check(call(tmp_path))


def test_coco_dataset_reads_16_bit_grey_images(tmp_path):
    ds = ShapesDataset(1, seed=0, config=ShapesConfig(image_size=32, min_visible_area=10))
    write_coco_dataset(ds, tmp_path)
    path = tmp_path / "images" / "000000.png"
    grey = (np.asarray(Image.open(path).convert("L")).astype(np.uint32) * 257).astype(np.uint16)
    Image.fromarray(grey).save(path)  # the same picture as 16-bit grey
    image = CocoDataset(tmp_path)[0]["image"]
    np.testing.assert_array_equal(image[..., 0], np.asarray(Image.open(path)) // 257)  # v * 255 / 65535


# -- faults during training: kill, Ctrl-C, full disk, read-only output --------------------------------

FAULT_STEPS = 8


@pytest.fixture(scope="module")
def fault_run(cli_files, tmp_path_factory):
    """An uninterrupted run (the reference) of the command every fault case repeats."""
    out = tmp_path_factory.mktemp("reference")
    assert main(train_argv(cli_files, out)) == 0
    return out


def train_argv(files, out, *extra):
    return ["train", "--config", str(files / "tiny.json"), "--data", str(files / "data"), "--out", str(out),
            "--steps", str(FAULT_STEPS), "--checkpoint-every", "1", "--no-progress", *extra]


def checkpoint_step(path) -> int:
    try:
        with np.load(path) as data:
            return int(data["step"])
    except Exception:  # not written yet (or being replaced): no step
        return -1


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("model_final.npz", "checkpoint.npz"):
        x, y = load_npz(str(a / name)), load_npz(str(b / name))
        assert sorted(x) == sorted(y)
        for k in x:
            if k != "history":  # timings differ; everything computed must not
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name}: {k}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_or_interrupted_training_resumes_bit_identically(sig, cli_files, fault_run, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "minimaskrcnn", *train_argv(cli_files, out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while checkpoint_step(out / "checkpoint.npz") < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    printed, err = proc.communicate(timeout=60)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 130), err.decode()
    stopped_at = checkpoint_step(out / "checkpoint.npz")
    assert 2 <= stopped_at < FAULT_STEPS
    if sig == signal.SIGINT:  # Ctrl-C writes what a normal end writes, the final model at the step reached
        assert b"Traceback" not in err and b"interrupted: saved step" in printed
        assert all((out / f).is_file() for f in ("model_final.npz", "log.csv", "log.json", "loss.png"))
    else:
        assert not (out / "model_final.npz").exists()
    assert main(train_argv(cli_files, out, "--resume")) == 0
    assert_same_run(fault_run, out)


def test_full_disk_keeps_the_previous_checkpoint(cli_files, tmp_path, monkeypatch, capsys):
    real_savez, calls = np.savez, {"n": 0}

    def savez(f, **arrays):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(f, **arrays)

    monkeypatch.setattr(np, "savez", savez)
    assert main(train_argv(cli_files, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err and "checkpoint.npz" in err
    assert checkpoint_step(tmp_path / "checkpoint.npz") == 2  # the last one that fitted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]  # no half-written .tmp


def make_read_only(path: Path, monkeypatch) -> None:
    """chmod 555; as root (where permissions do not bind) the refusal is simulated at the same call."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    if os.access(path, os.W_OK):
        real = tempfile.TemporaryFile

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(dir).resolve() == path.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(checks.tempfile, "TemporaryFile", refuse)


@pytest.mark.parametrize("argv, name", [
    ("train --config {r}/tiny.json --data {r}/data --out {o} --no-progress", "--out"),
    ("make-shapes {o} -n 1 --size 32", "OUT"),
    ("predict x.png --checkpoint {r}/model.npz --out {o}", "--out"),
    ("evaluate --checkpoint {r}/model.npz --num-images 1 --results {o}/r.json", "--results"),
    ("evaluate-results {r}/data {r}/r_cat.json --json {o}/s.json", "--json"),
], ids=["train", "make-shapes", "predict", "evaluate", "evaluate-results"])
def test_read_only_output_is_refused_before_any_work(argv, name, cli_files, tmp_path, monkeypatch, capsys):
    out = tmp_path / "ro"
    make_read_only(out, monkeypatch)
    try:
        start = time.perf_counter()
        assert main(argv.format(r=cli_files, o=out).split()) == 2
        err = capsys.readouterr().err
        assert f"{name} {out}" in err and "cannot write there" in err and "Traceback" not in err, err
        assert time.perf_counter() - start < 10  # refused up front, not after training or evaluating
    finally:
        out.chmod(0o755)
