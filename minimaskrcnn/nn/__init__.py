"""The hand-written neural-network kit: layers, losses, optimizer, gradient checks."""
from minimaskrcnn.nn.module import Module
from minimaskrcnn.nn.gradcheck import numerical_gradient, rel_error
