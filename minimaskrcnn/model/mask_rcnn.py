"""Mask R-CNN: the stages wired together, with one backward pass through all of them.

Training step::

    losses = model.forward(images, targets, rng)   # dict of floats
    model.zero_grad(); model.backward()            # gradients of losses["loss"]
    optimizer.step()

``forward`` runs image -> backbone -> RPN (+ its losses) -> sampled RoIs ->
box head (+ losses) -> positive RoIs -> mask head (+ loss), computing each
loss's gradient with respect to that stage's outputs on the way and keeping
the caches. ``backward`` walks back: every head's gradient reaches the
feature maps through the RPN head or the RoI op's backward, the three are
summed there (the backbone serves all branches), and the backbone's backward
runs once.

Inference: ``model.predict(images)`` -> one dict per image with ``boxes``
(D, 4), ``labels`` (D,) in 1..K, ``scores`` (D,) and ``masks`` (D, H, W) bool.

With ``cfg.keypoint_on`` a keypoint head (``keypoint_head.py``) is one more
branch on the positive RoIs, like the mask head: targets then also need
``keypoints`` (G, K, 3) [x, y, v], ``forward`` adds ``loss_keypoint``, and
``predict`` adds ``keypoints`` (D, K, 3) [x, y, score].

Labels: 0 is background, 1..K index ``cfg.class_names`` (label k is
``class_names[k - 1]``).
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn import checks
from minimaskrcnn.categories import check_category_ids, default_category_ids
from minimaskrcnn.checkpoint import atomic_savez, load_npz
from minimaskrcnn.config import Config
from minimaskrcnn.model.anchors import anchors_for_config
from minimaskrcnn.model.backbone import Backbone
from minimaskrcnn.model.keypoint_head import (build_keypoint_head, heatmaps_to_keypoints, keypoint_loss,
                                              keypoint_targets)
from minimaskrcnn.model.mask_head import (build_mask_head, mask_loss, mask_probabilities,
                                          mask_targets, paste_masks)
from minimaskrcnn.model.poolers import RoIPooler, rois_with_batch_index
from minimaskrcnn.model.roi_heads import BoxHead, fast_rcnn_losses, postprocess_detections, sample_rois
from minimaskrcnn.model.rpn import RPN
from minimaskrcnn.nn.module import Module


class MaskRCNN(Module):
    def __init__(self, cfg: Config | None = None, *, rng=None):
        super().__init__()
        if cfg is not None and not isinstance(cfg, Config):
            raise TypeError(f"cfg: expected a Config (or None for the defaults), got {type(cfg).__name__}")
        self.cfg = cfg = cfg if cfg is not None else Config()
        rng = checks.rng("rng", rng) if rng is not None else np.random.default_rng(cfg.seed)
        self.backbone = Backbone(cfg, rng=rng)
        C = self.backbone.out_channels
        self.rpn = RPN(cfg, C, rng=rng)
        self.box_pooler = RoIPooler(cfg, cfg.box_pool_size)
        self.box_head = BoxHead(C * cfg.box_pool_size**2, cfg.box_fc_dim, cfg.num_classes, rng=rng)
        self.mask_pooler = RoIPooler(cfg, cfg.mask_pool_size) if cfg.mask_on else None
        self.mask_head = build_mask_head(cfg, C, rng=rng) if cfg.mask_on else None
        self.keypoint_pooler = RoIPooler(cfg, cfg.keypoint_pool_size) if cfg.keypoint_on else None
        self.keypoint_head = build_keypoint_head(cfg, C, rng=rng) if cfg.keypoint_on else None
        self._anchors: dict = {}
        self._cache = None

    # -- inputs ---------------------------------------------------------------
    def preprocess(self, images) -> np.ndarray:
        """uint8 (N, H, W, 3) or (H, W, 3) images -> normalised (N, 3, H, W) float32."""
        try:
            x = np.asarray(images)
        except ValueError:  # a list of images of different sizes
            raise ValueError("images: expected one (N, H, W, 3) array; images of different sizes "
                             "must be resized first (datasets.transforms.resize_and_pad)") from None
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"images: expected (N, H, W, 3) RGB, got shape {x.shape}")
        if x.dtype != np.uint8:  # a float image in [0, 1] would silently be scaled twice
            raise TypeError(f"images: expected uint8 values 0-255, got dtype {x.dtype}")
        s = self.cfg.backbone_stride
        if x.shape[1] % s or x.shape[2] % s or x.shape[1] < s or x.shape[2] < s:
            raise ValueError(f"images: height and width must be positive multiples of the stride {s}, "
                             f"got {x.shape[1]}x{x.shape[2]}")
        checks.image_size("images", x.shape[1], x.shape[2])
        dtype = self.params_dtype()
        mean = np.asarray(self.cfg.pixel_mean, dtype=dtype)
        std = np.asarray(self.cfg.pixel_std, dtype=dtype)
        x = (x.astype(dtype) / 255.0 - mean) / std  # (N, H, W, 3)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # (N, 3, H, W)

    def params_dtype(self):
        return next(self.named_parameters())[1].dtype

    def anchors(self, features):
        shapes = tuple(f.shape[-2:] for f in features)
        if shapes not in self._anchors:
            self._anchors[shapes] = anchors_for_config(self.cfg, shapes)
        return self._anchors[shapes]

    # -- training -------------------------------------------------------------
    def forward(self, images, targets, rng, proposals=None):
        """Losses of a batch; keeps what ``backward`` needs.

        Args:
            images: (N, H, W, 3) uint8.
            targets: N dicts with ``boxes`` (G, 4), ``labels`` (G,) in 1..K and
                ``masks`` (G, H, W) bool (and ``keypoints`` (G, K, 3) with the keypoint head);
                optionally ``image_size`` (h, w): the image's own size when the batch
                is padded to (H, W) (``transforms.collate`` sets it).
            rng: numpy Generator for anchor and RoI sampling.
            proposals: optional list of N (P, 4) boxes replacing the RPN's
                proposals for the heads (the gradient check fixes them this way).

        Returns:
            dict: ``loss`` (the total), the ``loss_*`` terms, and statistics.
        """
        cfg = self.cfg
        x = self.preprocess(images)
        N, _, H, W = x.shape
        checks.rng("rng", rng)
        if not isinstance(targets, (list, tuple)):
            raise TypeError(f"targets: expected a list of {N} dicts (one per image), got {type(targets).__name__}")
        if len(targets) != N:
            raise ValueError(f"targets: expected {N} dicts, one per image, got {len(targets)}")
        if proposals is not None:
            if not isinstance(proposals, (list, tuple)) or len(proposals) != N:
                raise ValueError(f"proposals: expected a list of {N} (P, 4) arrays, one per image")
            proposals = [checks.real_array(f"proposals[{i}]", np.asarray(p, np.float32).reshape(-1, 4),
                                           finite=True) for i, p in enumerate(proposals)]
        num_keypoints = len(cfg.keypoint_names) if self.keypoint_head is not None else 0
        image_sizes = [_image_size(checks.mapping(f"targets[{i}]", t).get("image_size"), (H, W),
                                   f"targets[{i}]['image_size']") for i, t in enumerate(targets)]
        targets = [check_target(t, i, (H, W), cfg.num_classes, self.mask_head is not None, num_keypoints,
                                clip_size=size) for i, (t, size) in enumerate(zip(targets, image_sizes))]
        gt_boxes = [t["boxes"] for t in targets]
        gt_labels = [t["labels"] for t in targets]
        feats, backbone_cache = self.backbone.forward(x)
        props, losses, rpn_cache = self.rpn.forward(feats, self.anchors(feats), image_sizes, gt_boxes,
                                                    rng, training=True)
        if proposals is not None:
            props = [(np.asarray(p, dtype=np.float32).reshape(-1, 4), None) for p in proposals]

        # -- box branch: sample RoIs, pool, classify and refine
        sampled = [sample_rois(p[0], g, l, cfg, rng) for p, g, l in zip(props, gt_boxes, gt_labels)]
        rois = rois_with_batch_index([s[0] for s in sampled])  # (R, 5)
        labels = np.concatenate([s[1] for s in sampled])  # (R,)
        box_feats, box_pool_cache = self.box_pooler.forward(feats, rois)
        (logits, deltas), box_cache = self.box_head.forward(box_feats)
        box_losses, box_grads = fast_rcnn_losses(logits, deltas, labels,
                                                 np.concatenate([s[3] for s in sampled]),
                                                 cfg.box_smooth_l1_beta)
        losses.update(box_losses)
        stats = {"num_pos_rois": int((labels > 0).sum()), "num_rois": len(labels)}
        # every RoI head that produced a loss: (pooler, head, pool cache, head cache, d loss / d head output)
        branches = [(self.box_pooler, self.box_head, box_pool_cache, box_cache, box_grads)]

        # -- mask and keypoint branches: positive RoIs only
        pos = labels > 0
        offsets = np.cumsum([0] + [len(g) for g in gt_boxes])
        matched = np.concatenate([s[2] + o for s, o in zip(sampled, offsets)])[pos]  # into all images' gts
        if self.mask_head is not None:
            # the mask loss reads at most mask_batch_per_image positives of each image, chosen at random
            chosen = _at_most_per_image(rois[pos, 0], cfg.mask_batch_per_image, rng)  # into the positives
            losses["loss_mask"] = self._mask_branch(feats, rois[pos][chosen], labels[pos][chosen],
                                                    matched[chosen], targets, branches, stats)
        if self.keypoint_head is not None:
            losses["loss_keypoint"] = self._keypoint_branch(feats, rois[pos], matched, targets,
                                                            branches, stats)

        self._cache = (backbone_cache, rpn_cache, branches)
        total = sum(v for k, v in losses.items() if k.startswith("loss_"))
        return {"loss": float(total), **losses, **stats}

    def _mask_branch(self, feats, pos_rois, pos_labels, matched, targets, branches, stats) -> float:
        """Mask loss of the positive RoIs against their matched ground-truth masks."""
        gt_masks = np.concatenate([t["masks"] for t in targets])  # (G_total, H, W)
        mtargets = mask_targets(gt_masks, pos_rois[:, 1:], matched, 2 * self.cfg.mask_pool_size)
        if not len(pos_rois):
            return 0.0  # no positive RoI: zero loss, zero gradient
        mfeats, pool_cache = self.mask_pooler.forward(feats, pos_rois)
        mlogits, head_cache = self.mask_head.forward(mfeats)
        loss, dmask, mstats = mask_loss(mlogits, pos_labels, mtargets, self.cfg)
        w = self.cfg.mask_loss_weight
        branches.append((self.mask_pooler, self.mask_head, pool_cache, head_cache, w * dmask))
        stats.update(mstats)
        return w * float(loss)

    def _keypoint_branch(self, feats, pos_rois, matched, targets, branches, stats) -> float:
        """Keypoint loss of the positive RoIs holding at least one keypoint (as in detectron2)."""
        cfg = self.cfg
        gt_keypoints = np.concatenate([t["keypoints"] for t in targets])
        ktargets, valid = keypoint_targets(gt_keypoints, pos_rois[:, 1:], matched, cfg.keypoint_heatmap_size)
        useful = valid.any(axis=1)
        if not useful.any():
            return 0.0  # no RoI with a keypoint inside: zero loss, zero gradient
        kfeats, pool_cache = self.keypoint_pooler.forward(feats, pos_rois[useful])
        klogits, head_cache = self.keypoint_head.forward(kfeats)
        loss, dkeypoint, kstats = keypoint_loss(klogits, ktargets[useful])
        w = cfg.keypoint_loss_weight
        branches.append((self.keypoint_pooler, self.keypoint_head, pool_cache, head_cache, w * dkeypoint))
        stats.update(kstats)
        return w * float(loss)

    def backward(self) -> None:
        """Accumulate d(total loss)/d(every parameter) from the last ``forward``.

        Each head's gradient goes back through the head and its RoI op onto the
        feature maps; there the RPN's, the box head's, the mask head's (and the
        keypoint head's) gradients add up, and the backbone runs backward once.
        """
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() with targets first")
        backbone_cache, rpn_cache, branches = self._cache
        dfeats = self.rpn.backward(rpn_cache)  # one gradient per feature map
        for pooler, head, pool_cache, head_cache, dout in branches:
            _accumulate(dfeats, pooler.backward(head.backward(dout, head_cache), pool_cache))
        self.backbone.backward(dfeats, backbone_cache)
        self._cache = None

    # -- inference ------------------------------------------------------------
    def predict(self, images, with_masks: bool = True, image_sizes=None) -> list[dict]:
        """Detections for each image: boxes, labels (1..K), scores, masks (D, h, w) bool[, keypoints].

        ``image_sizes``: each image's own (h, w) when the batch (N, H, W, 3) is
        padded (as ``transforms.collate`` pads); boxes are clipped to, and masks
        have, that size. Default: every image is the whole (H, W).
        A batch of 0 images (shape (0, H, W, 3), or ``[]``) gives ``[]``.

        ``with_masks=False`` skips the mask branch: the same network used as
        plain Faster R-CNN (``benchmarks/bench_inference.py`` times both).
        """
        cfg = self.cfg
        checks.flag("with_masks", with_masks)
        if isinstance(images, (list, tuple)) and len(images) == 0:
            return []  # no images, no detections
        x = self.preprocess(images)
        N, _, H, W = x.shape
        if N == 0:
            return []
        if image_sizes is None:
            image_sizes = [(H, W)] * N
        if len(image_sizes) != N:
            raise ValueError(f"image_sizes: expected {N} (h, w) pairs, one per image, got {len(image_sizes)}")
        image_sizes = [_image_size(v, (H, W), f"image_sizes[{i}]") for i, v in enumerate(image_sizes)]
        feats, _ = self.backbone.forward(x)
        props, _, _ = self.rpn.forward(feats, self.anchors(feats), image_sizes, training=False)
        rois = rois_with_batch_index([p[0] for p in props])
        box_feats, _ = self.box_pooler.forward(feats, rois)
        (logits, deltas), _ = self.box_head.forward(box_feats)
        splits = np.cumsum([len(p[0]) for p in props])[:-1]
        results = []
        for i, (lg, dl, p) in enumerate(zip(np.split(logits, splits), np.split(deltas, splits), props)):
            boxes, scores, labels = postprocess_detections(lg, dl, p[0], image_sizes[i], cfg)
            results.append({"boxes": boxes, "labels": labels, "scores": scores})
        if self.mask_head is not None and with_masks:  # only on the final detections (<= 100 per image)
            dets = rois_with_batch_index([r["boxes"] for r in results])
            all_labels = np.concatenate([r["labels"] for r in results])
            probs = np.zeros((0, 2 * cfg.mask_pool_size, 2 * cfg.mask_pool_size))
            if len(dets):
                mfeats, _ = self.mask_pooler.forward(feats, dets)
                mlogits, _ = self.mask_head.forward(mfeats)
                probs = mask_probabilities(mlogits, all_labels, cfg)
            start = 0
            for r, size in zip(results, image_sizes):
                D = len(r["boxes"])
                r["masks"] = paste_masks(probs[start:start + D], r["boxes"], size, cfg.mask_threshold)
                start += D
        if self.keypoint_head is not None:  # also only on the final detections
            dets = rois_with_batch_index([r["boxes"] for r in results])
            keypoints = np.zeros((0, len(cfg.keypoint_names), 3), dtype=np.float32)
            if len(dets):
                kfeats, _ = self.keypoint_pooler.forward(feats, dets)
                klogits, _ = self.keypoint_head.forward(kfeats)
                keypoints = heatmaps_to_keypoints(klogits, dets[:, 1:])  # (D, K, 3) [x, y, score]
            start = 0
            for r in results:
                r["keypoints"] = keypoints[start:start + len(r["boxes"])]
                start += len(r["boxes"])
        return results

    # -- persistence ----------------------------------------------------------
    @property
    def category_ids(self) -> tuple[int, ...]:
        """The training dataset's category id of each label 1..K (``category_ids[k - 1]`` for label k).

        Set by ``train`` from the dataset (a COCO folder's ids, e.g. 3, 7, 11, 12, 20),
        stored in every checkpoint beside ``cfg.class_names``; 1..K for generated data
        and for checkpoints written before the ids were stored (see ``categories.py``).
        """
        ids = getattr(self, "_category_ids", None)
        return ids if ids is not None else default_category_ids(self.cfg.num_classes)

    @category_ids.setter
    def category_ids(self, ids) -> None:
        self._category_ids = check_category_ids("category_ids", ids, self.cfg.num_classes)

    def save(self, path: str) -> None:
        """Write parameters, config and category ids to ``path`` (.npz, no pickle), atomically."""
        atomic_savez(path, self.checkpoint_arrays())

    def checkpoint_arrays(self) -> dict:
        arrays = {f"param/{k}": v for k, v in self.state_dict().items()}
        arrays["config"] = np.array(self.cfg.to_json())
        arrays["category_ids"] = np.array(self.category_ids, dtype=np.int64)
        return arrays

    @classmethod
    def load(cls, path: str, cfg: Config | None = None) -> "MaskRCNN":
        """Rebuild a model from a checkpoint; ``cfg``, if given, must equal the stored one."""
        data = load_npz(path)
        if "config" not in data or data["config"].dtype.kind != "U" or data["config"].ndim != 0:
            raise ValueError(f"checkpoint {path!r} has no 'config' text entry: not a minimaskrcnn checkpoint")
        stored = Config.from_json(str(data["config"]), f"checkpoint {path!r}: config")
        if cfg is not None and cfg != stored:
            mine, theirs = cfg.to_dict(), stored.to_dict()
            diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
            raise ValueError(f"checkpoint {path!r}: config differs (requested, stored): {diff}")
        model = cls(stored)
        try:
            model.load_state_dict({k[6:]: v for k, v in data.items() if k.startswith("param/")})
        except (TypeError, ValueError) as e:
            raise type(e)(f"checkpoint {path!r}: {e}") from None
        for name, p, _ in model.named_parameters():  # a NaN weight would silently give NaN detections
            if not np.isfinite(p).all():
                raise ValueError(f"checkpoint {path!r}: parameter {name!r} holds NaN or infinite values")
        if "category_ids" in data:  # older checkpoints have none: ids 1..K
            ids = data["category_ids"]
            if ids.dtype.kind not in "iu" or ids.ndim != 1:
                raise ValueError(f"checkpoint {path!r}: 'category_ids' must be a 1-d integer array, "
                                 f"got {ids.dtype} {ids.shape}")
            try:
                model.category_ids = ids.tolist()
            except ValueError as e:
                raise ValueError(f"checkpoint {path!r}: {e}") from None
        return model


def check_target(t: dict, i: int, image_size, num_classes: int, need_masks: bool,
                 num_keypoints: int = 0, clip_size=None) -> dict:
    """Validate one image's target dict; clip boxes to the image; drop zero-width or zero-height boxes.

    ``image_size`` (H, W) is the batch's (the masks' shape); ``clip_size`` (h, w), the
    image's own size inside a padded batch (default: the whole H, W), bounds the boxes.

    A box partly outside the image is clipped to it (the part outside holds no
    pixels to learn from); a box entirely outside it (no area left after
    clipping, yet positive area before) is an error, since it cannot describe
    an object of this image. Degenerate boxes (e.g. an object clipped away by a
    crop) carry no object to learn and cannot be box-encoded (log of a zero
    width), so they are removed with their labels and masks. Masks must be bool
    or exactly 0/1. Anything malformed raises ``TypeError`` / ``ValueError``
    naming ``targets[i][key]``.
    """
    H, W = image_size
    h, w = image_size if clip_size is None else clip_size
    name = f"targets[{i}]"
    required = ("boxes", "labels") + (("masks",) if need_masks else ()) + (("keypoints",) if num_keypoints else ())
    checks.mapping(name, t, required)
    boxes = checks.real_array(f"{name}['boxes']", t["boxes"]).astype(np.float32)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)  # an image without objects may give [] for its boxes
    raw_labels = checks.real_array(f"{name}['labels']", t["labels"]).reshape(-1)
    if raw_labels.size and not np.array_equal(raw_labels, np.round(raw_labels.astype(np.float64))):
        raise ValueError(f"targets[{i}]['labels']: expected integer class labels, got {raw_labels.tolist()}")
    labels = raw_labels.astype(np.int64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != len(labels):
        raise ValueError(f"targets[{i}]['boxes']: expected (G, 4) with G = len(labels) = {len(labels)}, "
                         f"got shape {boxes.shape}")
    if not np.isfinite(boxes).all() or (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"targets[{i}]['boxes']: need finite (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1")
    if len(labels) and (labels.min() < 1 or labels.max() > num_classes):
        raise ValueError(f"targets[{i}]['labels']: expected values in 1..{num_classes} (0 is background)")
    clipped = np.clip(boxes, 0, np.array([w, h, w, h], dtype=np.float32))
    had_area = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    gone = had_area & ~((clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1]))
    if gone.any():
        g = int(np.flatnonzero(gone)[0])
        raise ValueError(f"targets[{i}]['boxes'][{g}] = {boxes[g].tolist()}: lies entirely outside the "
                         f"{h}x{w} image (x in [0, {w}], y in [0, {h}])")
    boxes = clipped
    out = {"boxes": boxes, "labels": labels}
    if need_masks:
        masks = checks.binary_masks(f"{name}['masks']", t["masks"])
        if masks.shape != (len(labels), H, W):
            raise ValueError(f"targets[{i}]['masks']: expected shape {(len(labels), H, W)}, got {masks.shape}")
        out["masks"] = masks
    if num_keypoints:
        keypoints = checks.real_array(f"{name}['keypoints']", t["keypoints"]).astype(np.float32)
        if keypoints.shape != (len(labels), num_keypoints, 3) or not np.isfinite(keypoints).all():
            raise ValueError(f"targets[{i}]['keypoints']: expected finite [x, y, v] rows of shape "
                             f"{(len(labels), num_keypoints, 3)}, got {keypoints.shape}")
        out["keypoints"] = keypoints
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return {k: v[keep] for k, v in out.items()}


def _image_size(value, batch_hw, name: str) -> tuple[int, int]:
    """An image's own (h, w) inside a batch of (H, W): positive ints, at most the batch's size."""
    if value is None:
        return tuple(batch_hw)
    try:
        h, w = (int(v) for v in value)
        ok = (h, w) == tuple(value)
    except (TypeError, ValueError):
        ok = False
    if not ok or not (1 <= h <= batch_hw[0] and 1 <= w <= batch_hw[1]):
        raise ValueError(f"{name}: expected (h, w) integers with 1 <= h <= {batch_hw[0]} and "
                         f"1 <= w <= {batch_hw[1]} (the batch's size), got {value!r}")
    return h, w


def _at_most_per_image(image_index: np.ndarray, limit: int, rng) -> np.ndarray:
    """Sorted indices of at most ``limit`` rows per image (``image_index`` (P,), sorted by image)."""
    keep = []
    for i in np.unique(image_index):
        rows = np.flatnonzero(image_index == i)
        keep.append(rows if len(rows) <= limit else np.sort(rng.choice(rows, size=limit, replace=False)))
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)


def _accumulate(into: list, grads: list) -> None:
    for i, g in enumerate(grads):
        if g is not None:
            into[i] = g if into[i] is None else into[i] + g
