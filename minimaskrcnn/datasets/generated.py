"""What every generated dataset shares: sample i is drawn from ``default_rng([seed, i])`` alone.

A subclass names its config type and a ``sample_fn(rng, config, image_id)``;
indexing, iteration, validation and the unbounded ``generate(i)`` (fresh
images for training, past the end included) live here once.
"""
from __future__ import annotations

import numpy as np


class GeneratedDataset:
    """``num_images`` deterministic samples; ``dataset[i]`` for 0 <= i < len (negative from the end)."""

    config_type: type = object
    sample_fn = None  # staticmethod(sample_fn(rng, config, image_id) -> sample dict)

    def __init__(self, num_images: int, seed: int = 0, config=None) -> None:
        config = self.config_type() if config is None else config
        if not isinstance(num_images, (int, np.integer)) or num_images < 0:
            raise ValueError(f"num_images: expected an int >= 0, got {num_images!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
        if not isinstance(config, self.config_type):
            raise TypeError(f"config: expected a {self.config_type.__name__}, got {type(config).__name__}")
        self.num_images, self.seed, self.config = int(num_images), int(seed), config

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> dict:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        if index < 0:
            index += self.num_images
        if not 0 <= index < self.num_images:
            raise IndexError(f"index {index} out of range for {self.num_images} images")
        return self.generate(int(index))

    def __iter__(self):
        return (self.generate(i) for i in range(self.num_images))

    def generate(self, index: int) -> dict:
        """Sample ``index`` (any int >= 0), drawn from ``default_rng([seed, index])``."""
        if index < 0:
            raise ValueError(f"index: expected >= 0, got {index}")
        rng = np.random.default_rng([self.seed, int(index)])
        return type(self).sample_fn(rng, self.config, int(index))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_images={self.num_images}, seed={self.seed}, config={self.config})"
