"""The three losses Mask R-CNN trains with. Each returns ``(loss, dinput)``.

* :func:`softmax_cross_entropy`: classification (RPN-free box head: which class is
  in this RoI). Labels follow torchvision: ``0`` is background, ``1..K`` are the
  foreground classes.
* :func:`smooth_l1_loss`: box regression deltas (quadratic near 0, linear far away).
* :func:`sigmoid_bce_with_logits`: objectness in the RPN and the per-pixel mask loss.

``loss`` is a Python float and ``dinput`` is ``dloss/dinput`` with the input's
shape and dtype, ready to feed into the layers' ``backward``.

Numerical stability: logits can be huge (±1e4) early in training or after a bad
step. Softmax subtracts each row's maximum before exponentiating, and the
binary cross-entropy uses ``max(z, 0) - z*t + log(1 + exp(-|z|))``; in both, the
only exponentials are of non-positive numbers, so nothing overflows.
"""
from __future__ import annotations

import numpy as np

__all__ = ["softmax_cross_entropy", "smooth_l1_loss", "sigmoid_bce_with_logits"]


def _check_float(name: str, a) -> None:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def _check_reduction(reduction: str, allowed=("mean", "sum")) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, ignore_index: int = -100):
    """Mean cross-entropy of a softmax over classes, skipping rows labelled ``ignore_index``.

    Args:
        logits: (N, C) unnormalised class scores.
        labels: (N,) integer class per row, ``0 <= label < C`` (0 = background,
            1..K = foreground classes) or ``ignore_index``.
        ignore_index: label value whose rows contribute neither loss nor gradient.

    Returns:
        loss: ``-mean(log softmax(logits)[i, labels[i]])`` over the kept rows;
            0.0 if every row is ignored (or N == 0).
        dlogits: (N, C): ``(softmax - onehot) / n_kept`` on kept rows, 0 elsewhere.

    Example: logits [[0, 0]] and label [1] give loss log(2) ≈ 0.693 and
    dlogits [[0.5, -0.5]].
    """
    _check_float("logits", logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-d (N, C), got shape {logits.shape}")
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer array of shape ({logits.shape[0]},), "
                         f"got {labels.dtype} {labels.shape}")
    keep = labels != ignore_index
    if np.any((labels[keep] < 0) | (labels[keep] >= logits.shape[1])):
        raise ValueError(f"labels must be in [0, {logits.shape[1]}) or ignore_index={ignore_index}")
    n_kept = int(keep.sum())
    if n_kept == 0:
        return 0.0, np.zeros_like(logits)

    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), every entry <= 0
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)  # >= 1: the row's maximum contributes exp(0)
    rows = np.flatnonzero(keep)
    log_prob = shifted[rows, labels[rows]] - np.log(sum_exp[rows, 0])  # (n_kept,)
    loss = -float(log_prob.sum()) / n_kept

    dlogits = exp / sum_exp  # softmax
    dlogits[rows, labels[rows]] -= 1.0
    dlogits[~keep] = 0.0
    dlogits /= n_kept
    return loss, dlogits


def smooth_l1_loss(pred: np.ndarray, target: np.ndarray, beta: float = 1.0, reduction: str = "sum"):
    """Smooth L1 (Huber-like) loss, as ``torch.nn.functional.smooth_l1_loss``.

    Per element, with ``d = pred - target``::

        0.5 * d**2 / beta    if |d| < beta
        |d| - 0.5 * beta     otherwise          (beta = 0 gives plain L1, |d|)

    Args:
        pred, target: arrays of the same shape (e.g. (K, 4) box deltas).
        beta: where the quadratic part ends; >= 0. Detectron2 uses 0 or 1/9.
        reduction: ``"sum"`` (what Mask R-CNN uses, before dividing by the number
            of sampled boxes itself) or ``"mean"`` over all elements.

    Returns:
        loss (float) and dpred (shape of ``pred``): ``d / beta`` inside, ``sign(d)`` outside.
    """
    _check_float("pred", pred)
    _check_float("target", target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {pred.shape} and {target.shape}")
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    _check_reduction(reduction)
    d = pred - target.astype(pred.dtype)
    abs_d = np.abs(d)
    if beta == 0:
        per_element, grad = abs_d, np.sign(d)
    else:
        inside = abs_d < beta
        per_element = np.where(inside, 0.5 * d * d / beta, abs_d - 0.5 * beta)
        grad = np.where(inside, d / beta, np.sign(d))
    loss = float(per_element.sum())
    if reduction == "mean" and d.size > 0:
        loss /= d.size
        grad = grad / d.size
    return loss, grad.astype(pred.dtype)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in float64, computed as ``exp(-log(1 + exp(-x)))``.

    ``np.logaddexp`` never overflows, so logits of any size give a finite result (0 or 1 in the
    limits) without a RuntimeWarning, and small probabilities keep their full precision.
    """
    x = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def sigmoid_bce_with_logits(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None,
                            reduction: str = "mean"):
    """Binary cross-entropy on ``sigmoid(logits)``, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Per element, with ``z`` the logit and ``t`` the target in [0, 1]::

        -(t * log(sigmoid(z)) + (1 - t) * log(1 - sigmoid(z)))
        = max(z, 0) - z * t + log(1 + exp(-|z|))          (the stable form used here)

    and its derivative is simply ``sigmoid(z) - t``.

    Args:
        logits: any shape, e.g. (K, M, M) mask logits or (A,) objectness.
        targets: same shape, values in [0, 1].
        weights: optional, broadcastable to ``logits``; multiplies each element's loss.
        reduction: ``"mean"`` (over all elements, as torch: weights do not change
            the divisor) or ``"sum"``.

    Returns:
        loss (float) and dlogits (shape of ``logits``). 0.0 loss for empty input.
    """
    _check_float("logits", logits)
    _check_float("targets", targets)
    if targets.shape != logits.shape:
        raise ValueError(f"targets must have the shape of logits {logits.shape}, got {targets.shape}")
    if np.any((targets < 0) | (targets > 1)):
        raise ValueError("targets must lie in [0, 1]")
    _check_reduction(reduction)
    z, t = logits, targets.astype(logits.dtype)
    e = np.exp(-np.abs(z))  # in (0, 1]: cannot overflow
    per_element = np.maximum(z, 0) - z * t + np.log1p(e)
    sigmoid = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype)
    grad = sigmoid - t
    if weights is not None:
        _check_float("weights", weights)
        try:
            weights = np.broadcast_to(weights.astype(z.dtype), z.shape)
        except ValueError:
            raise ValueError(f"weights of shape {weights.shape} do not broadcast to {z.shape}") from None
        per_element, grad = per_element * weights, grad * weights
    loss = float(per_element.sum())
    if reduction == "mean" and z.size > 0:
        loss /= z.size
        grad = grad / z.size
    return loss, grad
