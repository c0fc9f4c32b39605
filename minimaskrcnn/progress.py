"""The training progress bar: an ETA from the steady steps, and one line when Numba compiles.

The first step of a run (or of a resumed one) is not like the others: on a
fresh machine it compiles every Numba kernel it meets (``@njit(cache=True)``,
about a minute on 2 cores) and even with a warm cache it loads them from disk.
Timed together with the steady steps it would give an ETA of hours. So
``TrainProgress`` restarts the bar's clock after that first step: rate and ETA
are measured from the second step on (tqdm's exponential smoothing does the
rest).

While the first step runs, a timer checks after a few seconds whether Numba
has compiled anything in this process (a *cache miss*: the kernel had no
up-to-date cached copy); if so it prints one line saying that this happens once
and where the compiled kernels are cached. A warm cache never prints it.
"""
from __future__ import annotations

import sys
import threading

NOTICE_AFTER_SECONDS = 3.0  # a first step with a warm cache takes about a second


def numba_cache_misses() -> tuple[int, str | None]:
    """(number of kernels compiled in this process, a folder where numba caches them), package kernels only.

    Reads each imported ``minimaskrcnn`` module's Numba dispatchers' ``stats``
    (a miss is counted when a compile starts, so this works during the compile).
    """
    try:
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return 0, None
    misses, where = 0, None
    seen = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("minimaskrcnn") or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and id(value) not in seen:
                seen.add(id(value))
                try:
                    stats = value.stats
                except Exception:  # a dispatcher without a cache (cache=False) has no stats to give
                    continue
                n = sum(stats.cache_misses.values())
                if n:
                    misses += n
                    where = where or stats.cache_path
    return misses, where


def compile_notice(where: str | None) -> str:
    place = f" in {where}" if where else ""
    return (f"compiling the Numba kernels: this happens once (about a minute on 2 cores); they are cached{place}, "
            f"so later runs start at once")


class TrainProgress:
    """A tqdm bar over steps ``start..total`` whose rate and ETA leave out the first step.

    Same calls as tqdm's: ``update(n)``, ``set_postfix(...)``, ``write(text)``, ``close()``.
    ``enabled=False`` draws and prints nothing (``write`` still prints).
    """

    def __init__(self, start: int, total: int, enabled: bool = True, notice_after: float = NOTICE_AFTER_SECONDS,
                 file=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=start, disable=not enabled, desc="train", unit="step",
                        dynamic_ncols=True, file=file)
        self.first_done = start >= total
        self.noticed = False
        self._timer = None
        if enabled and not self.first_done:
            self._timer = threading.Timer(notice_after, self._notice)
            self._timer.daemon = True
            self._timer.start()

    def _notice(self) -> None:
        misses, where = numba_cache_misses()
        if misses and not self.first_done:
            self.noticed = True
            self.write(compile_notice(where))

    def update(self, n: int = 1) -> None:
        if self.first_done:
            self.bar.update(n)
            return
        self.first_done = True
        if self._timer is not None:
            self._timer.cancel()
        done = self.bar.n + n
        self.bar.reset()  # restarts the clock and the smoothed rate: the ETA starts at the next step
        self.bar.n = self.bar.initial = done
        if not self.bar.disable:
            self.bar.last_print_n = done
            self.bar.refresh()

    def set_postfix(self, **kwargs) -> None:
        self.bar.set_postfix(**kwargs)

    def write(self, text: str) -> None:
        self.bar.write(text)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.bar.close()

    @property
    def n(self) -> int:
        return self.bar.n
