"""Training batches, made ahead of time in a background process (machinery; the lesson is in train.py).

Drawing, augmenting and stacking eight images takes a few tens of milliseconds of
plain Python and numpy, on one core. The training step spends much of its time
on one core too (Python between the parallel kernels), so on a 2-core machine a
second process can prepare the next batches in the idle time for free. That is
what ``BatchLoader`` does, like the worker processes of PyTorch's ``DataLoader``:

* the worker makes the batches of steps ``start, start + 1, ...`` in order and
  puts them in a queue a few batches deep (it waits when it is ahead);
* it runs at a lower priority (``os.nice``), so it only uses a core the training
  step leaves idle, and never slows the step's own threads;
* batch ``s`` depends only on ``(seed, s)``: the images the sampler picks for step
  ``s`` and ``batch_rng(seed, s)`` for augmentation and flips. So the batches are
  the same with or without the worker, and a resumed run sees the same batches
  as an uninterrupted one.

``workers=0`` makes every batch in the calling process instead (used when the
dataset cannot be sent to another process, e.g. one defined in a notebook).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import signal
import warnings

import numpy as np

from minimaskrcnn.datasets.augment import augment
from minimaskrcnn.datasets.transforms import collate, hflip, resize_longer

__all__ = ["BatchSampler", "BatchLoader", "batch_rng", "make_batch"]


class BatchSampler:
    """Which dataset indices make up step ``s``'s batch: epochs of seeded permutations."""

    def __init__(self, num_items: int, batch_size: int, seed: int):
        if num_items < 1:
            raise ValueError("dataset: the training dataset is empty")
        self.n, self.batch_size, self.seed = num_items, batch_size, seed
        self._perm_epoch, self._perm = -1, None

    def indices(self, step: int) -> list[int]:
        out = []
        for k in range(step * self.batch_size, (step + 1) * self.batch_size):
            epoch, pos = divmod(k, self.n)
            if epoch != self._perm_epoch:
                self._perm = np.random.default_rng([self.seed, 2, epoch]).permutation(self.n)
                self._perm_epoch = epoch
            out.append(int(self._perm[pos]))
        return out


def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The random stream of step ``step``'s augmentation and flips (the model samples from another)."""
    return np.random.default_rng([seed, 3, step])


def make_batch(dataset, indices, cfg, rng, flip_perm=None):
    """Resized (longer side ``cfg.image_size``), augmented (``datasets/augment.py``), randomly
    flipped samples, collated and padded to a multiple of the backbone's stride.

    Returns ``(images (N, H, W, 3) uint8, targets)`` as ``transforms.collate``;
    ``flip_perm`` swaps left/right keypoints.
    """
    samples = []
    for i in indices:
        s, _ = resize_longer(dataset[i], cfg.image_size)
        s = augment(s, cfg, rng)
        if rng.random() < cfg.hflip_prob:
            s = hflip(s, flip_perm)
        samples.append(s)
    return collate(samples, cfg.backbone_stride)


def _work(dataset, cfg, flip_perm, start, stop, out) -> None:
    """The worker process: batches of steps start..stop-1 into ``out``, in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's to handle
    try:
        os.nice(10)
    except OSError:  # pragma: no cover - some systems refuse
        pass
    parent = os.getppid()
    sampler = BatchSampler(len(dataset), cfg.batch_size, cfg.seed)

    def send(item) -> None:  # wait for room, but leave as soon as the trainer is gone (SIGKILL)
        while True:
            if os.getppid() != parent:
                os._exit(0)
            try:
                out.put(item, timeout=0.5)
                return
            except queue.Full:
                pass

    for step in range(start, stop):
        try:
            batch = make_batch(dataset, sampler.indices(step), cfg, batch_rng(cfg.seed, step), flip_perm)
        except Exception as e:  # hand the error to the trainer, which raises it
            send((step, None, f"{type(e).__name__}: {e}"))
            return
        send((step, batch, None))


class BatchLoader:
    """``loader.get(step)`` -> the batch of ``step``; steps must be asked for in order from ``start``.

    Args:
        dataset: any dataset of samples (``len`` and ``[i]``).
        cfg: the training Config (batch size, seed, image size, augmentation).
        start, stop: the steps this loader serves.
        workers: 1 for a background process, 0 to make batches in the caller.
        prefetch: how many batches the worker may make ahead.
    """

    def __init__(self, dataset, cfg, start: int, stop: int, flip_perm=None, workers: int = 1,
                 prefetch: int = 3):
        self.dataset, self.cfg, self.flip_perm = dataset, cfg, flip_perm
        self.next_step, self.stop = start, stop
        self.sampler = BatchSampler(len(dataset), cfg.batch_size, cfg.seed)
        self._process = self._queue = None
        if workers > 0 and stop > start and _can_send(dataset):
            context = mp.get_context("spawn")  # no fork: the parent may hold OpenMP threads
            self._queue = context.Queue(maxsize=max(1, prefetch))
            self._process = context.Process(target=_work, daemon=True, name="minimaskrcnn-batches",
                                            args=(dataset, cfg, flip_perm, start, stop, self._queue))
            self._process.start()

    @property
    def in_background(self) -> bool:
        return self._process is not None

    def get(self, step: int):
        if step != self.next_step:
            raise ValueError(f"step: batches come in order, expected step {self.next_step}, got {step}")
        self.next_step += 1
        if self._process is None:
            return make_batch(self.dataset, self.sampler.indices(step), self.cfg,
                              batch_rng(self.cfg.seed, step), self.flip_perm)
        while True:
            try:
                got, batch, error = self._queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._process.is_alive():  # batches are a function of the step: carry on here
                    warnings.warn(f"the batch worker process stopped (exit code {self._process.exitcode}); "
                                  "making batches in this process from now on. A script that calls train() "
                                  "needs an `if __name__ == \"__main__\":` guard for the worker to start.",
                                  RuntimeWarning, stacklevel=2)
                    self.close()
                    return make_batch(self.dataset, self.sampler.indices(step), self.cfg,
                                      batch_rng(self.cfg.seed, step), self.flip_perm)
        if error is not None:
            raise RuntimeError(f"making the batch of step {got} failed in the worker: {error}")
        return batch

    def close(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=5)
            self._queue.close()
            self._process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _can_send(dataset) -> bool:
    """Whether ``dataset`` can be pickled to a spawned process (a class defined in ``__main__`` cannot)."""
    if type(dataset).__module__ == "__main__":
        return False
    try:
        pickle.dumps(dataset)
    except Exception:
        return False
    return True
