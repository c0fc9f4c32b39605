"""Seeded random cases for the RoI operations, and a comparison that names the first wrong RoI."""
from __future__ import annotations

import numpy as np

from minimaskrcnn.grading.core import CheckFailed, as_array, describe_case, show


def random_rois(rng, k: int, n: int, h: int, w: int, scale: float = 1.0) -> np.ndarray:
    """(k, 5) RoIs inside, on and past the border, zero-sized, and with negative coordinates."""
    H, W = h / scale, w / scale
    x1 = rng.uniform(-0.3 * W, 1.1 * W, k)
    y1 = rng.uniform(-0.3 * H, 1.1 * H, k)
    bw = rng.exponential(0.4 * W, k)
    bh = rng.exponential(0.4 * H, k)
    bw[::5] = 0.0  # zero width
    bh[1::5] = 0.0  # zero height
    return np.stack([rng.integers(0, n, k), x1, y1, x1 + bw, y1 + bh], axis=1)


def roi_pool_cases(seed: int, n: int = 8) -> list:
    """(label, kwargs of roi_pool) with ties, borders, zero sizes, several scales, and no RoIs."""
    rng = np.random.default_rng(seed)
    cases = []
    for trial in range(n):
        f = rng.normal(size=(2, 2, 7, 8))
        if trial % 2:
            f = np.round(f)  # many ties
        scale = float(rng.choice([1.0, 0.5, 0.3]))
        size = [(3, 2), 2, (1, 4), (2, 3)][trial % 4]
        label = f"2 images, {'ties, ' if trial % 2 else ''}spatial_scale {scale}, output_size {size}"
        rois = random_rois(rng, 6, 2, 7, 8, scale)
        if trial % 2:  # corners on half feature pixels: the rounding ties (exact at scales 1 and 0.5)
            rois[:, 1:] = np.round(rois[:, 1:] * scale * 2) / 2 / scale
            label += ", corners on half pixels"
        cases.append((label, dict(features=f, rois=rois, output_size=size, spatial_scale=scale)))
    cases.append(("no RoIs at all", dict(features=rng.normal(size=(1, 3, 4, 4)), rois=np.zeros((0, 5)),
                                         output_size=(2, 3), spatial_scale=1.0)))
    return cases


def roi_align_cases(seed: int, modes=("avg", "max")) -> list:
    """(label, kwargs of roi_align) over aligned, every kind of sampling_ratio, both modes, and no RoIs."""
    rng = np.random.default_rng(seed)
    cases = []
    for aligned in (True, False):
        for ratio in (-1, 0, 1, 2, 3):
            for mode in modes:
                f = rng.normal(size=(2, 2, 6, 7))
                scale = float(rng.choice([1.0, 0.5, 0.7]))
                size = (3, 2) if ratio % 2 else 2
                cases.append((f"aligned={aligned}, sampling_ratio={ratio}, mode={mode!r}, spatial_scale {scale}",
                              dict(features=f, rois=random_rois(rng, 5, 2, 6, 7, scale), output_size=size,
                                   spatial_scale=scale, sampling_ratio=ratio, aligned=aligned, mode=mode)))
    cases.append(("no RoIs at all", dict(features=rng.normal(size=(1, 3, 4, 4)), rois=np.zeros((0, 5)),
                                         output_size=(2, 3), spatial_scale=1.0, sampling_ratio=2, aligned=True,
                                         mode=modes[0])))
    return cases


def with_grad_output(cases: list, forward, seed: int) -> list:
    """The same cases with a random ``grad_output`` of the forward output's shape."""
    rng = np.random.default_rng(seed)
    return [(label, {"grad_output": rng.normal(size=np.shape(forward(**kw))), **kw}) for label, kw in cases]


def agree_rois(name: str, cases: list, student, reference, rtol: float = 1e-9, atol: float = 1e-9,
               output: str = "rois") -> None:
    """Like ``core.agree`` for ops with a (K, C, ...) output: the first wrong RoI is named.

    ``output="rois"``: the output is per RoI (forward). ``output="features"``: it is the
    features' gradient, compared as a whole.
    """
    for n, (label, kwargs) in enumerate(cases):
        expected = np.asarray(reference(*kwargs.values()))
        got = as_array(student(*kwargs.values()), name, expected.shape)  # positionally, in signature order
        bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
        if not bad.any():
            continue
        head = f"{name} disagrees with the package's reference on case {n + 1} of {len(cases)} ({label})"
        others = {k: v for k, v in kwargs.items() if k not in ("features", "rois", "grad_output")}
        if output == "rois":
            k, c = (int(v) for v in np.argwhere(bad)[0][:2])
            raise CheckFailed(f"{head}:\nfirst wrong RoI: rois[{k}] = {show(kwargs['rois'][k])}, channel {c}\n"
                              f"expected: {show(expected[k, c])}\ngot:      {show(got[k, c])}\n"
                              f"features: shape {kwargs['features'].shape}\n{describe_case(others)}")
        ix = tuple(int(v) for v in np.argwhere(bad)[0])
        raise CheckFailed(f"{head}:\n{name} at index {ix}: expected {expected[ix]:.6g}, got {got[ix]:.6g} "
                          f"({int(bad.sum())} of {bad.size} values differ)\n"
                          f"rois = {show(kwargs['rois'])}\nfeatures: shape {kwargs['features'].shape}\n"
                          f"{describe_case(others)}")
