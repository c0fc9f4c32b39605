"""The layers of the hand-written kit, each a small :class:`Module`.

Every layer follows one contract (see ``nn/module.py``)::

    out, cache = layer.forward(x)
    dx = layer.backward(dout, cache)     # ADDS parameter gradients into layer.grads

Parameters are float32 by default (call ``layer.astype(np.float64)`` for a
gradient check); inputs must have the parameters' dtype. Convolution-like layers
take an explicit ``rng`` for their initial weights: ``init="kaiming"`` draws
Kaiming-normal (fan-out, ReLU gain) weights, ``init="normal"`` draws N(0, std²)
(used for the final predictors); biases start at 0.

Example, a tiny CNN::

    rng = np.random.default_rng(0)
    net = Sequential(Conv2d(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
                     Flatten(), Linear(8 * 4 * 4, 2, rng=rng))
    logits, cache = net.forward(images)        # (N, 1, 8, 8) -> (N, 2)
    dimages = net.backward(dlogits, cache)     # fills net.grads of every layer
"""
from __future__ import annotations

import numpy as np
from numba import njit

from minimaskrcnn.nn.init import init_weight, zeros
from minimaskrcnn.nn.module import Module
from minimaskrcnn.ops.group_norm import group_norm_backward, group_norm_forward
from minimaskrcnn.ops.relu import relu_backward, relu_forward
from minimaskrcnn.ops.linear import linear_backward, linear_forward
from minimaskrcnn.ops.conv import (
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
)

__all__ = ["Conv2d", "ConvTranspose2d", "Linear", "ReLU", "MaxPool2d", "GroupNorm",
           "Flatten", "UpsampleNearest2d", "Sequential"]


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _kernel_pair(kernel_size) -> tuple[int, int]:
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    return _positive_int("kernel_size", kh), _positive_int("kernel_size", kw)


def _check_input(name: str, x, ndim: int, dtype) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the layer's parameters are {dtype}")


class Conv2d(Module):
    """2-D convolution (see ``ops/conv.py``): (N, C, H, W) -> (N, F, Ho, Wo).

    Params ``weight`` (F, C, kh, kw) and ``bias`` (F,) (if ``bias``).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, *, rng, init="kaiming", std=0.01):
        super().__init__()
        kh, kw = _kernel_pair(kernel_size)
        shape = (_positive_int("out_channels", out_channels), _positive_int("in_channels", in_channels), kh, kw)
        self.stride = _positive_int("stride", stride)
        self.padding = _positive_int("padding", padding, 0)
        self.dilation = _positive_int("dilation", dilation)
        self.add_param("weight", init_weight(shape, rng, init, std))
        if bias:
            self.add_param("bias", zeros(shape[0]))

    def forward(self, x):
        return conv2d_forward(x, self.params["weight"], self.params.get("bias"),
                              self.stride, self.padding, self.dilation)

    def backward(self, dout, cache):
        dx, dw, db = conv2d_backward(dout, cache)
        self.grads["weight"] += dw
        if db is not None:
            self.grads["bias"] += db
        return dx

    def __repr__(self):
        F, C, kh, kw = self.params["weight"].shape
        return (f"Conv2d({C}, {F}, kernel_size={(kh, kw)}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, bias={'bias' in self.params})")


class ConvTranspose2d(Module):
    """Transposed convolution (learned upsampling): (N, C_in, H, W) -> (N, C_out, Ho, Wo),
    ``Ho = (H - 1)*stride - 2*padding + kh``. Params ``weight`` (C_in, C_out, kh, kw), ``bias`` (C_out,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 *, rng, init="kaiming", std=0.01):
        super().__init__()
        kh, kw = _kernel_pair(kernel_size)
        shape = (_positive_int("in_channels", in_channels), _positive_int("out_channels", out_channels), kh, kw)
        self.stride = _positive_int("stride", stride)
        self.padding = _positive_int("padding", padding, 0)
        self.add_param("weight", init_weight(shape, rng, init, std))
        if bias:
            self.add_param("bias", zeros(shape[1]))

    def forward(self, x):
        return conv_transpose2d_forward(x, self.params["weight"], self.params.get("bias"),
                                        self.stride, self.padding)

    def backward(self, dout, cache):
        dx, dw, db = conv_transpose2d_backward(dout, cache)
        self.grads["weight"] += dw
        if db is not None:
            self.grads["bias"] += db
        return dx

    def __repr__(self):
        C, F, kh, kw = self.params["weight"].shape
        return f"ConvTranspose2d({C}, {F}, kernel_size={(kh, kw)}, stride={self.stride}, padding={self.padding})"


class Linear(Module):
    """Fully connected layer ``out = x @ weight.T + bias``: (N, in) -> (N, out).

    Params ``weight`` (out, in) and ``bias`` (out,). ``init="kaiming"`` uses
    fan-in here (as detectron2's ``c2_xavier_fill`` and torch's default do for
    fully connected layers): a box head's first layer maps C*7*7 = 6272 inputs
    to 256 outputs, and fan-out scaling would inflate its activations ~5x.
    """

    def __init__(self, in_features, out_features, bias=True, *, rng, init="kaiming", std=0.01):
        super().__init__()
        shape = (_positive_int("out_features", out_features), _positive_int("in_features", in_features))
        self.add_param("weight", init_weight(shape, rng, init, std, mode="fan_in"))
        if bias:
            self.add_param("bias", zeros(shape[0]))

    def forward(self, x):
        w = self.params["weight"]
        _check_input("x", x, 2, w.dtype)
        if x.shape[1] != w.shape[1]:
            raise ValueError(f"x has {x.shape[1]} features but the layer expects {w.shape[1]}")
        out = linear_forward(x, w)  # x @ w.T: (N, in) @ (in, out) -> (N, out)
        if "bias" in self.params:
            out += self.params["bias"]
        return out, x

    def backward(self, dout, cache):
        x = cache
        if np.shape(dout) != (x.shape[0], self.params["weight"].shape[0]):
            raise ValueError(f"dout must have the output's shape {(x.shape[0], self.params['weight'].shape[0])}, "
                             f"got {np.shape(dout)}")
        dx, dw = linear_backward(dout, x, self.params["weight"])  # dout @ w, dout.T @ x
        self.grads["weight"] += dw  # (out, in)
        if "bias" in self.params:
            self.grads["bias"] += dout.sum(axis=0)
        return dx  # (N, in)

    def __repr__(self):
        out_f, in_f = self.params["weight"].shape
        return f"Linear({in_f}, {out_f}, bias={'bias' in self.params})"


class ReLU(Module):
    """``max(x, 0)``, any shape. The gradient passes where the output is positive."""

    def forward(self, x):
        out = relu_forward(x)  # max(x, 0), see ops/relu.py
        return out, out

    def backward(self, dout, cache):
        if dout.shape != cache.shape:
            raise ValueError(f"dout must have the forward output's shape {cache.shape}, got {dout.shape}")
        return relu_backward(dout, cache)  # dout where the output is positive


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x):
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:]))), x.shape  # (N, C*H*W), also for N = 0

    def backward(self, dout, cache):
        return dout.reshape(cache)


class UpsampleNearest2d(Module):
    """Nearest-neighbour upsampling by an integer factor: (N, C, H, W) -> (N, C, s*H, s*W).

    Each input pixel becomes an ``s x s`` block, so in backward each block's
    gradients are summed back onto its pixel. (Matches torch's
    ``F.interpolate(mode="nearest", scale_factor=s)`` for integer ``s``.)
    """

    def __init__(self, scale_factor=2):
        super().__init__()
        self.scale = _positive_int("scale_factor", scale_factor)

    def forward(self, x):
        _check_input("x", x, 4, None)
        N, C, H, W = x.shape
        s = self.scale
        out = np.broadcast_to(x[:, :, :, None, :, None], (N, C, H, s, W, s))
        return out.reshape(N, C, H * s, W * s), x.shape

    def backward(self, dout, cache):
        N, C, H, W = cache
        s = self.scale
        return dout.reshape(N, C, H, s, W, s).sum(axis=(3, 5))

    def __repr__(self):
        return f"UpsampleNearest2d(scale_factor={self.scale})"


@njit(cache=True)
def _maxpool_forward_kernel(x, k, stride, padding, out, argmax):
    """out[n, c, oh, ow] = max of the window; argmax = flat index h*W + w of the first maximum."""
    N, C, H, W = x.shape
    _, _, Ho, Wo = out.shape
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    best, best_index = -np.inf, -1
                    for h in range(max(oh * stride - padding, 0), min(oh * stride - padding + k, H)):
                        for w in range(max(ow * stride - padding, 0), min(ow * stride - padding + k, W)):
                            if best_index < 0 or x[n, c, h, w] > best:
                                best, best_index = x[n, c, h, w], h * W + w
                    out[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = best_index


@njit(cache=True)
def _maxpool_backward_kernel(dout, argmax, dx):
    """Route each output's gradient to the input pixel that won its window (``dx`` zeroed)."""
    N, C, Ho, Wo = dout.shape
    W = dx.shape[3]
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    index = argmax[n, c, oh, ow]
                    dx[n, c, index // W, index % W] += dout[n, c, oh, ow]


class MaxPool2d(Module):
    """Max over ``k x k`` windows: (N, C, H, W) -> (N, C, Ho, Wo), ``Ho = (H + 2p - k) // stride + 1``.

    Padding counts as -inf (never the maximum), as in torch; ``stride`` defaults to
    ``kernel_size``; ties go to the first maximum in row-major window order.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _positive_int("stride", stride)
        self.padding = _positive_int("padding", padding, 0)
        if self.padding > self.kernel_size // 2:
            raise ValueError(f"padding must be at most kernel_size // 2 = {self.kernel_size // 2}, got {padding}")

    def forward(self, x):
        _check_input("x", x, 4, None)
        N, C, H, W = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
        if Ho < 1 or Wo < 1:
            raise ValueError(f"kernel_size {k} is larger than the padded input {H}x{W} (padding {p})")
        out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
        argmax = np.empty((N, C, Ho, Wo), dtype=np.int64)
        _maxpool_forward_kernel(np.ascontiguousarray(x), k, s, p, out, argmax)
        return out, (x.shape, argmax)

    def backward(self, dout, cache):
        shape, argmax = cache
        if np.shape(dout) != argmax.shape:
            raise ValueError(f"dout must have the output's shape {argmax.shape}, got {np.shape(dout)}")
        dx = np.zeros(shape, dtype=dout.dtype)
        _maxpool_backward_kernel(np.ascontiguousarray(dout), argmax, dx)
        return dx

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class GroupNorm(Module):
    """Group normalisation: normalise each group of ``C // G`` channels of each sample.

    For x (N, C, ...) split the channels into ``num_groups`` groups; each
    (sample, group) is normalised by its own mean and (biased) variance, then
    scaled and shifted per channel: ``out = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]``.
    Unlike batch norm it does not depend on the batch, which suits Mask R-CNN's
    batches of one or two images. Params ``weight`` (C,) = 1 and ``bias`` (C,) = 0.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5):
        super().__init__()
        self.num_groups = _positive_int("num_groups", num_groups)
        num_channels = _positive_int("num_channels", num_channels)
        if num_channels % self.num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.eps = float(eps)
        self.add_param("weight", np.ones(num_channels, dtype=np.float32))
        self.add_param("bias", zeros(num_channels))

    def forward(self, x):
        gamma = self.params["weight"]
        if not isinstance(x, np.ndarray) or x.ndim < 2 or x.shape[1] != gamma.size:
            raise ValueError(f"x must have shape (N, {gamma.size}, ...), got {np.shape(x)}")
        _check_input("x", x, x.ndim, gamma.dtype)
        # (N, C, ...) -> same shape; cache (xhat, inv_std (N, G)). The formulas: ops/group_norm.py
        return group_norm_forward(x, gamma, self.params["bias"], self.num_groups, self.eps)

    def backward(self, dout, cache):
        dx, dgamma, dbeta = group_norm_backward(dout, cache, self.params["weight"], self.num_groups)
        self.grads["weight"] += dgamma
        self.grads["bias"] += dbeta
        return dx

    def __repr__(self):
        return f"GroupNorm({self.num_groups}, {self.params['weight'].size}, eps={self.eps})"


class Sequential(Module):
    """Layers applied in order; children are named ``layers.0``, ``layers.1``, ...

    ``forward`` returns ``(out, caches)`` with one cache per layer; ``backward``
    walks the layers in reverse.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"layers[{i}] must be a Module, got {type(layer).__name__}")
        self.layers = list(layers)

    def forward(self, x):
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x)
            caches.append(cache)
        return x, caches

    def backward(self, dout, cache):
        for layer, layer_cache in zip(reversed(self.layers), reversed(cache)):
            dout = layer.backward(dout, layer_cache)
        return dout

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
