"""Rerunning the Mask R-CNN paper's ablations (its Table 2) on toy shapes.

Each *variant* is the default configuration with one switch changed; every
variant is trained with the same budget on the same seeds and evaluated on
the same held-out shapes. ``run_ablations`` trains them and stores every
run's numbers; ``summarize`` averages over seeds; ``format_table`` prints the
comparison beside the paper's COCO mask AP.

The comparisons (paper's mask AP on COCO in brackets):

* (b) ``softmax`` vs ``sigmoid`` mask loss — do classes need to compete per
  pixel? [24.8 vs 30.3]
* (c) ``roi_pool`` vs ``align_max`` vs ``align_avg`` — what does exact
  sampling buy? [26.9 / 30.2 / 30.3]
* (d) the same at stride 32 (single level, ResNet "C5"), where quantisation
  is coarsest: ``s32_roi_pool`` vs ``s32_align_avg`` [23.6 vs 30.9]
* (e) ``mlp`` vs ``fcn`` mask head — does keeping the spatial layout help?
  [31.5 vs 33.6]
* ``class_agnostic`` vs class-specific masks [29.7 vs 30.3]

The baseline (sigmoid, RoIAlign-avg, FCN, class-specific) is one run set
shared by every comparison.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import time

import numpy as np

from minimaskrcnn.checkpoint import atomic_write
from minimaskrcnn.config import Config

# Stride-32 single-level backbone: one more stage; anchors of the same sizes on a 4x4 map.
STRIDE32 = dict(use_fpn=False, stage_channels=(32, 64, 128, 128), stage_blocks=(1, 1, 1, 1),
                rpn_channels=128)

VARIANTS = {
    "baseline": {},
    "softmax": {"mask_loss": "softmax"},
    "align_max": {"roi_op": "align_max"},
    "roi_pool": {"roi_op": "roi_pool"},
    "s32_align_avg": dict(STRIDE32),
    "s32_roi_pool": dict(STRIDE32, roi_op="roi_pool"),
    "mlp": {"mask_head": "mlp"},
    "class_agnostic": {"class_agnostic_masks": True},
}

# (title, [(row name, variant, paper mask AP)]); the paper's numbers are COCO mask AP, Table 2.
COMPARISONS = [
    ("(b) mask loss", [("softmax", "softmax", 24.8), ("sigmoid", "baseline", 30.3)]),
    ("(c) RoI op", [("RoIPool", "roi_pool", 26.9), ("RoIAlign max", "align_max", 30.2),
                    ("RoIAlign avg", "baseline", 30.3)]),
    ("(d) stride 32", [("RoIPool", "s32_roi_pool", 23.6), ("RoIAlign avg", "s32_align_avg", 30.9)]),
    ("(e) mask head", [("MLP", "mlp", 31.5), ("FCN", "baseline", 33.6)]),
    ("class-specific?", [("class-agnostic", "class_agnostic", 29.7), ("class-specific", "baseline", 30.3)]),
]

METRICS = (("segm", "AP"), ("segm", "AP50"), ("segm", "AP75"), ("bbox", "AP"))


def variant_config(name: str, base: Config, steps: int, seed: int) -> Config:
    """The base config with the variant's switch, a ``steps``-long schedule and ``seed``."""
    if name not in VARIANTS:
        raise ValueError(f"variant {name!r}: expected one of {sorted(VARIANTS)}")
    schedule = dict(steps=steps, seed=seed, warmup_steps=min(base.warmup_steps, steps // 5),
                    lr_milestones=(int(steps * 0.75), int(steps * 0.9)))
    return base.replace(**VARIANTS[name], **schedule)


def run_one(name: str, seed: int, steps: int, val_dataset, work_dir: str, base: Config | None = None) -> dict:
    """Train one variant from scratch and evaluate it; returns the record stored in the JSON."""
    from minimaskrcnn.inference import evaluate_model
    from minimaskrcnn.train import train

    cfg = variant_config(name, base or Config(), steps, seed)
    run_dir = os.path.join(work_dir, f"{name}_seed{seed}")
    start = time.perf_counter()
    result = train(cfg, run_dir, checkpoint_every=max(steps, 1), progress=False)
    if result.interrupted:  # train() saved and returned on Ctrl-C: a partial run is not a result
        raise KeyboardInterrupt
    train_seconds = time.perf_counter() - start
    evals = evaluate_model(result.model, val_dataset)
    shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints of ablation runs are not kept
    return {
        "variant": name, "seed": seed, "steps": steps, "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / steps, 3),
        "metrics": {t: r.stats for t, r in evals.items()},
        "config": cfg.to_dict(),
    }


def run_ablations(out_json: str, variants=None, seeds=(0, 1, 2), steps: int = 600,
                  val_images: int = 200, val_seed: int = 777, work_dir: str = "runs/ablations",
                  command: str = "", base: Config | None = None, log=print) -> dict:
    """Train every (variant, seed) not already in ``out_json``; save after each run.

    Results accumulate in ``out_json`` (written atomically after every run), so an
    interrupted sweep continues where it stopped when called again. Runs go one
    after the other, each using every core: on a 2-core machine that was twice
    as fast as two single-threaded runs side by side.
    """
    from minimaskrcnn.datasets import ShapesConfig, ShapesDataset

    base = base or Config()
    variants = list(variants or VARIANTS)
    data = load_results(out_json) if os.path.exists(out_json) else {"runs": []}
    data.update(command=command or data.get("command", ""), steps=steps, val_images=val_images,
                val_seed=val_seed, machine=f"{platform.machine()}, {os.cpu_count()} cores")
    done = {(r["variant"], r["seed"]) for r in data["runs"] if r["steps"] == steps}
    val = ShapesDataset(val_images, seed=val_seed, config=ShapesConfig(image_size=base.image_size))
    for seed in seeds:
        for name in variants:
            if (name, seed) in done:
                continue
            rec = run_one(name, seed, steps, val, work_dir, base)
            data["runs"].append(rec)
            _write_json(out_json, data)
            m = rec["metrics"]
            log(f"{name:15s} seed {seed}: mask AP {m['segm']['AP']:.3f} AP50 {m['segm']['AP50']:.3f} "
                f"AP75 {m['segm']['AP75']:.3f} | box AP {m['bbox']['AP']:.3f} ({rec['train_seconds']:.0f} s)")
    return data


def load_results(path: str) -> dict:
    """The stored sweep: {"runs": [...], "steps", "val_images", ...}; ValueError if it is not one."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ValueError(f"{path}: not an ablation results file (expected a JSON object with a 'runs' list)")
    return data


def _write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: json.dump(data, f, indent=1), mode="w")


def summarize(data: dict) -> dict:
    """{variant: {"n": seeds, (iou_type, key): (mean, std)}} over the stored runs.

    Only runs with the file's current budget (``data["steps"]``) count, so a
    file holding sweeps of different lengths never mixes them.
    """
    out = {}
    steps = data.get("steps")
    for name in VARIANTS:
        runs = [r for r in data["runs"] if r["variant"] == name and (steps is None or r["steps"] == steps)]
        if not runs:
            continue
        row = {"n": len(runs), "seconds_per_step": float(np.mean([r["seconds_per_step"] for r in runs]))}
        for iou_type, key in METRICS:
            vals = np.array([r["metrics"][iou_type][key] for r in runs])
            row[(iou_type, key)] = (float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0)
        out[name] = row
    return out


def format_table(data: dict) -> str:
    """Plain-text table: each comparison's rows, our mean ± std (x100) beside the paper's mask AP."""
    summary = summarize(data)
    header = (f"{'':17s}{'':15s}{'mask AP':>13s}{'AP50':>13s}{'AP75':>13s}{'box AP':>13s}"
              f"{'paper mask AP':>15s}")
    lines = [header, "-" * len(header)]
    for title, rows in COMPARISONS:
        for i, (label, variant, paper) in enumerate(rows):
            s = summary.get(variant)
            cells = "".join(f"{100 * s[m][0]:7.1f} ±{100 * s[m][1]:4.1f}" for m in METRICS) if s else \
                f"{'(not run)':>13s}{'':39s}"
            lines.append(f"{title if i == 0 else '':17s}{label:15s}{cells}{paper:15.1f}")
        lines.append("")
    n = sorted({s["n"] for s in summary.values()})
    seeds = "no runs yet" if not n else f"mean ± std over {'/'.join(map(str, n))} seed{'s' if n != [1] else ''}"
    lines.append(f"{seeds}; {data.get('steps')} steps each; {data.get('val_images')} held-out images. "
                 "Paper: COCO minival, ResNet-50 (Table 2).")
    return "\n".join(lines)
