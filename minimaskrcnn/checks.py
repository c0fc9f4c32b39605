"""Argument checks shared by every public function: one home, one message style.

Each check takes the argument's name as the caller knows it (``"rois"``,
``"targets[1]['boxes']"``, ``"Config.steps"``, ``"--out"``) and either returns
the value in a normal form or raises

* ``TypeError`` for the wrong kind of value (a string where a number belongs),
* ``ValueError`` for the right kind with a wrong value (a negative size),

with a message ``"<name> = <value>: expected <what>"`` (arrays are described
by shape and dtype, not printed). Kernels never check anything: they assume
what these functions guarantee.

Limits where work or memory grows with a number the user supplies live here
too, so that every module refuses the same sizes with the same words:

* ``MAX_IMAGE_PIXELS``: one image (or mask) of at most 2**28 pixels
  (16384 x 16384), a 256 MB boolean mask; RLE counts are 32-bit anyway.
"""
from __future__ import annotations

import math
import numbers
import os
import tempfile
from collections.abc import Mapping

import numpy as np

MAX_IMAGE_PIXELS = 2**28


# --------------------------------------------------------------------------- descriptions
def describe(value, limit: int = 60) -> str:
    """A short text for a value in an error message: arrays by shape and dtype."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(error, name: str, value, expected: str):
    raise error(f"{name} = {describe(value)}: expected {expected}")


# --------------------------------------------------------------------------- predicates
def is_int(value) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value, finite: bool = True) -> bool:
    """A real number (int or float, not a bool), finite unless ``finite=False``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        return False
    return not finite or math.isfinite(value)


# --------------------------------------------------------------------------- scalars
def integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (not a bool, not a float with an integer value) in [minimum, maximum]."""
    if not is_int(value):
        _fail(TypeError, name, value, "an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        _fail(ValueError, name, value, "an integer " + _range_text(minimum, maximum))
    return int(value)


def number(name: str, value, minimum=None, maximum=None, *, low_open: bool = False,
           high_open: bool = False, finite: bool = True) -> float:
    """A real number in the interval given by minimum/maximum (closed unless *_open)."""
    if not is_number(value, finite=False):
        _fail(TypeError, name, value, "a number")
    if math.isnan(value) or (finite and math.isinf(value)):
        _fail(ValueError, name, value, "a finite number" if finite else "a number, not NaN")
    low_bad = minimum is not None and (value <= minimum if low_open else value < minimum)
    high_bad = maximum is not None and (value >= maximum if high_open else value > maximum)
    if low_bad or high_bad:
        _fail(ValueError, name, value, "a number " + _range_text(minimum, maximum, low_open, high_open))
    return float(value)


def _range_text(minimum, maximum, low_open: bool = False, high_open: bool = False) -> str:
    if minimum is not None and maximum is not None:
        return f"in {'(' if low_open else '['}{minimum}, {maximum}{')' if high_open else ']'}"
    if minimum is not None:
        return f"{'>' if low_open else '>='} {minimum}"
    return f"{'<' if high_open else '<='} {maximum}"


def flag(name: str, value) -> bool:
    """True or False (a NumPy bool too), nothing else: 1 and "yes" are refused."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(TypeError, name, value, "True or False")
    return bool(value)


def choice(name: str, value, options):
    """One of ``options`` (compared with ==)."""
    if not any(value == o and type(value) is type(o) for o in options):
        _fail(ValueError, name, value, f"one of {tuple(options)}")
    return value


def rng(name: str, value) -> np.random.Generator:
    """A NumPy Generator, as every function that samples takes one."""
    if not isinstance(value, np.random.Generator):
        _fail(TypeError, name, value, "a numpy random Generator, e.g. np.random.default_rng(0)")
    return value


def mapping(name: str, value, required=()) -> Mapping:
    """A dict-like value holding every key of ``required``."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name}: expected a dict, got {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ValueError(f"{name}: missing key(s) {missing} (has {sorted(map(str, value))})")
    return value


# --------------------------------------------------------------------------- arrays
def real_array(name: str, value, *, ndim: int | None = None, shape=None, finite: bool = False,
               float_only: bool = False) -> np.ndarray:
    """A real-valued array (bool, int or float), checked for rank, shape and finiteness.

    shape: a tuple whose ``None`` entries match any size, e.g. ``(None, 4)``.
    float_only: refuse integer and bool arrays (TypeError) instead of accepting them.
    Returns ``np.asarray(value)`` (no copy, dtype kept).
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        raise TypeError(f"{name}: expected an array of numbers, got {describe(value)}") from None
    if arr.dtype.kind not in ("f" if float_only else "fiub"):
        raise TypeError(f"{name}: expected a {'float' if float_only else 'real-valued'} array, "
                        f"got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if shape is not None and (arr.ndim != len(shape)
                              or any(s is not None and s != a for s, a in zip(shape, arr.shape))):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name}: expected shape {expected}, got {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def binary_masks(name: str, value, shape=None) -> np.ndarray:
    """Masks as bool: bool arrays, or numbers that are all exactly 0 or 1.

    A float mask of 0.3 is refused rather than cast to True: soft masks must be
    thresholded by the caller, who knows which threshold is meant.
    """
    arr = real_array(name, value, shape=shape)
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            bad = arr[~np.isin(arr, (0, 1))].reshape(-1)[0].item()
            raise ValueError(f"{name}: expected a bool mask (or only the values 0 and 1), got dtype "
                             f"{arr.dtype} with the value {bad!r}; threshold soft masks first")
        arr = arr.astype(bool)
    return arr


def image_size(name: str, height, width) -> tuple[int, int]:
    """(height, width): positive ints whose product is at most ``MAX_IMAGE_PIXELS``."""
    h, w = integer(f"{name} height", height, 1), integer(f"{name} width", width, 1)
    if h * w > MAX_IMAGE_PIXELS:
        raise ValueError(f"{name}: {h} x {w} = {h * w} pixels is more than the limit of "
                         f"{MAX_IMAGE_PIXELS} (2**28; one boolean mask of it would take {h * w >> 20} MB)")
    return h, w


# --------------------------------------------------------------------------- files
def writable_dir(name: str, path) -> str:
    """Create directory ``path`` if needed and prove a file can be written in it (then remove it).

    Raises OSError naming the argument and the path, before any long work starts.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{name} {path}: exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise type(e)(f"{name} {path}: cannot write there ({e.strerror or e})") from None
    return path


def writable_file(name: str, path) -> str:
    """The folder of output file ``path`` exists (created if needed) and is writable."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{name} {path}: is a directory, expected a file name")
    writable_dir(name, os.path.dirname(os.path.abspath(path)))
    return path
