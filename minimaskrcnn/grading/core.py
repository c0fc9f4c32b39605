"""The grading machinery: checks, their verdicts, and how a failure is explained.

A **check** is a small function that receives the student's functions and
raises ``CheckFailed`` with a message when something is wrong. Every way a
student's code can misbehave ends as a verdict for that one check, never as a
crash of the grader:

=================  ==============================================================
``passed``         full points
``failed``         a property broke: the message names it, shows the smallest
                   counterexample hypothesis found (or the worked example) and
                   what was expected
``error``          the student's function raised (which function, which exception)
``not implemented`` the stub still raises ``NotImplementedError``
``missing``        the notebook does not define the function
``timeout``        the check ran past its time limit (an infinite loop?)
=================  ==============================================================

The student's functions are wrapped (``StudentFunction``) so that the grader
can tell their exceptions from its own, record how they were called (the call
is part of the counterexample), and stop at once on a stub or a timeout:
those two are ``BaseException`` subclasses, which hypothesis does not try to
shrink.

``falsify`` runs a hypothesis property with fixed settings (derandomised, so
the same code always gets the same grade; no example database) and turns its
minimal failing example into the message.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

# --------------------------------------------------------------------------- verdicts


class CheckFailed(AssertionError):
    """A check's verdict "failed"; the message is what the student reads."""


class StudentError(Exception):
    """The student's function raised ``error`` (an ordinary exception)."""

    def __init__(self, name: str, error: BaseException, where: str):
        self.name, self.error, self.where = name, error, where
        super().__init__(f"{name} raised {type(error).__name__}: {error}{where}")


class StubNotImplemented(BaseException):
    """The student's function still raises NotImplementedError (stops a check at once)."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)


class CheckTimeout(BaseException):
    """The time limit of a check ran out (raised from a signal handler)."""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise ``CheckTimeout`` in the block after ``seconds`` (main thread, Unix; else no limit).

    The alarm repeats every second until the block ends, so code that swallows the
    first one (a bare ``except:``) is interrupted again. Pure-Python loops are
    stopped this way; a hung C or Numba call is not -- the subprocess runner
    (``runner.py``) kills the whole process for those.
    """
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise CheckTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 1e-3), 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- the student's functions


def show(value, max_size: int = 64) -> str:
    """Python source for ``value`` where it is small (so a counterexample can be pasted)."""
    if isinstance(value, np.ndarray):
        if value.size > max_size:
            return f"<array of shape {value.shape}, dtype {value.dtype}>"
        with np.printoptions(precision=6, suppress=True, threshold=max_size, linewidth=100):
            text = repr(value)
        return "np." + text if text.startswith("array(") else text
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        inner = ", ".join(show(v, max_size) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, float):
        return repr(float(value))
    return repr(value)


def _student_frame(tb) -> str:
    """Where the student's code raised: ' (cell 3, line 12: x = f[i])' or ' (line 12 of your code: ...)'."""
    frames = [f for f in traceback.extract_tb(tb) if "minimaskrcnn" not in f.filename.replace("\\", "/")
              and "site-packages" not in f.filename and "/lib/python" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    where = f"{f.filename.strip('<>')}, line {f.lineno}" if f.filename.startswith("<cell") else \
        f"line {f.lineno} of your code"
    return f" ({where}: {f.line.strip()})" if f.line else f" ({where})"


def _snapshot(value):
    return value.copy() if isinstance(value, np.ndarray) else value


class StudentFunction:
    """Calls the student's ``fn``; remembers the last calls; classifies what it raises."""

    def __init__(self, name: str, fn: Callable):
        self.name, self.fn = name, fn
        self.calls: list = []  # (args, kwargs) of the last three calls, copied

    def __call__(self, *args, **kwargs):
        self.calls.append(([_snapshot(a) for a in args], {k: _snapshot(v) for k, v in kwargs.items()}))
        del self.calls[:-3]  # the last three are enough to reproduce a failure
        try:
            return self.fn(*args, **kwargs)
        except NotImplementedError:
            raise StubNotImplemented(self.name) from None
        except (StubNotImplemented, CheckTimeout, KeyboardInterrupt):
            raise
        except Exception as e:  # the student's bug: report it as theirs
            raise StudentError(self.name, e, _student_frame(e.__traceback__)) from None

    def shown_calls(self) -> list[str]:
        return [f"{self.name}({', '.join([show(a) for a in args] + [f'{k}={show(v)}' for k, v in kw.items()])})"
                for args, kw in self.calls]


class Functions:
    """The student's functions as attributes: ``s.roi_align(...)``."""

    def __init__(self, functions: dict[str, StudentFunction]):
        self._functions = functions
        for name, f in functions.items():
            setattr(self, name, f)

    def clear_calls(self) -> None:
        for f in self._functions.values():
            f.calls.clear()

    def last_calls(self) -> list[str]:
        return [c for f in self._functions.values() for c in f.shown_calls()]


# --------------------------------------------------------------------------- comparisons


def as_array(got, name: str, expected_shape=None, dtype=np.float64) -> np.ndarray:
    """``got`` as an array, or CheckFailed naming what came back instead."""
    if got is None:
        raise CheckFailed(f"{name} returned None (did you forget `return`?)"
                          + (f"; expected an array of shape {tuple(expected_shape)}" if expected_shape else ""))
    try:
        arr = np.asarray(got, dtype=dtype)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} returned a {type(got).__name__}, expected an array") from None
    if expected_shape is not None and arr.shape != tuple(expected_shape):
        raise CheckFailed(f"{name}: wrong shape: expected {tuple(expected_shape)}, got {arr.shape}")
    return arr


def expect_close(got, expected, name: str, rtol: float = 1e-7, atol: float = 1e-9, exact: bool = False) -> None:
    """CheckFailed unless ``got`` has ``expected``'s shape and values (to rtol/atol, or exactly)."""
    expected = np.asarray(expected)
    arr = as_array(got, name, expected.shape, dtype=np.float64 if expected.dtype.kind in "fc" else None)
    if arr.dtype.kind == "b" or expected.dtype.kind == "b" or exact:
        bad = arr != expected
    else:
        arr = arr.astype(np.float64)
        bad = ~np.isclose(arr, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return
    lines = [f"{name}: wrong values"]
    if expected.size <= 64:
        lines += [f"expected: {show(expected)}", f"got:      {show(arr)}"]
    else:
        idx = [tuple(int(i) for i in ix) for ix in np.argwhere(bad)[:3]]
        lines += [f"at index {ix}: expected {expected[ix]!r}, got {arr[ix]!r}" for ix in idx]
        lines.append(f"({int(bad.sum())} of {bad.size} values differ)")
    raise CheckFailed("\n".join(lines))


def expect_equal_indices(got, expected, name: str) -> None:
    """Kept indices (NMS): same indices in the same order."""
    expected = np.asarray(expected, dtype=np.int64)
    if got is None:
        raise CheckFailed(f"{name} returned None (did you forget `return`?)")
    try:
        arr = np.asarray(got).reshape(-1)
        if arr.size and not np.all(arr == np.round(arr)):
            raise ValueError
        arr = arr.astype(np.int64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} returned {show(got)}, expected an array of integer indices") from None
    if arr.shape != expected.shape or (arr != expected).any():
        raise CheckFailed(f"{name}: wrong indices\nexpected: {expected.tolist()}\ngot:      {arr.tolist()}")


def expect_gradient(analytic, numeric, name: str, tol: float = 1e-6) -> None:
    """CheckFailed unless the analytic gradient matches central differences (float64)."""
    from minimaskrcnn.nn import rel_error

    numeric = np.asarray(numeric)
    arr = as_array(analytic, name, numeric.shape)
    err = rel_error(numeric, arr)
    if not err <= tol:
        ix = np.unravel_index(int(np.argmax(np.abs(arr - numeric))), numeric.shape)
        raise CheckFailed(f"{name}: relative error {err:.3g} against the numerical gradient (central "
                          f"differences; a correct backward pass gives < {tol:g})\nlargest difference at index "
                          f"{tuple(int(i) for i in ix)}: numerical {numeric[ix]:.6g}, yours {arr[ix]:.6g}")


def agree(name: str, cases: list, student: Callable, reference: Callable, compare=None) -> None:
    """The student's function equals the reference on every case (dicts of keyword arguments).

    ``cases`` is a list of ``(label, kwargs)``, the arguments in the signature's order (they are
    passed positionally); ``compare(got, expected, name)`` defaults
    to ``expect_close``. The first case that differs is reported with its inputs.
    """
    compare = compare or expect_close
    for n, (label, kwargs) in enumerate(cases):
        expected = reference(*kwargs.values())
        got = student(*kwargs.values())  # positionally: the student may name the parameters differently
        try:
            compare(got, expected, name)
        except CheckFailed as e:
            raise CheckFailed(f"disagrees with the package's reference on case {n + 1} of {len(cases)} "
                              f"({label}):\n{e}\ninputs:\n{describe_case(kwargs)}") from None


# --------------------------------------------------------------------------- hypothesis

class _ShrinkBudgetSpent(BaseException):
    """Stops hypothesis' shrinking once its time budget is spent (the best case so far is kept)."""


# How hard ``falsify`` searches: examples per property, and seconds of shrinking after the first
# failure. Override with ``search_effort`` (the tests use less) or the environment variables
# MINIMASKRCNN_GRADING_EXAMPLES / MINIMASKRCNN_GRADING_SHRINK_SECONDS.
EFFORT = {"max_examples": int(os.environ.get("MINIMASKRCNN_GRADING_EXAMPLES", 40)),
          "shrink_seconds": float(os.environ.get("MINIMASKRCNN_GRADING_SHRINK_SECONDS", 8.0)),
          "timeout_scale": float(os.environ.get("MINIMASKRCNN_GRADING_TIMEOUT_SCALE", 1.0))}


@contextlib.contextmanager
def search_effort(max_examples: int | None = None, shrink_seconds: float | None = None,
                  timeout_scale: float | None = None):
    """Temporarily change how many examples each property tries, how long it shrinks, and the
    factor on every check's time limit (a busy machine)."""
    saved = dict(EFFORT)
    EFFORT.update({k: v for k, v in (("max_examples", max_examples), ("shrink_seconds", shrink_seconds),
                                     ("timeout_scale", timeout_scale)) if v is not None})
    try:
        yield
    finally:
        EFFORT.update(saved)


def describe_case(case: dict) -> str:
    return "\n".join(f"    {k} = {show(v)}" for k, v in case.items())


def falsify(statement: str, strategy, prop: Callable[[dict], None], functions: Functions,
            max_examples: int | None = None) -> None:
    """Search for a case that breaks ``prop``; CheckFailed with the smallest one found.

    ``strategy`` draws case dicts; ``prop(case)`` raises CheckFailed (or lets the
    student's StudentError through) when the property does not hold. Hypothesis
    shrinks a failing case towards a minimal one; every failing case is recorded
    as it happens, so when the shrinking budget runs out the best one so far is
    reported (hypothesis only moves to smaller failing cases).
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.reporting import with_reporter

    failures: list = []  # (case, calls, error), in the order found: the last is the smallest
    first_failure = []

    @settings(max_examples=max_examples or EFFORT["max_examples"], derandomize=True, database=None,
              deadline=None, report_multiple_bugs=False, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate, Phase.shrink))
    @given(strategy)
    def search(case):
        if first_failure and time.perf_counter() - first_failure[0] > EFFORT["shrink_seconds"]:
            raise _ShrinkBudgetSpent()
        functions.clear_calls()
        try:
            prop(case)
        except (CheckFailed, StudentError) as e:
            failures.append((case, functions.last_calls(), e))
            first_failure[:] = first_failure or [time.perf_counter()]
            raise

    try:
        with with_reporter(lambda message: None):  # the counterexample is printed our way
            search()
    except (CheckFailed, StudentError, _ShrinkBudgetSpent):
        pass
    except Exception as e:  # hypothesis' Flaky*: the same input failed once and passed once
        if "Flaky" not in type(e).__name__:
            raise
        raise CheckFailed(f"property broken: {statement}\nyour function gave different results for the same "
                          f"input (does it keep state between calls, or use randomness?)") from None
    if not failures:
        return
    case, calls, e = failures[-1]
    lines = [f"property broken: {statement}", "smallest counterexample hypothesis found:", describe_case(case)]
    if calls:
        lines += ["your function was called as:"] + [f"    {c}" for c in calls]
    detail = str(e).split("\n\nFalsifying example")[0].rstrip()
    lines.append(detail if isinstance(e, CheckFailed) else f"and {detail}")
    raise CheckFailed("\n".join(lines))


@contextlib.contextmanager
def explain(what: str):
    """Put ``what`` (the example, the rule it shows) in front of any failure or student error inside."""
    try:
        yield
    except CheckFailed as e:
        raise CheckFailed(f"{what}\n{e}") from None
    except StudentError as e:  # still an error (the code crashed), with the example in front
        e.args = (f"{what}\n{e}",)
        raise


def with_inputs(message: str, **inputs) -> str:
    """A failure message followed by the inputs that produced it."""
    return message + "\ninputs:\n" + describe_case(inputs)


# --------------------------------------------------------------------------- checks and results


@dataclass(frozen=True)
class Check:
    """One graded check of an exercise.

    ``run(s)`` gets the student's functions as attributes of ``s`` and raises
    CheckFailed when something is wrong (returning a string adds a note).
    """

    key: str  # unique within the exercise, e.g. "worked_example" (nbgrader grade_id: exercise + key)
    title: str  # one line for the table
    points: int
    needs: tuple[str, ...]  # names the notebook must define
    run: Callable[[Functions], str | None]
    timeout: float = 60.0  # seconds
    hidden: bool = False  # nbgrader: the test cell's body is a hidden test
    optional: tuple[str, ...] = ()  # names passed to ``run`` when the notebook defines them


@dataclass
class CheckResult:
    exercise: str
    key: str
    title: str
    status: str  # passed | failed | error | not implemented | missing | timeout
    points: float
    max_points: int
    message: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


def run_check(exercise: str, check: Check, namespace: dict, timeout: float | None = None) -> CheckResult:
    """Grade one check against the functions in ``namespace``; never raises (but for Ctrl-C)."""
    start = time.perf_counter()

    def verdict(status: str, message: str) -> CheckResult:
        points = check.points if status == "passed" else 0
        return CheckResult(exercise, check.key, check.title, status, points, check.points, message,
                           round(time.perf_counter() - start, 3))

    missing = [n for n in check.needs if not callable(namespace.get(n))]
    if missing:
        return verdict("missing", f"define {', '.join(missing)} (not found in the notebook)")
    names = list(check.needs) + [n for n in check.optional if callable(namespace.get(n))]
    functions = Functions({n: StudentFunction(n, namespace[n]) for n in names})
    limit = check.timeout * EFFORT["timeout_scale"] if timeout is None else timeout
    try:
        with time_limit(limit):
            note = check.run(functions)
    except StubNotImplemented as e:
        return verdict("not implemented", f"{e.name} still raises NotImplementedError: fill in the stub")
    except CheckTimeout:
        return verdict("timeout", f"time limit of {limit:g} s exceeded (an infinite loop, or far too slow)")
    except CheckFailed as e:
        return verdict("failed", str(e))
    except StudentError as e:
        calls = functions.last_calls()
        return verdict("error", str(e) + ("\nlast call: " + calls[-1] if calls else ""))
    except Exception as e:  # a bug of the grader: say so, and keep grading
        return verdict("error", f"internal grader error ({type(e).__name__}: {e}); please report it")
    return verdict("passed", note or "")


@dataclass(frozen=True)
class Exercise:
    """One assignment: a notebook ``exercises/<id>.ipynb`` and the checks that grade it."""

    id: str  # notebook stem and nbgrader assignment name, e.g. "04_roi_align"
    title: str
    lecture: str  # the lecture notebook it follows, in ../notebooks/
    functions: tuple[str, ...]  # what the student writes
    checks: tuple[Check, ...]
    minutes: int  # expected time for a student who has followed the lecture
    teaches: str  # one paragraph for the teacher's guide

    @property
    def max_points(self) -> int:
        return sum(c.points for c in self.checks)

    def check(self, key: str) -> Check:
        for c in self.checks:
            if c.key == key:
                return c
        raise KeyError(f"exercise {self.id} has no check {key!r}; checks: {', '.join(c.key for c in self.checks)}")
