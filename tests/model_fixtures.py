"""Tiny configurations and hand-made targets shared by the model tests."""
import numpy as np

from minimaskrcnn.config import Config

TINY = dict(
    image_size=32, stem_channels=4, stage_channels=(4, 8, 8), num_groups=2, rpn_channels=8,
    anchor_sizes=(8.0, 16.0, 32.0), rpn_batch_per_image=32, roi_batch_per_image=16,
    box_pool_size=3, box_fc_dim=16, mask_pool_size=4, mask_conv_dim=4, mask_num_convs=2,
    mask_mlp_dim=8, fpn_channels=4, batch_size=2,
)


def tiny_config(**changes) -> Config:
    return Config(**{**TINY, **changes})


def box_mask(box, size):
    """Boolean (size, size) mask filling the pixel box [x1, x2) x [y1, y2)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    m = np.zeros((size, size), bool)
    m[y1:y2, x1:x2] = True
    return m


def disc_mask(cx, cy, r, size):
    yy, xx = np.mgrid[:size, :size] + 0.5
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def tiny_batch(seed=0, size=32):
    """Two RGB images with 2 and 1 objects, their boxes, labels (1..3) and masks."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, size=(2, size, size, 3), dtype=np.uint8)
    m0 = [box_mask((2, 3, 14, 12), size), disc_mask(22, 20, 6, size)]
    m1 = [box_mask((8, 6, 28, 26), size)]
    targets = []
    for masks, labels in ((m0, [2, 1]), (m1, [3])):
        masks = np.stack(masks)
        boxes = []
        for m in masks:
            ys, xs = np.nonzero(m)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        targets.append({"boxes": np.array(boxes, np.float32), "labels": np.array(labels),
                        "masks": masks})
    return images, targets


def check_coordinates(grad, rng, k=2):
    """The k largest-gradient coordinates (checked well above round-off) plus k random ones."""
    flat = np.abs(grad.reshape(-1))
    top = np.argsort(-flat)[:k]
    return np.unique(np.concatenate([top, rng.choice(flat.size, size=min(k, flat.size), replace=False)]))


def assert_backward_accumulates(module, x, seed=0, backward=None):
    """Two backward passes with one upstream gradient give twice the parameter gradients.

    ``backward(module, dout, cache)`` defaults to ``module.backward(dout, cache)``; the
    forward output may be an array or a tuple/list of arrays (one upstream gradient each).
    """
    rng = np.random.default_rng(seed)
    out, cache = module.forward(x)
    dout = ([rng.standard_normal(o.shape).astype(o.dtype) for o in out] if isinstance(out, (tuple, list))
            else rng.standard_normal(out.shape).astype(out.dtype))
    if isinstance(out, tuple):
        dout = tuple(dout)
    run = backward or (lambda m, d, c: m.backward(d, c))
    module.zero_grad()
    run(module, dout, cache)
    once = {k: g.copy() for k, _, g in module.named_parameters()}
    run(module, dout, cache)
    for k, _, g in module.named_parameters():
        assert once[k].any(), k
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-4, atol=1e-6, err_msg=k)
