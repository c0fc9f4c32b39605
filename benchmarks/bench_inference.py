"""What does the mask branch cost at test time? Inference with it on and off.

    python benchmarks/bench_inference.py [--checkpoint data/toy_model.npz] [--images 64] [--batch 1]

Times ``model.predict`` per image on generated shapes (the default config's
128x128 images) twice with the same weights: the whole Mask R-CNN, and the
same network with the mask branch skipped (plain Faster R-CNN). The mask
branch runs only on the final detections (<= 100 per image), as in the paper.

The paper's figures (ResNet-101-FPN, 800-pixel images, one GPU): Mask R-CNN
5 fps, Faster R-CNN 7 fps. Target here: mask overhead <= 25%.
Each configuration is timed ``--repeats`` times; the best pass is reported
(other processes only ever make a pass slower).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from minimaskrcnn.datasets import ShapesConfig, ShapesDataset
from minimaskrcnn.model import MaskRCNN

DEFAULT = os.path.join(os.path.dirname(__file__), "..", "data", "toy_model.npz")


def seconds_per_image(model, images, batch: int, with_masks: bool, repeats: int) -> tuple[float, float]:
    """(best seconds per image over ``repeats`` passes, mean detections per image)."""
    model.predict(images[:batch], with_masks=with_masks)  # warm-up: compile, buffers
    best, dets = np.inf, 0
    for _ in range(repeats):
        start = time.perf_counter()
        dets = 0
        for i in range(0, len(images), batch):
            dets += sum(len(p["boxes"]) for p in model.predict(images[i:i + batch], with_masks=with_masks))
        best = min(best, (time.perf_counter() - start) / len(images))
    return best, dets / len(images)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=DEFAULT, help="model to time (default: data/toy_model.npz)")
    p.add_argument("--images", type=int, default=64, help="shapes images per pass (default: 64)")
    p.add_argument("--batch", type=int, default=1, help="images per predict call (default: 1)")
    p.add_argument("--repeats", type=int, default=3, help="passes per configuration (default: 3)")
    args = p.parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        print(f"no checkpoint at {args.checkpoint}", file=sys.stderr)
        return 2
    model = MaskRCNN.load(args.checkpoint)
    data = ShapesDataset(args.images, seed=4242, config=ShapesConfig(image_size=model.cfg.image_size))
    images = np.stack([data[i]["image"] for i in range(len(data))])
    on, dets = seconds_per_image(model, images, args.batch, True, args.repeats)
    off, _ = seconds_per_image(model, images, args.batch, False, args.repeats)
    print(f"{len(images)} shapes images {model.cfg.image_size}x{model.cfg.image_size}, batch {args.batch}, "
          f"{dets:.1f} detections per image (the mask branch's RoIs)")
    print(f"{'':24s}{'ms/image':>10s}{'images/s':>10s}")
    print(f"{'Faster R-CNN (no masks)':24s}{off * 1e3:10.2f}{1 / off:10.1f}")
    print(f"{'Mask R-CNN':24s}{on * 1e3:10.2f}{1 / on:10.1f}")
    print(f"mask branch overhead: {100 * (on / off - 1):.0f}% more time per image "
          f"(images/s ratio {off / on:.2f})")
    print(f"paper: 7 fps -> 5 fps, {100 * (7 / 5 - 1):.0f}% more time per image (ratio {5 / 7:.2f}); "
          "target here: <= 25%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
