"""Receptive fields from the recurrence agree with hand-worked values and with real convolutions."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from minimaskrcnn.config import Config
from minimaskrcnn.model.backbone import TinyResNet
from minimaskrcnn.nn.layers import Conv2d
from minimaskrcnn.visualize.stages import (ReceptiveField, backbone_conv_path, draw_feature_maps, grow,
                                           receptive_fields)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_default_backbone_by_hand():
    body = TinyResNet(Config(), rng=np.random.default_rng(0))
    got = [(f.name, f.size, f.stride, f.start) for f in receptive_fields(body)]
    # stem 3 = 1 + 2*1; each stage adds 2*jump (3x3/2) then 2*(2*jump) (3x3/1)
    assert got == [("stem", 3, 2, 0.5), ("C2", 15, 4, 0.5), ("C3", 39, 8, 0.5), ("C4", 87, 16, 0.5)]


def test_more_blocks_widen_the_field():
    body = TinyResNet(Config(stage_blocks=(2, 1, 1)), rng=np.random.default_rng(0))
    sizes = [f.size for f in receptive_fields(body)]
    assert sizes == [3, 15 + 2 * 4 * 2, 39 + 16, 87 + 16]  # two extra 3x3/1 convs at jump 4


def test_grow_handles_padding_and_dilation():
    rng = np.random.default_rng(0)
    conv = Conv2d(1, 1, 3, stride=1, padding=0, dilation=2, rng=rng)
    size, jump, start = grow((1.0, 1, 0.5), conv)
    assert (size, jump) == (5, 1)
    assert start == 0.5 + 2.0  # output cell 0 is centred on input pixel 2 (no padding)


def test_box_and_centre():
    f = ReceptiveField("C4", 87, 16, 0.5)
    assert f.centre(4) == 64.5
    assert np.array_equal(f.box(4, 2), [32.5 - 43.5, 64.5 - 43.5, 32.5 + 43.5, 64.5 + 43.5])


@pytest.mark.parametrize("changes", [{}, {"stage_blocks": (2, 1, 1)}])
def test_field_equals_support_of_the_real_convolutions(changes):
    """Chain the backbone's own convs (norms and ReLUs left out, weights made positive so
    nothing cancels), backpropagate a one-hot at one output cell: the pixels with a nonzero
    gradient are exactly the predicted window, clipped to the image."""
    cfg = Config(image_size=192, **changes)
    body = TinyResNet(cfg, rng=np.random.default_rng(0)).astype(np.float64)
    convs = [c for _, cs in backbone_conv_path(body) for c in cs]
    for c in convs:
        c.params["weight"][...] = np.abs(c.params["weight"]) + 0.1
    x = np.random.default_rng(1).uniform(0.5, 1.0, (1, 3, 192, 192))
    caches, h = [], x
    for c in convs:
        h, cache = c.forward(h)
        caches.append(cache)
    y, xc = 6, 5  # windows inside the image on every side, so both ends are checked
    d = np.zeros_like(h)
    d[0, 0, y, xc] = 1.0
    for c, cache in zip(reversed(convs), reversed(caches)):
        d = c.backward(d, cache)
    rows = np.flatnonzero(np.abs(d[0]).sum(axis=(0, 2)) > 0)
    cols = np.flatnonzero(np.abs(d[0]).sum(axis=(0, 1)) > 0)
    x1, y1, x2, y2 = receptive_fields(body)[-1].box(y, xc)
    assert 0 < y1 and 0 < x1 and y2 < 192 and x2 < 192
    assert (rows[0], rows[-1] + 1) == (y1, y2)
    assert (cols[0], cols[-1] + 1) == (x1, x2)


def test_draw_feature_maps_picks_the_most_varied_channels():
    f = np.zeros((5, 4, 4))
    f[3] = np.arange(16).reshape(4, 4)
    f[1, 0, 0] = 1.0
    fig = draw_feature_maps(f, max_maps=2)
    assert [ax.get_title() for ax in fig.axes] == ["ch 3", "ch 1"]
    fig = draw_feature_maps(f, channels=[0, 4], title="t")
    assert [ax.get_title() for ax in fig.axes] == ["ch 0", "ch 4"]
    with pytest.raises(ValueError, match="feature"):
        draw_feature_maps(f[0])
