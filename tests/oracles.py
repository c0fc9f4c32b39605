"""pycocotools as the test oracle: skipped where it is missing, except in CI, where that fails.

``pycocotools`` is in requirements.txt, so a CI run (environment variable
``CI=true``, as GitHub Actions and ``.ci/run`` set it) must have it: there a
missing module fails the comparison tests instead of silently skipping them.
"""
import importlib
import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pycocotools(module: str = "pycocotools"):
    """Import ``module`` (e.g. "pycocotools.coco"): skip the test without it, fail it under CI."""
    if not in_ci():
        return pytest.importorskip(module)
    try:
        return importlib.import_module(module)
    except ImportError as e:
        pytest.fail(f"CI=true but {module} cannot be imported ({e}); it is in requirements.txt")
