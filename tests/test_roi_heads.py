import numpy as np
import pytest
from model_fixtures import tiny_config

from minimaskrcnn.boxes import box_iou, decode_boxes
from minimaskrcnn.model.roi_heads import BoxHead, fast_rcnn_losses, postprocess_detections, sample_rois
from minimaskrcnn.nn import numerical_gradient, rel_error


def test_sample_rois_appends_ground_truth_and_labels_by_iou():
    cfg = tiny_config(roi_batch_per_image=8, roi_positive_fraction=0.5)
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    gt_labels = np.array([3, 1])
    proposals = np.array([[0, 0, 10, 11],  # IoU 0.91 with gt 0
                          [22, 22, 30, 30],  # 0.64 with gt 1
                          [5, 5, 15, 15],  # 0.14: background
                          [40, 40, 50, 50]], np.float32)  # background
    rois, labels, matched, targets = sample_rois(proposals, gt, gt_labels, cfg, np.random.default_rng(0))
    assert len(rois) == 6  # 4 positives (2 proposals + 2 appended gt) + 2 negatives
    pos = labels > 0
    assert pos.sum() == 4 and (labels[:4] > 0).all()  # positives first
    np.testing.assert_array_equal(labels[pos], gt_labels[matched[pos]])
    assert (box_iou(gt, rois[pos]).max(axis=0) >= 0.5).all()
    assert (box_iou(gt, rois[~pos]).max(axis=0) < 0.5).all()
    # targets decode back onto the matched ground truth
    back = decode_boxes(targets[pos], rois[pos], cfg.box_reg_weights)
    np.testing.assert_allclose(back, gt[matched[pos]], atol=1e-4)
    assert (targets[~pos] == 0).all()


def test_sample_rois_caps_positives():  # 11 positives (10 proposals + the gt), cap 2
    cfg = tiny_config(roi_batch_per_image=8, roi_positive_fraction=0.25)
    gt = np.array([[0, 0, 20, 20]], np.float32)
    proposals = np.tile(gt, (10, 1)) + np.random.default_rng(0).uniform(-1, 1, (10, 4)).astype(np.float32)
    proposals = np.concatenate([proposals, [[40, 40, 60, 60]] * 10]).astype(np.float32)
    _, labels, _, _ = sample_rois(proposals, gt, np.array([2]), cfg, np.random.default_rng(0))
    assert (labels > 0).sum() == 2 and len(labels) == 8


def test_sample_rois_without_ground_truth():
    cfg = tiny_config()
    props = np.array([[0, 0, 5, 5]], np.float32)
    rois, labels, _, targets = sample_rois(props, np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                                           cfg, np.random.default_rng(0))
    assert len(rois) == 1 and (labels == 0).all() and (targets == 0).all()


def test_fast_rcnn_losses_by_hand():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # K = 2 classes
    deltas = np.zeros((2, 8))
    deltas[1, 0:4] = [0.5, 0.0, 0.0, 0.0]  # class 1's deltas of the positive RoI
    deltas[1, 4:8] = 9.0  # class 2's deltas: not its class, must not count
    labels = np.array([0, 1])
    targets = np.zeros((2, 4))
    losses, (dl, dd) = fast_rcnn_losses(logits, deltas, labels, targets, beta=1.0)
    ce0 = -np.log(np.exp(2) / (np.exp(2) + 2))
    ce1 = -np.log(np.e / (np.e + 2))
    assert losses["loss_cls"] == pytest.approx((ce0 + ce1) / 2)
    assert losses["loss_box"] == pytest.approx(0.5 * 0.5**2 / 2)
    assert dd[1, 0] == pytest.approx(0.5 / 2) and (dd[1, 4:] == 0).all() and (dd[0] == 0).all()


def test_box_head_gradients():
    rng = np.random.default_rng(0)
    head = BoxHead(4 * 3 * 3, 8, 3, rng=rng).astype(np.float64)
    x = rng.normal(size=(5, 4, 3, 3))
    dl, dd = rng.normal(size=(5, 4)), rng.normal(size=(5, 12))
    out, cache = head.forward(x)
    head.zero_grad()
    dx = head.backward((dl, dd), cache)

    def f(_):
        (a, b), _ = head.forward(x)
        return np.sum(a * dl) + np.sum(b * dd)

    assert rel_error(numerical_gradient(f, x), dx) < 1e-6
    for name, p, g in head.named_parameters():
        assert rel_error(numerical_gradient(f, p), g) < 1e-6, name


def test_postprocess_keeps_confident_boxes_per_class():
    cfg = tiny_config(score_thresh=0.05, detections_per_image=100)
    proposals = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    logits = np.array([[0, 5, 0, 0],  # class 1, confident
                       [0, 4, 0, 0],  # class 1 again, overlapping: suppressed by NMS
                       [5, 0, 0, 0]], np.float64)  # background: every class below 0.05
    deltas = np.zeros((3, 12))
    boxes, scores, labels = postprocess_detections(logits, deltas, proposals, (32, 32), cfg)
    # exactly one detection: the duplicate is gone under every label, not only under label 1
    np.testing.assert_array_equal(labels, [1])
    np.testing.assert_array_equal(boxes, proposals[:1])
    assert scores[0] == pytest.approx(np.exp(5) / (np.exp(5) + 3))


def test_postprocess_nms_is_per_class():
    cfg = tiny_config(score_thresh=0.05)
    proposals = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], np.float32)
    logits = np.array([[0, 5, 0, 0],   # class 1
                       [0, 0, 4, 0]], np.float64)  # the overlapping box is class 2: kept
    boxes, scores, labels = postprocess_detections(logits, np.zeros((2, 12)), proposals, (32, 32), cfg)
    np.testing.assert_array_equal(labels, [1, 2])
    np.testing.assert_array_equal(boxes, proposals)
    assert scores[0] > scores[1]


def test_postprocess_uses_each_classes_own_deltas():
    cfg = tiny_config(score_thresh=0.05)
    proposals = np.array([[0, 0, 10, 10]], np.float32)
    logits = np.array([[0, 0, 6, 0]], np.float64)  # class 2
    deltas = np.zeros((1, 12))
    deltas[0, 4] = 10 * 0.2  # class 2's dx (weight 10): move right by 0.2 * width = 2 pixels
    deltas[0, 0:4] = 5.0  # class 1's deltas must not be used
    boxes, _, labels = postprocess_detections(logits, deltas, proposals, (32, 32), cfg)
    np.testing.assert_array_equal(labels, [2])
    np.testing.assert_allclose(boxes, [[2, 0, 12, 10]], atol=1e-5)


def test_postprocess_score_exactly_at_the_threshold_is_dropped():
    from minimaskrcnn.model.roi_heads import softmax

    proposals = np.array([[0, 0, 10, 10]], np.float32)
    logits = np.array([[0, 2, 0, 0]], np.float64)
    score = float(softmax(logits)[0, 1])
    for thresh, kept in ((score, 0), (float(np.nextafter(score, 0)), 1)):
        cfg = tiny_config(score_thresh=thresh)
        boxes, _, _ = postprocess_detections(logits, np.zeros((1, 12)), proposals, (32, 32), cfg)
        assert len(boxes) == kept, thresh  # kept only when score > score_thresh (as torchvision)


def test_postprocess_clips_to_a_non_square_image():
    cfg = tiny_config(score_thresh=0.05)
    proposals = np.array([[40, 5, 70, 15], [2, 12, 8, 30]], np.float32)  # past the right / bottom edge
    logits = np.array([[0, 5, 0, 0], [0, 0, 5, 0]], np.float64)
    boxes, _, labels = postprocess_detections(logits, np.zeros((2, 12)), proposals, (20, 60), cfg)
    np.testing.assert_array_equal(labels, [1, 2])
    np.testing.assert_array_equal(boxes, [[40, 5, 60, 15], [2, 12, 8, 20]])  # x to [0, W=60], y to [0, H=20]


def test_postprocess_keeps_at_most_detections_per_image_best_first():
    cfg = tiny_config(score_thresh=0.0, detections_per_image=2)
    proposals = np.array([[0, 0, 4, 4], [10, 0, 14, 4], [20, 0, 24, 4]], np.float32)
    logits = np.array([[0, 1, -9, -9], [0, 3, -9, -9], [0, 2, -9, -9]], np.float64)
    boxes, scores, labels = postprocess_detections(logits, np.zeros((3, 12)), proposals, (32, 32), cfg)
    np.testing.assert_array_equal(boxes, proposals[[1, 2]])
    assert (np.diff(scores) < 0).all() and (labels == 1).all()


def test_sample_rois_iou_exactly_at_the_foreground_threshold_is_positive():
    cfg = tiny_config(roi_batch_per_image=64, roi_positive_fraction=1.0, roi_fg_iou=0.5)
    gt = np.array([[0, 0, 4, 3]], np.float32)
    proposals = np.array([[0, 0, 2, 3],  # IoU 6 / 12 = 0.5 exactly: foreground
                          [0, 0, 2, 2.99]], np.float32)  # just below: background
    rois, labels, _, _ = sample_rois(proposals, gt, np.array([3]), cfg, np.random.default_rng(0))
    assert box_iou(gt, proposals)[0, 0] == 0.5
    label_of = {tuple(r): lab for r, lab in zip(rois.tolist(), labels.tolist())}
    assert label_of[(0, 0, 2, 3)] == 3 and label_of[(0.0, 0.0, 2.0, np.float32(2.99).item())] == 0


def test_postprocess_clips_and_handles_no_detection():
    cfg = tiny_config(score_thresh=0.99)
    proposals = np.array([[-5, -5, 40, 40]], np.float32)
    logits = np.zeros((1, 4))
    boxes, scores, labels = postprocess_detections(logits, np.zeros((1, 12)), proposals, (32, 32), cfg)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)
    cfg = tiny_config(score_thresh=0.0)
    boxes, _, _ = postprocess_detections(logits, np.zeros((1, 12)), proposals, (32, 32), cfg)
    assert boxes.min() >= 0 and boxes.max() <= 32


def test_box_head_backward_accumulates_into_grads():
    from model_fixtures import assert_backward_accumulates

    rng = np.random.default_rng(0)
    assert_backward_accumulates(BoxHead(4 * 3 * 3, 8, 3, rng=rng), rng.normal(size=(5, 4, 3, 3)).astype(np.float32))
