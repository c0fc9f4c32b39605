"""The dataset's own category ids, kept beside the model's labels 1..K.

Inside the model a class is a label: 1..K (0 is background), in the order of
``Config.class_names``. A COCO dataset names its classes by category ids that
may be any integers (3, 7, 11, 12, 20); ``CocoDataset`` numbers them 1..K in
increasing id order. A checkpoint stores the id of every label
(``category_ids``, one per class name), so that ``predict`` and ``evaluate``
write results in the ids of the dataset the model was trained on, and
``evaluate-results`` can score them against that dataset's annotations.

Generated data (shapes, stick figures) and checkpoints written before the ids
were stored use the labels themselves: ids 1..K.
"""
from __future__ import annotations

from collections.abc import Mapping

from minimaskrcnn import checks


def default_category_ids(num_classes: int) -> tuple[int, ...]:
    """Ids 1..K: what generated data and old checkpoints (without stored ids) use."""
    return tuple(range(1, num_classes + 1))


def check_category_ids(what: str, ids, num_classes: int) -> tuple[int, ...]:
    """``ids`` as a tuple of ``num_classes`` distinct integers (the id of label k is ``ids[k - 1]``)."""
    try:
        ids = tuple(ids)
    except TypeError:
        raise TypeError(f"{what}: expected a sequence of {num_classes} integer category ids, "
                        f"got {checks.describe(ids)}") from None
    if len(ids) != num_classes or not all(checks.is_int(i) for i in ids) or len(set(ids)) != len(ids):
        raise ValueError(f"{what}: expected {num_classes} distinct integer category ids (one per class name), "
                         f"got {list(ids)}")
    return tuple(int(i) for i in ids)


def dataset_category_ids(dataset, num_classes: int) -> tuple[int, ...]:
    """The id of each label 1..K of ``dataset``: ``dataset.category_ids`` (a ``{label: id}`` dict
    as ``CocoDataset`` has, or a sequence), else 1..K (generated data)."""
    ids = getattr(dataset, "category_ids", None)
    if ids is None:
        return default_category_ids(num_classes)
    if isinstance(ids, Mapping):
        missing = [k for k in range(1, num_classes + 1) if k not in ids]
        if missing:
            raise ValueError(f"dataset.category_ids: no id for labels {missing} (expected one for each of "
                             f"1..{num_classes})")
        ids = [ids[k] for k in range(1, num_classes + 1)]
    return check_category_ids("dataset.category_ids", ids, num_classes)
