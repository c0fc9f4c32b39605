"""Training machinery: SGD with momentum, warm-up + step or cosine learning-rate
schedules, and gradient clipping by global norm.

SGD with momentum and weight decay, exactly as ``torch.optim.SGD`` (dampening 0,
no Nesterov), for every parameter ``p`` with gradient ``g``::

    g   = g + weight_decay * p          # L2 penalty, added to the gradient
    buf = momentum * buf + g            # buf starts at 0, so the first step uses g
    p   = p - lr * buf

Typical loop::

    opt = SGD(model, lr=0.02)
    sched = WarmupStepLR(0.02, warmup_steps=100, milestones=(800,))
    for step in range(n_steps):
        model.zero_grad()
        loss = ... forward, backward ...
        clip_grad_norm(model, 10.0)
        opt.step(lr=sched.lr_at(step))
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from minimaskrcnn.nn.module import Module

__all__ = ["SGD", "clip_grad_norm", "WarmupStepLR", "WarmupCosineLR", "schedule_for"]


def _named_params(source):
    """``[(name, param, grad), ...]`` from a Module (re-read every call) or an explicit list."""
    if isinstance(source, Module):
        return list(source.named_parameters())
    items = list(source)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[1], np.ndarray)
                and isinstance(item[2], np.ndarray) and item[1].shape == item[2].shape):
            raise TypeError("expected a Module or (name, param, grad) triples with matching shapes")
    return items


class SGD:
    """Stochastic gradient descent with momentum and weight decay (torch semantics).

    Args:
        module_or_named_params: a Module (its parameters are looked up at every
            step, so ``astype`` or ``load_state_dict`` afterwards is fine) or a
            list of ``(name, param, grad)`` triples.
        lr: default learning rate; ``step(lr=...)`` overrides it for one step.
        momentum: in [0, 1).
        weight_decay: L2 coefficient, applied to every parameter.
    """

    def __init__(self, module_or_named_params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-4):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.source = module_or_named_params
        _named_params(self.source)  # validate now rather than at the first step
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.buffers: dict[str, np.ndarray] = {}  # momentum buffer per parameter name
        self.steps = 0

    def step(self, lr: float | None = None) -> None:
        """Update every parameter in place from its gradient."""
        lr = self.lr if lr is None else float(lr)
        for name, p, g in _named_params(self.source):
            d = g + self.weight_decay * p if self.weight_decay else g.copy()
            buf = self.buffers.get(name)
            if buf is None or buf.shape != p.shape:
                buf = self.buffers[name] = np.zeros_like(p)
            elif buf.dtype != p.dtype:  # e.g. after module.astype(...): keep the momentum
                buf = self.buffers[name] = buf.astype(p.dtype)
            buf *= self.momentum
            buf += d
            p -= lr * buf
        self.steps += 1

    _BUFFER = "momentum_buffer."

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume exactly, as a flat ``{name: array}`` dict (fits ``np.savez``):
        ``lr``, ``momentum``, ``weight_decay``, ``steps`` (0-d arrays) and one
        ``"momentum_buffer.<param name>"`` copy per parameter that has stepped."""
        state = {"lr": np.array(self.lr), "momentum": np.array(self.momentum),
                 "weight_decay": np.array(self.weight_decay), "steps": np.array(self.steps)}
        state.update({self._BUFFER + name: buf.copy() for name, buf in self.buffers.items()})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict` (arrays may come back from an ``.npz`` file)."""
        missing = sorted({"lr", "momentum", "weight_decay", "steps"} - set(state))
        if missing:
            raise ValueError(f"optimizer state is missing {missing}")
        names = {name for name, _, _ in _named_params(self.source)}
        buffers = {k[len(self._BUFFER):]: v for k, v in state.items() if k.startswith(self._BUFFER)}
        unknown = sorted(set(buffers) - names)
        if unknown:
            raise ValueError(f"optimizer state has momentum buffers for unknown parameters: {unknown[:5]}")
        self.lr, self.momentum = float(state["lr"]), float(state["momentum"])
        self.weight_decay, self.steps = float(state["weight_decay"]), int(state["steps"])
        self.buffers = {k: np.array(v, copy=True) for k, v in buffers.items()}


def clip_grad_norm(module_or_named_params, max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``.

    The global norm is ``sqrt(sum over every gradient of sum(g**2))``, computed in
    float64. If it exceeds ``max_norm``, every gradient is multiplied by
    ``max_norm / (norm + 1e-6)`` (as ``torch.nn.utils.clip_grad_norm_``), which keeps
    the update's direction. Returns the norm before clipping (possibly inf/NaN:
    check it to detect a diverging run; gradients are then left unscaled).
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    items = _named_params(module_or_named_params)
    total = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for _, _, g in items)))
    if np.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for _, _, g in items:
            g *= scale
    return total


class WarmupStepLR:
    """Linear warm-up, then step decay (detectron2's ``WarmupMultiStepLR``, linear method).

    ``lr_at(step) = base_lr * warmup(step) * gamma ** (number of milestones <= step)``
    with ``warmup(step) = warmup_factor * (1 - a) + a``, ``a = step / warmup_steps``,
    for ``step < warmup_steps`` and 1 afterwards. So training starts at
    ``base_lr * warmup_factor`` and reaches ``base_lr`` at ``warmup_steps``.

    Example: ``WarmupStepLR(0.02, 100, 0.001, milestones=(800, 1000))`` gives
    2e-5 at step 0, ~0.01 at step 50, 0.02 from 100, 0.002 from 800, 0.0002 from 1000.
    """

    def __init__(self, base_lr: float, warmup_steps: int, warmup_factor: float = 0.001,
                 milestones=(), gamma: float = 0.1):
        if not base_lr > 0:
            raise ValueError(f"base_lr must be positive, got {base_lr}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        if not 0 < warmup_factor <= 1:
            raise ValueError(f"warmup_factor must be in (0, 1], got {warmup_factor}")
        if list(milestones) != sorted(milestones):
            raise ValueError(f"milestones must be increasing, got {milestones}")
        self.base_lr, self.warmup_steps, self.warmup_factor = float(base_lr), int(warmup_steps), float(warmup_factor)
        self.milestones, self.gamma = tuple(int(m) for m in milestones), float(gamma)

    def lr_at(self, step: int) -> float:
        factor = 1.0
        if step < self.warmup_steps:
            alpha = step / self.warmup_steps
            factor = self.warmup_factor * (1 - alpha) + alpha
        return self.base_lr * factor * self.gamma ** bisect.bisect_right(self.milestones, step)


class WarmupCosineLR:
    """Linear warm-up, then a half cosine from ``base_lr`` down to ``final_factor * base_lr``.

    ``lr_at(step) = base_lr * warmup(step) * cosine(step)`` with the warm-up of
    :class:`WarmupStepLR` and, for ``t = step / total_steps``,
    ``cosine = final_factor + (1 - final_factor) * (1 + cos(pi * t)) / 2``: the rate
    falls slowly at first, fastest in the middle, and flattens out at the end (a
    short run needs no milestones to choose). detectron2's ``WarmupCosineLR``.

    Example: ``WarmupCosineLR(0.04, 50, 400)`` gives ~0.02 at step 25, 0.04 at 50,
    0.02 at 200 and 0 at 400.
    """

    def __init__(self, base_lr: float, warmup_steps: int, total_steps: int, warmup_factor: float = 0.001,
                 final_factor: float = 0.0):
        self._warmup = WarmupStepLR(base_lr, warmup_steps, warmup_factor)  # validates the common part
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if not 0 <= final_factor <= 1:
            raise ValueError(f"final_factor must be in [0, 1], got {final_factor}")
        self.base_lr, self.total_steps, self.final_factor = float(base_lr), int(total_steps), float(final_factor)

    def lr_at(self, step: int) -> float:
        t = min(max(step, 0), self.total_steps) / self.total_steps
        cosine = self.final_factor + (1 - self.final_factor) * 0.5 * (1 + math.cos(math.pi * t))
        return self._warmup.lr_at(step) * cosine


def schedule_for(cfg):
    """The learning-rate schedule a Config names (``cfg.lr_schedule``: "cosine" or "step")."""
    if cfg.lr_schedule == "cosine":
        return WarmupCosineLR(cfg.base_lr, cfg.warmup_steps, cfg.steps)
    return WarmupStepLR(cfg.base_lr, cfg.warmup_steps, milestones=cfg.lr_milestones, gamma=cfg.lr_gamma)
