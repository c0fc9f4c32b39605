"""One look for every figure: a projector-safe palette, font sizes, and a readability check.

A figure in a notebook is shown at ``figsize x 100 dpi`` pixels, shrunk to fit
the output column when it is wider. We take that column to be
``DISPLAY_WIDTH_IN`` = 10 inches (1000 px), about what a notebook shows on a
1280-pixel projector. So a figure at most 10 inches wide is displayed at its
own size, and its text must be at least ``MIN_FONT_PT`` = 10 pt; a wider
figure is shrunk and needs proportionally larger text.
``readability_problems(fig)`` lists the texts that fall short.

Colours
-------
* ``CLASS_COLORS[label]``: one colour per class, the same in ground truth and
  prediction (label 0, background, is grey). From the Okabe-Ito palette, which
  stays distinct for colour-blind viewers and on a washed-out projector.
* ``ROLE_COLORS``: boxes by role (ground truth, anchor, positive, ...).
* Lines and text drawn over images get a dark outline (``halo``), so they stand
  out on any background colour the shapes generator picks.

``use_style()`` sets matplotlib's defaults (font sizes, line widths) for the
notebooks; the drawing functions of this package pass their sizes explicitly,
so they are readable with or without it.
"""
from __future__ import annotations

import numpy as np

MIN_FONT_PT = 10.0
DISPLAY_WIDTH_IN = 10.0
FONT = {"small": 10.0, "normal": 11.0, "title": 12.0}

# Okabe & Ito (2008), "Color Universal Design": orange, sky blue, bluish green, yellow,
# blue, vermillion, reddish purple. Label 0 (background) is grey.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
BACKGROUND_COLOR = "#999999"
CLASS_COLORS = (BACKGROUND_COLOR,) + OKABE_ITO

ROLE_COLORS = {
    "gt": "white",
    "anchor": "#56B4E9",      # sky blue
    "proposal": "#E69F00",    # orange
    "positive": "#F0E442",    # yellow
    "negative": "#D55E00",    # vermillion
    "ignored": "#56B4E9",     # sky blue
    "box": "#F0E442",
}
HALO = "black"


def class_color(label: int) -> str:
    """Colour of class ``label`` (0 background, 1..K classes); cycles after 7 classes."""
    label = int(label)
    if label < 0:
        raise ValueError(f"label: expected 0 (background) or a class 1..K, got {label}")
    return CLASS_COLORS[0] if label == 0 else OKABE_ITO[(label - 1) % len(OKABE_ITO)]


def class_colors(labels) -> list[str]:
    """``class_color`` of each label."""
    return [class_color(label) for label in np.asarray(labels).reshape(-1)]


def text_color_on(color) -> str:
    """Black or white, whichever reads better on ``color`` (by relative luminance)."""
    from matplotlib.colors import to_rgb

    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(color))
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18 else "white"


def halo(linewidth: float = 1.5, foreground: str = HALO) -> list:
    """Path effects that outline a line or a text in ``foreground`` (``artist.set_path_effects``)."""
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=linewidth, foreground=foreground), patheffects.Normal()]


def text_halo(width: float = 3.0) -> list:
    """A dark outline around text drawn straight onto an image."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground=HALO)]


def class_legend(ax, class_names, labels=None, loc="upper right", title=None, **kwargs):
    """A legend with one colour patch per class (the classes in ``labels``, or all of them).

    ``ax`` may be an Axes or a Figure (a figure-wide legend). Returns the Legend.
    """
    from matplotlib.patches import Patch

    shown = range(1, len(class_names) + 1) if labels is None else sorted({int(v) for v in np.ravel(labels)})
    handles = [Patch(facecolor=class_color(k), edgecolor="black", label=class_names[k - 1])
               for k in shown if 1 <= k <= len(class_names)]
    kwargs.setdefault("fontsize", FONT["small"])
    kwargs.setdefault("framealpha", 0.85)
    return ax.legend(handles=handles, loc=loc, title=title, **kwargs)


def use_style() -> None:
    """Font sizes and line widths for the notebooks (matplotlib's global defaults)."""
    import matplotlib

    matplotlib.rcParams.update({
        "font.size": FONT["normal"],
        "axes.titlesize": FONT["title"],
        "axes.labelsize": FONT["normal"],
        "xtick.labelsize": FONT["small"],
        "ytick.labelsize": FONT["small"],
        "legend.fontsize": FONT["small"],
        "legend.title_fontsize": FONT["small"],
        "figure.titlesize": FONT["title"] + 1,
        "lines.linewidth": 2.0,
        "lines.markersize": 7.0,
        "axes.prop_cycle": matplotlib.cycler(color=list(OKABE_ITO[:3] + OKABE_ITO[4:] + OKABE_ITO[3:4])),
        "figure.dpi": 100,
        "image.cmap": "viridis",
    })


def displayed_scale(fig, display_width_in: float = DISPLAY_WIDTH_IN) -> float:
    """How much the notebook shrinks ``fig``: 1 when it fits the column, else column / width."""
    renderer = fig.canvas.get_renderer()
    width = fig.get_tightbbox(renderer).width  # inches, as saved with bbox_inches="tight"
    return 1.0 if width <= display_width_in else display_width_in / width


def _drawn_texts(fig):
    """The Text artists matplotlib draws for ``fig``: titles, labels, tick labels in view, texts, legends."""
    out = list(fig.texts)
    if fig._suptitle is not None:
        out.append(fig._suptitle)
    legends = list(fig.legends)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        legends += [ax.get_legend()] if ax.get_legend() is not None else []
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                if not axis.get_visible():
                    continue
                out.append(axis.label)
                lo, hi = sorted(axis.get_view_interval())
                for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                    if lo - 1e-9 <= tick.get_loc() <= hi + 1e-9 and tick.get_visible():
                        out += [t for t in (tick.label1, tick.label2) if t.get_visible()]
    for legend in legends:
        out += [*legend.get_texts(), legend.get_title()]
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def readability_problems(fig, min_pt: float = MIN_FONT_PT, display_width_in: float = DISPLAY_WIDTH_IN):
    """Texts of ``fig`` smaller than ``min_pt`` at the size the notebook displays them.

    Returns ``[(text, displayed_pt), ...]``, empty when everything is readable.
    Only texts matplotlib draws are checked (not those of hidden axes or ticks out of view).
    """
    fig.canvas.draw()
    scale = displayed_scale(fig, display_width_in)
    return [(t.get_text(), round(t.get_fontsize() * scale, 1)) for t in _drawn_texts(fig)
            if t.get_fontsize() * scale < min_pt - 1e-6]
