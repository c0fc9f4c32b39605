"""The hand-written neural-network kit: layers, losses, optimizer, gradient checks."""
from minimaskrcnn.nn.module import Module
from minimaskrcnn.nn.gradcheck import numerical_gradient, numerical_gradient_at, rel_error
from minimaskrcnn.nn import init
from minimaskrcnn.nn.layers import (
    Conv2d, ConvTranspose2d, Flatten, GroupNorm, Linear, MaxPool2d, ReLU, Sequential, UpsampleNearest2d,
)
from minimaskrcnn.nn.losses import sigmoid_bce_with_logits, smooth_l1_loss, softmax_cross_entropy
from minimaskrcnn.nn.optim import SGD, WarmupStepLR, clip_grad_norm
