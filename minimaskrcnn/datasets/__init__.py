"""Datasets: the toy shapes and stick-figure (keypoint) generators and COCO-format reading/writing.

Every dataset returns samples in one format (see ``shapes.py``): a dict with
``image`` (H, W, 3) uint8, ``masks`` (K, H, W) bool, ``boxes`` (K, 4) float32
(x1, y1, x2, y2), ``labels`` (K,) int64 in 1..num_classes (0 = background),
``iscrowd`` (K,) bool and ``image_id`` int.
"""
from minimaskrcnn.datasets.shapes import ShapesConfig, ShapesDataset, generate_sample, masks_to_boxes
from minimaskrcnn.datasets.coco import (CocoDataset, coco_results, load_annotations, write_coco_dataset,
                                        write_coco_results)
from minimaskrcnn.datasets.keypoints import KeypointsConfig, KeypointsDataset
from minimaskrcnn.datasets.coco_keypoints import (CocoKeypointsDataset, write_coco_keypoint_results,
                                                  write_coco_keypoints_dataset)
