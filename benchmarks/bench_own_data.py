"""Own data with no settings: `train --data DIR --val-data DIR` on the second toy dataset.

    python benchmarks/bench_own_data.py                      # 1,000 train / 200 val images of make-objects
    python benchmarks/bench_own_data.py --train DIR --val DIR  # any COCO folders
    python benchmarks/bench_own_data.py --set steps=300       # extra flags go to train as --set

Writes the folders with ``make-objects`` when they are missing (train seed 0,
val seed 1 with image ids from 100000), then runs exactly what a user types,
``python -m minimaskrcnn train --data TRAIN --val-data VAL --out OUT``, in a
subprocess, and prints the settings it chose (its first lines), the wall time of
the whole run (the final evaluation included) and the box and mask AP, overall and
per class, of the final model on the val folder.

Target (issue "your own data"): with no settings, the run ends by itself within
10 minutes on 2 cores with mask AP >= 0.55.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from minimaskrcnn.datasets import CocoDataset  # noqa: E402
from minimaskrcnn.datasets.objects import write_objects_folder  # noqa: E402
from minimaskrcnn.inference import evaluate_model  # noqa: E402
from minimaskrcnn.model import MaskRCNN  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", default="runs/bench_objects/train", metavar="DIR")
    parser.add_argument("--val", default="runs/bench_objects/val", metavar="DIR")
    parser.add_argument("--train-images", type=int, default=1000)
    parser.add_argument("--val-images", type=int, default=200)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    for folder, n, seed, first in ((args.train, args.train_images, 0, 1), (args.val, args.val_images, 1, 100000)):
        if not (Path(folder) / "annotations.json").exists():
            print(f"writing {n} images to {folder}", flush=True)
            write_objects_folder(folder, n, seed=seed, first_image_id=first)
    out = tempfile.mkdtemp(prefix="bench_own_data_")
    argv = [sys.executable, "-m", "minimaskrcnn", "train", "--data", args.train, "--val-data", args.val,
            "--out", os.path.join(out, "run"), "--no-progress"]
    for item in args.set:
        argv += ["--set", item]
    print("$", " ".join(argv[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    wall = time.perf_counter() - start
    model = MaskRCNN.load(os.path.join(out, "run", "model_final.npz"))
    results = evaluate_model(model, CocoDataset(args.val))
    print(f"\nwall time of the whole run: {wall:.0f} s ({wall / 60:.1f} min; target <= 10 min)")
    for iou_type in ("bbox", "segm"):
        r = results[iou_type]
        print(f"{iou_type}: AP {r.stats['AP']:.3f} AP50 {r.stats['AP50']:.3f} AP75 {r.stats['AP75']:.3f} "
              f"APs {r.stats['APs']:.3f} APm {r.stats['APm']:.3f} APl {r.stats['APl']:.3f}")
        print("  per class AP: " + ", ".join(f"{k} {v:.3f}" for k, v in r.per_class_ap.items()))
    print(f"target mask AP >= 0.55: {'met' if results['segm'].stats['AP'] >= 0.55 else 'NOT met'}")


if __name__ == "__main__":
    main()
