"""Mask and box AP of a checkpoint on fresh shapes of both generators (the figures in data/README.md).

    python benchmarks/eval_generators.py                              # data/toy_model.npz, 500 + 500 images
    python benchmarks/eval_generators.py --checkpoint runs/toy/model_final.npz --images 200

Images come from seed 20261127 (never used for training) of ``datasets/shapes.py`` (ours)
and ``datasets/other_shapes.py`` (anti-aliased, flat noiseless backgrounds, other colours,
proportions and sizes). Prints AP, AP50, AP75, APs, APm for masks and boxes, mask AP per
class, and the gap between the generators (target: within 0.03). With 200 images the AP
moves by about +-0.03 between seeds; use 500 or more to compare the generators.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from minimaskrcnn.datasets import ShapesConfig, ShapesDataset  # noqa: E402
from minimaskrcnn.datasets.other_shapes import OtherShapesDataset  # noqa: E402
from minimaskrcnn.inference import evaluate_model  # noqa: E402
from minimaskrcnn.model import MaskRCNN  # noqa: E402

SEED = 20261127


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=os.path.join(os.path.dirname(__file__), "..", "data", "toy_model.npz"))
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    model = MaskRCNN.load(args.checkpoint)
    keys = ("AP", "AP50", "AP75", "APs", "APm")
    mask_ap = {}
    print(f"{'':18}" + "".join(f"{'mask ' + k:>10}" for k in keys) + "".join(f"{'box ' + k:>9}" for k in keys[:2]))
    for name, ds in (("our generator", ShapesDataset(args.images, seed=SEED,
                                                     config=ShapesConfig(image_size=model.cfg.image_size))),
                     ("other generator", OtherShapesDataset(args.images, seed=SEED))):
        r = evaluate_model(model, ds)
        s, b = r["segm"].stats, r["bbox"].stats
        mask_ap[name] = s["AP"]
        print(f"{name:<18}" + "".join(f"{s[k]:10.3f}" for k in keys) + "".join(f"{b[k]:9.3f}" for k in keys[:2]))
        print(f"{'':18}mask AP per class: " + ", ".join(f"{c} {v:.3f}" for c, v in r["segm"].per_class_ap.items()))
    gap = mask_ap["our generator"] - mask_ap["other generator"]
    print(f"gap in mask AP: {gap:.3f} ({'within' if abs(gap) <= 0.03 else 'NOT within'} 0.03) on "
          f"{args.images} + {args.images} images")


if __name__ == "__main__":
    main()
