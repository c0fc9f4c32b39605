import numpy as np

from minimaskrcnn.config import Config
from minimaskrcnn.model.anchors import anchors_for_config, cell_anchors, generate_anchors, num_anchors_per_cell


def test_worked_example():
    a = generate_anchors((2, 2), 16, (16.0,), (1.0,))
    np.testing.assert_array_equal(a, [[-8, -8, 8, 8], [8, -8, 24, 8], [-8, 8, 8, 24], [8, 8, 24, 24]])
    b = generate_anchors((2, 2), 16, (16.0,), (1.0,), offset=0.5)  # centred on the 16x16 blocks
    np.testing.assert_array_equal(b, [[0, 0, 16, 16], [16, 0, 32, 16], [0, 16, 16, 32], [16, 16, 32, 32]])


def test_area_and_ratio_of_cell_anchors():
    base = cell_anchors((16.0, 32.0), (0.5, 1.0, 2.0))
    w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    np.testing.assert_allclose(w * h, np.repeat([16.0**2, 32.0**2], 3), rtol=1e-5)
    np.testing.assert_allclose(h / w, np.tile([0.5, 1.0, 2.0], 2), rtol=1e-5)
    np.testing.assert_allclose(base[:, :2] + base[:, 2:], 0, atol=1e-5)  # centred at 0


def test_ordering_is_cell_major_then_anchor():
    sizes, ratios = (8.0, 16.0), (0.5, 2.0)
    H, W, A = 3, 4, 4
    a = generate_anchors((H, W), 8, sizes, ratios).reshape(H, W, A, 4)
    centres = (a[..., :2] + a[..., 2:]) / 2  # (H, W, A, 2)
    np.testing.assert_allclose(centres[2, 1, 3], [1 * 8, 2 * 8])
    np.testing.assert_allclose(a[0, 0], cell_anchors(sizes, ratios))


def test_config_levels():
    cfg = Config(use_fpn=False)
    (a,) = anchors_for_config(cfg, [(8, 8)])
    assert a.shape == (8 * 8 * num_anchors_per_cell(cfg), 4)
    cfg = Config(use_fpn=True)
    levels = anchors_for_config(cfg, [(32, 32), (16, 16), (8, 8)])
    assert [len(x) for x in levels] == [32 * 32 * 3, 16 * 16 * 3, 8 * 8 * 3]
    sizes = [np.sqrt(np.prod(x[:, 2:] - x[:, :2], axis=1)).mean() for x in levels]
    np.testing.assert_allclose(sizes, cfg.anchor_sizes, rtol=1e-4)
