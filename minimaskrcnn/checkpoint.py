"""Checkpoints: ``.npz`` files written atomically, never pickled.

A checkpoint holds named arrays: ``param/<name>`` for every model parameter,
``config`` (the Config as JSON text), and for training checkpoints also
``optim/<name>`` (momentum buffers), ``step`` and ``history`` (JSON text).
``MaskRCNN.load`` reads any of them, so a training checkpoint is also a model.

Atomic write: the arrays go to ``<path>.tmp``, are flushed to disk, and the
temporary file is renamed over ``path`` in one ``os.replace``. A crash or
Ctrl-C during the write leaves the previous checkpoint untouched; so does a
full disk or a folder that cannot be written (``OSError`` naming ``path``).
"""
from __future__ import annotations

import os

import numpy as np


def atomic_write(path: str, write, mode: str = "wb") -> None:
    """Call ``write(f)`` on ``<path>.tmp`` opened with ``mode``, then rename it over ``path``."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # disk full, read-only folder, missing folder: name the file, keep the old one
        message = f"cannot write {path} ({e.strerror or e}); the previous file, if any, is unchanged"
        raise (type(e)(e.errno, message) if e.errno else type(e)(message)) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_savez(path: str, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` as .npz so that ``path`` is always complete."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_npz(path: str) -> dict:
    """All arrays of an .npz file, loaded eagerly, pickles refused."""
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint: no such file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as e:  # zipfile/OSError/ValueError: all mean "not a valid checkpoint"
        raise ValueError(f"checkpoint {path!r} is not a readable .npz file ({e})") from None
