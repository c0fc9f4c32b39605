"""Resuming a run: its settings come from its checkpoint; only its length may change.

A training checkpoint stores the Config it was trained with, so ``train
--resume`` needs no ``--config`` or ``--set``: the run continues with exactly
the stored settings, and step ``s`` of the resumed run is bit-identical to step
``s`` of an uninterrupted one (every random draw derives from ``(seed, s)``).

What the user may change on resume:

* ``steps`` (``--steps``): longer or shorter, but not below the step the
  checkpoint is at. The schedule is laid out again over the new length, as a
  new run of that length would have it (cosine to 0 at the new ``steps``; the
  ``lr_milestones`` of the "step" schedule scaled by new / old ``steps``,
  unless given with ``--set``); the steps already done keep the learning rate
  they had, so the rate may jump at the step the run resumes from.
* ``lr_milestones`` (``--set``), for the same reason.

Anything else the user states (a ``--set``, a flag such as ``--lr``, a field
of a ``--config`` file) must equal the stored value; otherwise ``resume_config``
refuses, naming every field that differs with both values.
"""
from __future__ import annotations

from minimaskrcnn.checkpoint import load_npz
from minimaskrcnn.config import Config

RESUMABLE = ("steps", "lr_milestones")  # fields that only shape the steps still to come
DERIVED = ("lr_milestones", "warmup_steps")  # follow `steps` in a new run unless given with --set


def config_differences(a: Config, b: Config, names=None) -> dict:
    """{field: (a's value, b's value)} for the fields (default: all) where ``a`` and ``b`` differ."""
    da, db = a.to_dict(), b.to_dict()
    return {k: (da[k], db[k]) for k in (da if names is None else names) if da[k] != db[k]}


def format_differences(diff: dict, first: str, second: str) -> str:
    """``"base_lr (first: 0.02, second: 0.04), seed (...)"`` for a ``config_differences`` dict."""
    return ", ".join(f"{k} ({first}: {a!r}, {second}: {b!r})" for k, (a, b) in diff.items())


def read_training_checkpoint(path) -> tuple[Config, int]:
    """(stored Config, step) of a training checkpoint; ValueError naming ``path`` otherwise."""
    data = load_npz(str(path))
    missing = [k for k in ("config", "step", "history") if k not in data]
    if missing:
        raise ValueError(f"resume: {path} is not a training checkpoint (no {missing}; a model_final.npz "
                         f"holds weights only)")
    stored = Config.from_json(str(data["config"]), f"resume: {path}: config")
    try:
        step = int(data["step"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"resume: {path} is damaged ({e})") from None
    return stored, step


def rescheduled(stored: Config, steps: int, milestones=None) -> Config:
    """``stored`` with a new length; ``lr_milestones`` scaled by steps / stored.steps unless given."""
    if milestones is None:
        scale = steps / stored.steps
        milestones = tuple(max(1, int(m * scale)) for m in stored.lr_milestones)
    return stored.replace(steps=steps, lr_milestones=tuple(milestones))


def resume_config(path, requested: Config, stated) -> tuple[Config, str]:
    """(the Config to resume with, a one-line note): the checkpoint's, with a new length if asked for.

    requested: the Config the command line would give a new run (``--config``,
    ``--set``, flags, and what is derived from them and from the data).
    stated: the fields the user stated (``--set`` keys, flags, the keys of the
    ``--config`` file); only these are compared with the checkpoint. Raises
    ValueError naming every stated field that differs (other than ``steps``,
    ``lr_milestones``), and a ``steps`` below the checkpoint's step.
    """
    stored, step = read_training_checkpoint(path)
    stated = [k for k in Config.__dataclass_fields__ if k in set(stated)]
    diff = config_differences(requested, stored, stated)
    fixed = {k: v for k, v in diff.items() if k not in RESUMABLE}
    if fixed:
        raise ValueError(
            f"resume: {path} was trained with other settings; these differ: "
            f"{format_differences(fixed, 'asked for', 'checkpoint')}. A resumed run keeps the settings it started "
            f"with (it needs no --config or --set) and may only change its length (--steps); drop those options, "
            f"or start a new run with another --out (or --overwrite)")
    if "steps" not in diff and "lr_milestones" not in diff:
        return stored, f"resuming {path} at step {step} of {stored.steps}"
    steps = requested.steps if "steps" in diff else stored.steps
    if steps < step:
        raise ValueError(f"resume: {path} is already at step {step}, past the requested steps={steps}; "
                         f"give --steps {step} or more")
    cfg = rescheduled(stored, steps, requested.lr_milestones if "lr_milestones" in diff else None)
    note = f"resuming {path} at step {step}: steps {stored.steps} -> {cfg.steps}"
    if cfg.lr_schedule == "step" and cfg.lr_milestones != stored.lr_milestones:
        note += f", lr_milestones {stored.lr_milestones} -> {cfg.lr_milestones}"
    elif cfg.lr_schedule == "cosine":
        note += f" (the cosine schedule now ends at step {cfg.steps})"
    return cfg, note
