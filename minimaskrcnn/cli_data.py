"""Commands about a user's own data: ``make-objects`` and ``inspect-data``, and the
settings ``train --data`` takes from a dataset (``datasets/statistics.py``).

    make-objects OUT --num-images N [--seed S]
        write the second toy dataset (rings, stars, crosses, bars; JPEG, mixed sizes,
        category ids 4/9/13/21) as a COCO folder
    inspect-data DIR [--out PNG] [--set KEY=VALUE ...]
        what the data looks like and what ``train --data DIR`` would choose, with a
        histogram of object sizes against the anchor sizes
"""
from __future__ import annotations

from pathlib import Path

from minimaskrcnn.cli import CliError, _int_at_least


def chosen_settings(dataset, cfg, given=()):
    """(cfg with the data-driven fields, stats, settings): every field in ``given`` is the user's and stays."""
    from minimaskrcnn.datasets.statistics import choose_settings, dataset_statistics

    stats = dataset_statistics(dataset)
    settings = choose_settings(stats, cfg)
    kept = [c for c in settings.choices if c.field in given]
    settings.choices = [c for c in settings.choices if c.field not in given]
    for c in kept:
        settings.warnings.append(f"{c.field} = {getattr(cfg, c.field)!r} is yours (the data suggested "
                                 f"{c.value!r}: {c.reason})")
    return cfg.replace(**settings.changes()), stats, settings


# -- make-objects ---------------------------------------------------------------------


def add_make_objects(subparsers) -> None:
    p = subparsers.add_parser(
        "make-objects", help="write the second toy dataset (rings, stars, crosses, bars) in COCO format",
        description="Generate rings (holed), stars and crosses (concave) and thin bars on textured "
                    "backgrounds, in images of mixed sizes, and write them as OUT/images/*.jpg plus "
                    "OUT/annotations.json (polygons, RLE for holed or occluded objects, category ids "
                    "4, 9, 13, 21). The same seed always gives the same data.")
    p.add_argument("out", metavar="OUT", help="output directory (created if missing)")
    p.add_argument("--num-images", "-n", type=_int_at_least(1), required=True, metavar="N",
                   help="number of images to write")
    p.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S",
                   help="random seed; image i is drawn from (S, i) (default: 0)")
    p.add_argument("--first-image-id", type=_int_at_least(0), default=1, metavar="ID",
                   help="id of the first image (default: 1); give a val set other ids than its train set")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing OUT/annotations.json instead of stopping")
    p.set_defaults(run=run_make_objects)


def run_make_objects(args) -> int:
    from minimaskrcnn.cli import _write_generated
    from minimaskrcnn.datasets.objects import write_objects_folder

    return _write_generated(  # the writer draws the samples itself
        args, lambda a: None,
        lambda _, out: write_objects_folder(out, args.num_images, seed=args.seed, first_image_id=args.first_image_id),
        what=f"mixed sizes, seed {args.seed}")


# -- inspect-data ---------------------------------------------------------------------


def add_inspect_data(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect-data", help="what a COCO folder holds and the settings train --data would choose",
        description="Read DIR/annotations.json (no image is decoded) and print the images' and objects' "
                    "sizes, the classes with their dataset ids, and the input size, anchors and schedule "
                    "that `train --data DIR` would choose, with the reasons; draw the objects' sizes "
                    "against the anchor sizes.")
    p.add_argument("data", metavar="DIR", help="COCO-format dataset: DIR/annotations.json + DIR/images/")
    p.add_argument("--out", default="runs/inspect/object_sizes.png", metavar="PNG",
                   help="where to save the histogram (default: runs/inspect/object_sizes.png)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides",
                   help="a setting you would pass to train (it is kept, not chosen)")
    p.set_defaults(run=run_inspect_data)


def run_inspect_data(args) -> int:
    from minimaskrcnn.checks import writable_file
    from minimaskrcnn.cli_model import _coco_folder, parse_overrides
    from minimaskrcnn.config import Config
    from minimaskrcnn.datasets.statistics import plot_object_sizes, summary

    changes = parse_overrides(args.overrides)
    cfg = Config().replace(**changes)
    writable_file("--out", args.out)
    dataset = _coco_folder(args.data, "DIR")
    cfg, stats, settings = chosen_settings(dataset, cfg, given=set(changes))
    print(summary(stats, settings))
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_object_sizes(stats, cfg.image_size, cfg.anchor_sizes)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


COMMANDS = [add_make_objects, add_inspect_data]
