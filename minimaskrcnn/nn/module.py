"""The layer contract every piece of the model follows.

A ``Module`` owns named parameter arrays (``params``) and gradient arrays of the
same shapes (``grads``). Computation is a pair of methods::

    out, cache = layer.forward(x)      # cache: whatever backward needs
    dx = layer.backward(dout, cache)   # ADDS dL/dparam into layer.grads, returns dL/dx

Two choices make the rest of the model simple:

* The cache is returned, not stored on the layer, so one layer can be applied
  several times in one step (the RPN head is shared by every FPN level) and each
  call keeps its own cache.
* ``backward`` accumulates (``+=``) into ``grads``. Where branches meet, their
  gradients add up on their own; call ``zero_grad()`` before each step.

Children are found automatically: any attribute that is a ``Module``, or a
list/tuple of ``Module``s, is a child, and its parameters are reported with a
dotted prefix (``"head.conv.weight"``), like ``torch.nn.Module.named_parameters``.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np


class Module:
    """Base class for layers and models: named parameters, gradients, children."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    # -- parameters -----------------------------------------------------------
    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register ``value`` as a trainable parameter with a zero gradient."""
        value = np.ascontiguousarray(value)
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    def children(self) -> Iterator[tuple[str, "Module"]]:
        """Direct sub-modules, in attribute order; list items are named ``attr.i``."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(dotted_name, param, grad)`` for this module and all children."""
        for name, p in self.params.items():
            yield prefix + name, p, self.grads[name]
        for cname, child in self.children():
            yield from child.named_parameters(prefix + cname + ".")

    def num_parameters(self) -> int:
        return sum(p.size for _, p, _ in self.named_parameters())

    def zero_grad(self) -> None:
        for _, _, g in self.named_parameters():
            g.fill(0.0)

    def astype(self, dtype) -> "Module":
        """Convert every parameter and gradient in place (float64 for gradient checks)."""
        for name in self.params:
            self.params[name] = self.params[name].astype(dtype)
            self.grads[name] = self.grads[name].astype(dtype)
        for _, child in self.children():
            child.astype(dtype)
        return self

    # -- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted_name: array}`` (copies) for saving."""
        return {name: p.copy() for name, p, _ in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters; names and shapes must match exactly."""
        own = {name: p for name, p, _ in self.named_parameters()}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"state_dict does not match the model: missing {missing[:5]}"
                f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                f"{'...' if len(unexpected) > 5 else ''}"
            )
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.dtype.kind not in "fiu":
                raise TypeError(f"state_dict[{name!r}] has dtype {value.dtype}, expected real numbers")
            if value.shape != p.shape:
                raise ValueError(
                    f"state_dict[{name!r}] has shape {value.shape}, the model expects {p.shape}"
                )
            p[...] = value

    # -- computation ----------------------------------------------------------
    def forward(self, x):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dout, cache):  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
