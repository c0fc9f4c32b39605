"""Training: the loop that turns a randomly initialised Mask R-CNN into a detector.

One step::

    images, targets = next batch (random horizontal flip)
    losses = model.forward(images, targets, rng)     # all five losses
    model.zero_grad(); model.backward()
    clip_grad_norm(model, cfg.clip_grad_norm)
    optimizer.step(lr=schedule.lr_at(step))          # SGD, momentum, weight decay

Everything random in step ``s`` (which images, flips, anchor and RoI sampling)
derives from ``(cfg.seed, s)``, and the optimizer's momentum is saved with
the weights, so ``resume`` continues exactly as an uninterrupted run would.

Safety:

* checkpoints are written atomically (``checkpoint.atomic_savez``) every
  ``checkpoint_every`` steps and at the end;
* Ctrl-C saves the last completed step before exiting, and writes the same
  files as a normal end (``model_final.npz`` then holds that step's weights);
* a non-finite loss or gradient stops training with ``NonFiniteLossError``
  naming the step; the last good checkpoint is left as it was.

Outputs in ``out_dir``: ``checkpoint.npz`` (latest, resumable), ``model_final.npz``
(weights + config), ``log.csv`` / ``log.json`` (one row per logged step),
``loss.png`` and, if evaluation ran, ``eval.json``.
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from minimaskrcnn import checks
from minimaskrcnn.categories import dataset_category_ids
from minimaskrcnn.checkpoint import atomic_savez, load_npz
from minimaskrcnn.config import Config
from minimaskrcnn.datasets.loader import BatchLoader, BatchSampler, batch_rng, make_batch  # noqa: F401
from minimaskrcnn.model.mask_rcnn import MaskRCNN
from minimaskrcnn.nn.optim import SGD, clip_grad_norm, schedule_for
from minimaskrcnn.resume import RESUMABLE, config_differences, format_differences


class NonFiniteLossError(RuntimeError):
    """Raised when a step produces a NaN/inf loss or gradient."""


@dataclass
class TrainResult:
    model: MaskRCNN
    history: list = field(default_factory=list)  # one dict per logged step
    evaluations: list = field(default_factory=list)  # one dict per evaluation
    step: int = 0
    interrupted: bool = False
    train_seconds: float = 0.0  # wall time of the training steps (evaluation and saving excluded)


def step_rng(seed: int, step: int):
    """The random stream of step ``step``'s anchor and RoI sampling (its batch has ``batch_rng``)."""
    return np.random.default_rng([seed, 1, step])


def train(cfg: Config, out_dir: str, *, train_dataset=None, val_dataset=None, resume: bool = False,
          checkpoint_every: int = 100, eval_every: int = 0, log_every: int = 10,
          progress: bool = True, max_steps: int | None = None, workers: int = 1) -> TrainResult:
    """Train ``cfg.steps`` steps (or up to ``max_steps`` this call), saving into ``out_dir``.

    Args:
        cfg: model and training settings.
        train_dataset: any dataset of samples; default: generated shapes
            (fresh images every step, seed ``cfg.seed``), or generated stick
            figures (``datasets/keypoints.py``) when ``cfg.keypoint_on``.
        val_dataset: evaluated every ``eval_every`` steps (0: only at the end)
            with box and mask AP; ``None`` skips evaluation.
        resume: continue from ``out_dir/checkpoint.npz``. ``cfg`` must equal the stored
            config except for ``steps`` and ``lr_milestones`` (a new length: see
            ``resume.py``; ``resume.resume_config`` builds such a cfg).
        max_steps: stop early after this global step (for tests and demos).
        workers: 1 makes the batches ahead in a background process
            (``datasets/loader.py``), 0 in this one; the batches are the same.
    """
    if not isinstance(cfg, Config):
        raise TypeError(f"cfg: expected a Config, got {type(cfg).__name__}")
    checks.integer("checkpoint_every", checkpoint_every, 1)
    checks.integer("eval_every", eval_every, 0)
    checks.integer("log_every", log_every, 1)
    if max_steps is not None:
        checks.integer("max_steps", max_steps, 0)
    checks.writable_dir("out_dir", out_dir)
    if train_dataset is None and cfg.keypoint_on:
        from minimaskrcnn.datasets.keypoints import KeypointsConfig, KeypointsDataset

        train_dataset = KeypointsDataset(cfg.steps * cfg.batch_size, seed=cfg.seed,
                                         config=KeypointsConfig(image_size=cfg.image_size))
        if tuple(cfg.class_names) != train_dataset.class_names \
                or tuple(cfg.keypoint_names) != train_dataset.keypoint_names:
            raise ValueError(f"cfg: the generated keypoint data has class_names {train_dataset.class_names} and "
                             f"keypoint_names {train_dataset.keypoint_names}; set them in the Config")
    if train_dataset is None:
        from minimaskrcnn.datasets.shapes import ShapesConfig, ShapesDataset

        shapes_cfg = cfg.training_shapes()
        train_dataset = ShapesDataset(cfg.steps * cfg.batch_size, seed=cfg.seed, config=shapes_cfg)
    flip_perm = None
    if cfg.keypoint_on:
        from minimaskrcnn.datasets.keypoints import flip_permutation

        flip_perm = flip_permutation(cfg.keypoint_names, getattr(train_dataset, "flip_map", None))
    ckpt_path = os.path.join(out_dir, "checkpoint.npz")
    model = MaskRCNN(cfg)
    model.category_ids = dataset_category_ids(train_dataset, cfg.num_classes)  # stored in every checkpoint
    optimizer = SGD(model, lr=cfg.base_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    schedule = schedule_for(cfg)
    result = TrainResult(model=model)
    if resume:
        result.step, result.history, result.evaluations, result.train_seconds = _restore(
            ckpt_path, model, optimizer, cfg)
    last_step = cfg.steps if max_steps is None else min(cfg.steps, max_steps)
    loader = BatchLoader(train_dataset, cfg, result.step, last_step, flip_perm, workers=workers)

    def save():
        if not all(np.isfinite(p).all() for _, p, _ in model.named_parameters()):
            # the update that made them non-finite came after the last finite loss
            raise NonFiniteLossError(_nonfinite_message(result.step, {"weights": math.nan}, ckpt_path))
        _save(ckpt_path, model, optimizer, result)

    bar = _progress(result.step, last_step, progress)
    # A checkpoint is written once its weights have given a finite loss: the step after the one
    # that made them (an update can leave finite weights that already give NaN or inf).
    checkpoint_due = False
    try:
        while result.step < last_step:
            step = result.step
            t0 = time.perf_counter()
            images, targets = loader.get(step)
            rng = step_rng(cfg.seed, step)
            try:
                losses = model.forward(images, targets, rng)
            except ValueError as e:  # the losses refuse NaN/inf inputs: the weights have diverged
                if "NaN or infinite" not in str(e):
                    raise
                raise NonFiniteLossError(_nonfinite_message(step, {"loss": math.nan}, ckpt_path)) from e
            if not math.isfinite(losses["loss"]):
                raise NonFiniteLossError(_nonfinite_message(step, losses, ckpt_path))
            if checkpoint_due:  # the weights are still those of result.step, now known to be good
                save()
                checkpoint_due = False
            model.zero_grad()
            model.backward()
            grad_norm = clip_grad_norm(model, cfg.clip_grad_norm)
            if not math.isfinite(grad_norm):
                raise NonFiniteLossError(_nonfinite_message(step, {"grad_norm": grad_norm}, ckpt_path))
            lr = schedule.lr_at(step)
            optimizer.step(lr=lr)
            result.step = step + 1
            dt = time.perf_counter() - t0
            result.train_seconds += dt
            if step % log_every == 0 or result.step == last_step:
                row = {"step": step, "lr": lr, "grad_norm": grad_norm, "seconds": dt,
                       "images_per_s": len(images) / dt, **losses}
                result.history.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.3f}", mask=f"{losses.get('loss_mask', 0):.3f}",
                            img_s=f"{len(images) / dt:.1f}")
            if eval_every and val_dataset is not None and result.step % eval_every == 0:
                result.evaluations.append(_evaluate(model, val_dataset, result.step, result.train_seconds))
            if result.step % checkpoint_every == 0:
                checkpoint_due = True
    except KeyboardInterrupt:
        result.interrupted = True
        save()
        bar.close()
        written = _write_outputs(out_dir, model, result)  # the same files as a normal end
        print(f"interrupted: saved step {result.step} of {cfg.steps} to {ckpt_path} (continue with --resume); "
              f"wrote {', '.join(written)}", flush=True)
        return result
    finally:
        loader.close()
    bar.close()
    save()  # before the final evaluation: a Ctrl-C there loses nothing
    if val_dataset is not None and (not result.evaluations or result.evaluations[-1]["step"] != result.step):
        result.evaluations.append(_evaluate(model, val_dataset, result.step, result.train_seconds))
        save()  # again, with the evaluation in the log
    _write_outputs(out_dir, model, result, final=result.step == cfg.steps)
    return result


def _write_outputs(out_dir: str, model, result: TrainResult, final: bool = True) -> list:
    """model_final.npz (when ``final`` and a step was done), log.csv, log.json, loss.png; their names.

    A normal end and a Ctrl-C both come here, so both leave the same files: after
    Ctrl-C, model_final.npz holds the weights of the last completed step (the
    checkpoint has them too, with the optimizer state to resume from).
    """
    written = []
    if final and result.step > 0:
        model.save(os.path.join(out_dir, "model_final.npz"))
        written.append("model_final.npz")
    write_logs(out_dir, result)
    return written + (["log.csv", "log.json", "loss.png"] if result.history else ["log.json"])


def _evaluate(model, dataset, step: int, train_seconds: float) -> dict:
    from minimaskrcnn.inference import evaluate_model

    results = evaluate_model(model, dataset)
    return {"step": step, "train_seconds": round(train_seconds, 2), **{t: r.stats for t, r in results.items()}}


def _nonfinite_message(step: int, values: dict, ckpt_path: str) -> str:
    bad = {k: v for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}
    where = ckpt_path if os.path.exists(ckpt_path) else "none written yet"
    return f"non-finite loss at step {step}: {bad}; stopped. Last good checkpoint: {where}"


def _save(path: str, model, optimizer, result: TrainResult) -> None:
    arrays = model.checkpoint_arrays()
    arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
    arrays["step"] = np.array(result.step)
    arrays["history"] = np.array(json.dumps({"history": result.history, "evaluations": result.evaluations,
                                             "train_seconds": result.train_seconds}))
    atomic_savez(path, arrays)


def _restore(path: str, model, optimizer, cfg: Config):
    data = load_npz(path)
    missing = [k for k in ("config", "step", "history") if k not in data]
    if missing:
        raise ValueError(f"resume: {path} is not a training checkpoint (no {missing}; a model_final.npz "
                         f"holds weights only)")
    stored = Config.from_json(str(data["config"]), f"resume: {path}: config")
    diff = {k: v for k, v in config_differences(cfg, stored).items() if k not in RESUMABLE}
    if diff:  # steps and lr_milestones may change: they shape only the steps to come (resume.py)
        raise ValueError(f"resume: {path} was trained with a different config; these fields differ: "
                         f"{format_differences(diff, 'requested', 'stored')} (only {', '.join(RESUMABLE)} "
                         f"may change on resume)")
    if "category_ids" in data and tuple(data["category_ids"].tolist()) != model.category_ids:
        raise ValueError(f"resume: {path} was trained on category ids {data['category_ids'].tolist()} "
                         f"but the training data has {list(model.category_ids)} (names {list(cfg.class_names)})")
    try:
        model.load_state_dict({k[6:]: v for k, v in data.items() if k.startswith("param/")})
        optimizer.load_state_dict({k[6:]: v for k, v in data.items() if k.startswith("optim/")})
        logs = json.loads(str(data["history"]))
        step = int(data["step"])
        history, evaluations = logs["history"], logs["evaluations"]
        train_seconds = float(logs.get("train_seconds", 0.0))
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"resume: {path} is damaged ({e})") from None
    if not 0 <= step <= cfg.steps:
        raise ValueError(f"resume: {path} is at step {step}, outside 0..{cfg.steps} (Config.steps); "
                         f"give steps >= {step}")
    return step, history, evaluations, train_seconds


def _progress(start: int, total: int, enabled: bool):
    """tqdm's calls; the ETA leaves out the first (compiling) step, which says when it compiles."""
    from minimaskrcnn.progress import TrainProgress

    return TrainProgress(start, total, enabled)


def write_logs(out_dir: str, result: TrainResult) -> None:
    """log.csv, log.json and loss.png from the training history."""
    hist = result.history
    with open(os.path.join(out_dir, "log.json"), "w") as f:
        json.dump({"history": hist, "evaluations": result.evaluations}, f, indent=1)
    if not hist:
        return
    keys = list(dict.fromkeys(k for row in hist for k in row))
    with open(os.path.join(out_dir, "log.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(hist)
    from minimaskrcnn.visualize.training import plot_history

    fig = plot_history(hist, result.evaluations)
    fig.savefig(os.path.join(out_dir, "loss.png"), dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
