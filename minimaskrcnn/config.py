"""Every model and training setting in one plain dataclass.

The defaults describe the model the project ships, for 128x128 toy-shapes
images with three classes: a tiny ResNet whose last stage has stride 16, with
a feature pyramid (FPN) over strides 4, 8 and 16. ``use_fpn=False`` gives the
paper's single-level "C4" layout instead: the heads then read only the
stride-16 map (8x8 cells for a 128x128 image). On the toy data the pyramid
learns about twice as fast per step and localises masks better (measured:
mask AP 0.75 vs 0.65 after 1200 steps), because small shapes get stride-4 and
stride-8 features. Change a field and every stage reads the new value from
here; nothing else holds a hyper-parameter.

    >>> cfg = Config(use_fpn=False, roi_op="roi_pool")
    >>> Config.from_json(cfg.to_json()) == cfg
    True

Label convention everywhere: 0 is background, 1..num_classes are the classes
named in ``class_names`` (``class_names[0]`` is label 1).

Ablation switches (the paper's Table 2, all on the same code path):

* ``roi_op``: ``"align_avg"`` (paper, torchvision), ``"align_max"`` (the
  lecture's drawing), ``"roi_pool"`` (Fast R-CNN's quantised pooling);
* ``mask_loss``: ``"sigmoid"`` (decoupled per-class binary masks) or
  ``"softmax"`` (per-pixel multinomial over background + classes);
* ``mask_head``: ``"fcn"`` or ``"mlp"``;
* ``class_agnostic_masks``: one mask per RoI instead of one per class;
* ``mask_on``: ``False`` gives plain Faster R-CNN.

Keypoints (the paper's pose-estimation extension, ``model/keypoint_head.py``):
``keypoint_on=True`` adds a keypoint head predicting one m x m heatmap per
name in ``keypoint_names`` (default: the toy stick figures' nine, see
``datasets/keypoints.py``; set ``class_names=("person",)`` to match them).
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, fields

ROI_OPS = ("align_avg", "align_max", "roi_pool")
MASK_LOSSES = ("sigmoid", "softmax")
MASK_HEADS = ("fcn", "mlp")
LR_SCHEDULES = ("cosine", "step")


@dataclass
class Config:
    # -- data -----------------------------------------------------------------
    class_names: tuple[str, ...] = ("circle", "square", "triangle")
    image_size: int = 128  # longer side images are resized to (aspect kept; a batch is padded to its largest)
    pixel_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # after /255
    pixel_std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    # -- backbone: tiny ResNet -----------------------------------------------
    stem_channels: int = 16  # 3x3 stride-2 stem conv
    stage_channels: tuple[int, ...] = (16, 32, 64)  # one stage per stride doubling
    stage_blocks: tuple[int, ...] = (1, 1, 1)  # residual basic blocks per stage
    num_groups: int = 8  # GroupNorm groups (batch sizes are tiny)
    zero_init_residual: bool = False  # each block's last GroupNorm scale starts at 0 (the block starts as identity)
    # Total stride of the single-level model = 2 (stem) * 2 ** len(stage_channels).

    # -- FPN (optional) -------------------------------------------------------
    use_fpn: bool = True
    fpn_channels: int = 32
    fpn_levels: tuple[int, ...] = (2, 3, 4)  # P2..P4: strides 4, 8, 16
    fpn_canonical_size: float = 64.0  # an RoI of this sqrt(area) goes to level
    fpn_canonical_level: int = 3  # ... this one: k = floor(k0 + log2(sqrt(wh) / size))

    # -- anchors and RPN ------------------------------------------------------
    # Single-level: all sizes on the one map. FPN: one size per level, in order.
    anchor_sizes: tuple[float, ...] = (16.0, 32.0, 64.0)
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)  # height / width
    anchor_offset: float = 0.0  # centres at (x + offset) * stride: see model/anchors.py
    rpn_channels: int = 32
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    rpn_batch_per_image: int = 256
    rpn_positive_fraction: float = 0.5
    rpn_smooth_l1_beta: float = 1.0 / 9.0
    # proposals: the best pre_nms_topk anchors of each level go through NMS, the best
    # post_nms_topk boxes of the image are kept (the paper: 2000 / 1000 on 800-px images,
    # ~100k anchors; a 128-px toy image has ~4k anchors and at most a few objects)
    rpn_pre_nms_topk_train: int = 300  # per level
    rpn_post_nms_topk_train: int = 150  # per image
    rpn_pre_nms_topk_test: int = 300
    rpn_post_nms_topk_test: int = 100
    rpn_nms_thresh: float = 0.7
    rpn_min_size: float = 1e-3

    # -- RoI heads ------------------------------------------------------------
    roi_op: str = "align_avg"
    roi_sampling_ratio: int = 2
    roi_aligned: bool = True
    roi_batch_per_image: int = 64
    roi_positive_fraction: float = 0.5
    roi_fg_iou: float = 0.5
    box_pool_size: int = 7
    box_fc_dim: int = 192  # paper: 1024; 256 here measured +1 box AP, but 5.5 MB of weights
    box_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    box_smooth_l1_beta: float = 1.0 / 9.0
    score_thresh: float = 0.05
    detect_nms_thresh: float = 0.5
    detections_per_image: int = 100
    box_min_size: float = 1e-2  # detections narrower or lower than this are dropped

    # -- mask head ------------------------------------------------------------
    mask_on: bool = True
    mask_head: str = "fcn"
    mask_loss: str = "sigmoid"
    class_agnostic_masks: bool = False
    mask_pool_size: int = 14
    mask_conv_dim: int = 16  # paper: 256; 32 measured +1 mask AP but 2x the mask branch's time
    mask_num_convs: int = 4
    mask_mlp_dim: int = 256
    mask_threshold: float = 0.5
    mask_loss_weight: float = 1.0  # multiplies the mask loss in the total (the paper: 1)
    mask_batch_per_image: int = 8  # the mask loss reads at most this many positive RoIs per image
    head_norm_groups: int = 0  # > 0: GroupNorm with this many groups after each FCN mask-head conv

    # -- keypoint head (off by default) ---------------------------------------
    keypoint_on: bool = False
    keypoint_names: tuple[str, ...] = ("head", "neck", "pelvis", "left_elbow", "right_elbow",
                                       "left_hand", "right_hand", "left_foot", "right_foot")
    keypoint_pool_size: int = 14  # heatmaps are 2x this, 4x with keypoint_upsample
    keypoint_conv_dim: int = 64
    keypoint_num_convs: int = 4
    keypoint_upsample: bool = True  # final 2x bilinear upsample of the heatmaps
    keypoint_loss_weight: float = 1.0

    # -- training -------------------------------------------------------------
    batch_size: int = 8
    steps: int = 1000
    base_lr: float = 0.04
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    lr_schedule: str = "cosine"  # "cosine": half cosine to 0 at `steps`; "step": x lr_gamma at each milestone
    lr_milestones: tuple[int, ...] = (750, 900)  # with lr_schedule="step"
    lr_gamma: float = 0.1
    clip_grad_norm: float = 10.0
    hflip_prob: float = 0.5
    seed: int = 0

    # -- augmentation (datasets/augment.py): learn shapes, not one generator ----------------
    augment: bool = True  # False: training images exactly as the dataset gives them (+ flips)
    aug_scale_prob: float = 0.5  # chance of a zoom; factor log-uniform in aug_scale_range
    aug_scale_range: tuple[float, float] = (0.7, 1.4)
    aug_background_prob: float = 0.5  # chance of repainting the background (flat/gradient/texture)
    aug_color: float = 0.5  # strength in [0, 1] of colour, brightness, contrast, saturation jitter
    aug_noise: float = 10.0  # largest std of the Gaussian pixel noise, in 0-255 grey levels
    # generated training shapes (datasets/shapes.py), drawn more varied and denser than the
    # classic evaluation set: more objects per image teach more per backbone pass
    train_shape_jitter: float = 0.5  # ShapesConfig.shape_jitter: triangle proportions, 0 = classic
    train_shape_turn: float = 0.0  # ShapesConfig.shape_turn: degrees squares and triangles may turn
    train_instances: tuple[int, int] = (2, 6)  # shapes drawn per image (the classic set: 1-4)
    train_size_range: tuple[float, float] = (0.12, 0.45)  # shape size / image side (classic: 0.15-0.4)

    def __post_init__(self) -> None:
        self.validate()

    # -- derived values -------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def backbone_stride(self) -> int:
        return 2 ** (1 + len(self.stage_channels))

    @property
    def feature_strides(self) -> tuple[int, ...]:
        """Strides of the maps the RPN and RoI heads read, finest first."""
        if self.use_fpn:
            return tuple(2**k for k in self.fpn_levels)
        return (self.backbone_stride,)

    @property
    def keypoint_heatmap_size(self) -> int:
        return self.keypoint_pool_size * (4 if self.keypoint_upsample else 2)

    def training_shapes(self):
        """The ``ShapesConfig`` of the generated training images (``train_*`` fields)."""
        from minimaskrcnn.datasets.shapes import ShapesConfig

        return ShapesConfig(image_size=self.image_size, shape_jitter=self.train_shape_jitter,
                            shape_turn=self.train_shape_turn,
                            min_instances=self.train_instances[0], max_instances=self.train_instances[1],
                            size_range=self.train_size_range)

    @property
    def num_mask_channels(self) -> int:
        foreground = 1 if self.class_agnostic_masks else self.num_classes
        return foreground + (1 if self.mask_loss == "softmax" else 0)  # softmax: + background

    # -- checks ---------------------------------------------------------------
    @classmethod
    def check_type(cls, name: str, value) -> None:
        """``TypeError`` unless ``value`` has the type of field ``name``'s default (ints pass as floats).

        Tuples (or lists) are checked element by element against the default's first element.
        """
        default = cls.__dataclass_fields__[name].default
        if isinstance(default, tuple):
            ok = isinstance(value, (tuple, list)) and all(_same_kind(v, default[0]) for v in value)
        else:
            ok = _same_kind(value, default)
        if not ok:
            what = (f"a tuple of {type(default[0]).__name__}" if isinstance(default, tuple)
                    else f"a value of type {type(default).__name__}")
            raise TypeError(f"Config.{name} = {value!r}: expected {what}, like the default {default!r}")

    def validate(self) -> None:
        """Check every field's type and range; ``TypeError`` / ``ValueError`` naming the field."""
        def need(cond: bool, name: str, expected: str) -> None:
            if not cond:
                raise ValueError(f"Config.{name} = {getattr(self, name)!r}: expected {expected}")

        def at_least(name: str, low) -> None:
            need(getattr(self, name) >= low, name, f"an integer >= {low}")

        def between(name: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> None:
            v = getattr(self, name)
            ok = math.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
            need(ok, name, f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}")

        def non_negative(name: str) -> None:
            v = getattr(self, name)
            need(math.isfinite(v) and v >= 0, name, "a finite number >= 0")

        def positive(name: str, allow_inf: bool = False) -> None:
            v = getattr(self, name)
            need(v > 0 and (allow_inf or math.isfinite(v)), name, "a positive number")

        def positives(name: str, length: int | None = None) -> None:
            v = getattr(self, name)
            ok = len(v) >= 1 and (length is None or len(v) == length) and all(math.isfinite(x) and x > 0 for x in v)
            need(ok, name, f"{length or 'at least one'} positive number{'s' if length != 1 else ''}")

        def names(name: str) -> None:
            v = getattr(self, name)
            need(len(v) >= 1 and all(v) and len(set(v)) == len(v), name, "at least one non-empty name, no duplicates")

        for f in fields(self):
            self.check_type(f.name, getattr(self, f.name))

        # -- data
        names("class_names")
        need(len(self.pixel_mean) == 3 and all(math.isfinite(v) for v in self.pixel_mean), "pixel_mean",
             "three finite numbers (R, G, B, after /255)")
        positives("pixel_std", 3)
        # -- backbone
        at_least("stem_channels", 1)
        need(len(self.stage_channels) >= 1 and all(c >= 1 for c in self.stage_channels), "stage_channels",
             "at least one stage, channels >= 1")
        need(len(self.stage_channels) == len(self.stage_blocks) and all(b >= 1 for b in self.stage_blocks),
             "stage_blocks", "one block count >= 1 per entry of stage_channels")
        at_least("num_groups", 1)
        need(all(c % self.num_groups == 0 for c in (self.stem_channels, *self.stage_channels)),
             "num_groups", "a divisor of stem_channels and every stage_channels entry")
        need(self.image_size >= self.backbone_stride and self.image_size % self.backbone_stride == 0,
             "image_size", f"a positive multiple of the backbone stride {self.backbone_stride}")
        # -- FPN
        at_least("fpn_channels", 1)
        positive("fpn_canonical_size")
        if self.use_fpn:
            top = 1 + len(self.stage_channels)
            need(len(self.fpn_levels) >= 1 and 2 <= self.fpn_levels[0] and self.fpn_levels[-1] <= top
                 and list(self.fpn_levels) == list(range(self.fpn_levels[0], self.fpn_levels[-1] + 1)),
                 "fpn_levels", f"consecutive increasing levels between 2 and {top}")
            need(len(self.anchor_sizes) == len(self.fpn_levels), "anchor_sizes",
                 "one anchor size per FPN level")
            need(self.fpn_channels % self.num_groups == 0, "fpn_channels",
                 "a multiple of num_groups")
            need(self.fpn_levels[0] <= self.fpn_canonical_level <= self.fpn_levels[-1], "fpn_canonical_level",
                 f"one of the fpn_levels {tuple(self.fpn_levels)}")
        # -- anchors and RPN
        positives("anchor_sizes")
        need(len(self.anchor_ratios) >= 1 and all(math.isfinite(v) and v > 0 for v in self.anchor_ratios),
             "anchor_ratios", "at least one positive height/width ratio")
        between("anchor_offset", 0.0, 1.0)
        at_least("rpn_channels", 1)
        need(0.0 <= self.rpn_bg_iou <= self.rpn_fg_iou <= 1.0, "rpn_fg_iou",
             "rpn_bg_iou <= rpn_fg_iou, both in [0, 1]")
        between("rpn_bg_iou", 0.0, 1.0)
        at_least("rpn_batch_per_image", 1)
        between("rpn_positive_fraction", 0.0, 1.0, low_open=True)
        non_negative("rpn_smooth_l1_beta")
        for name in ("rpn_pre_nms_topk_train", "rpn_post_nms_topk_train", "rpn_pre_nms_topk_test",
                     "rpn_post_nms_topk_test"):
            at_least(name, 1)
        between("rpn_nms_thresh", 0.0, 1.0)
        non_negative("rpn_min_size")
        # -- RoI heads
        need(self.roi_op in ROI_OPS, "roi_op", f"one of {ROI_OPS}")
        need(self.roi_sampling_ratio <= 64, "roi_sampling_ratio",
             "an integer <= 64 (samples per bin side; <= 0 means adaptive)")
        at_least("roi_batch_per_image", 1)
        between("roi_positive_fraction", 0.0, 1.0, low_open=True)
        between("roi_fg_iou", 0.0, 1.0)
        at_least("box_pool_size", 1)
        at_least("box_fc_dim", 1)
        positives("box_reg_weights", 4)
        non_negative("box_smooth_l1_beta")
        between("score_thresh", 0.0, 1.0)
        between("detect_nms_thresh", 0.0, 1.0)
        at_least("detections_per_image", 1)
        non_negative("box_min_size")
        # -- mask head
        need(self.mask_loss in MASK_LOSSES, "mask_loss", f"one of {MASK_LOSSES}")
        need(self.mask_head in MASK_HEADS, "mask_head", f"one of {MASK_HEADS}")
        at_least("mask_pool_size", 2)
        at_least("mask_conv_dim", 1)
        at_least("mask_num_convs", 0)
        at_least("mask_mlp_dim", 1)
        at_least("mask_batch_per_image", 1)
        need(self.head_norm_groups >= 0 and (self.head_norm_groups == 0
                                             or self.mask_conv_dim % self.head_norm_groups == 0),
             "head_norm_groups", "0 (no norm) or a divisor of mask_conv_dim")
        between("mask_threshold", 0.0, 1.0, low_open=True, high_open=True)
        # -- keypoint head
        names("keypoint_names")
        at_least("keypoint_pool_size", 2)
        at_least("keypoint_conv_dim", 1)
        at_least("keypoint_num_convs", 1)
        non_negative("keypoint_loss_weight")
        # -- training
        at_least("batch_size", 1)
        at_least("steps", 1)
        positive("base_lr")
        between("momentum", 0.0, 1.0, high_open=True)
        non_negative("weight_decay")
        at_least("warmup_steps", 0)
        need(all(m >= 0 for m in self.lr_milestones) and list(self.lr_milestones) == sorted(self.lr_milestones),
             "lr_milestones", "non-decreasing steps >= 0")
        between("lr_gamma", 0.0, 1.0, low_open=True)
        positive("clip_grad_norm", allow_inf=True)
        between("hflip_prob", 0.0, 1.0)
        at_least("seed", 0)
        need(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"one of {LR_SCHEDULES}")
        # -- augmentation and training shapes
        for name in ("aug_scale_prob", "aug_background_prob", "aug_color", "train_shape_jitter"):
            between(name, 0.0, 1.0)
        between("aug_noise", 0.0, 128.0)
        between("train_shape_turn", 0.0, 180.0)
        need(len(self.train_instances) == 2 and 1 <= self.train_instances[0] <= self.train_instances[1],
             "train_instances", "(min, max) with 1 <= min <= max")
        need(len(self.train_size_range) == 2 and 0 < self.train_size_range[0] <= self.train_size_range[1] <= 1,
             "train_size_range", "(low, high) with 0 < low <= high <= 1")
        lo_hi = self.aug_scale_range
        need(len(lo_hi) == 2 and 0 < lo_hi[0] <= lo_hi[1] <= 4, "aug_scale_range",
             "(low, high) zoom factors with 0 < low <= high <= 4")

    # -- I/O ------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        if not isinstance(d, dict):
            raise TypeError(f"Config.from_dict: expected a JSON object of fields, got a {type(d).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown Config fields: {unknown}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str, source: str = "Config JSON") -> "Config":
        """Parse ``text``; errors name ``source`` (e.g. the file it came from)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: not valid JSON ({e})") from None
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{source}: {e}") from None

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def display(self) -> str:
        """The settings as an aligned two-column table, grouped as in the source."""
        width = max(len(f.name) for f in fields(self))
        lines = [f"{f.name:<{width}}  {getattr(self, f.name)!r}" for f in fields(self)]
        extra = {
            "num_classes": self.num_classes,
            "feature_strides": self.feature_strides,
            "num_mask_channels": self.num_mask_channels,
        }
        if self.keypoint_on:
            extra["keypoint_heatmap_size"] = self.keypoint_heatmap_size
        lines += [f"{k:<{width}}  {v!r}  (derived)" for k, v in extra.items()]
        return "\n".join(lines)


def _same_kind(value, default) -> bool:
    """Does ``value`` have the type of ``default``? (ints pass as floats; bools only as bools)."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def _plain(v):
    return list(v) if isinstance(v, tuple) else v
