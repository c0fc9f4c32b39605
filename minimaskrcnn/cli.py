"""Command line: ``python -m minimaskrcnn <command> ...`` (also installed as ``minimaskrcnn``).

Commands::

    make-shapes OUT --num-images N [--seed S] [--size 128]
        write a toy shapes dataset as OUT/images/*.png + OUT/annotations.json (COCO)
    make-keypoints OUT --num-images N [--seed S] [--size 128]
        write toy stick figures with 9 keypoints each (COCO keypoints format)
    make-objects OUT --num-images N [--seed S]
        write the second toy dataset: rings, stars, crosses, bars (JPEG, mixed sizes; see cli_data.py)
    inspect-data DIR [--out PNG]
        the dataset's statistics and the settings train --data DIR would choose
    evaluate-results ANNOTATIONS RESULTS_JSON [--iou-type bbox|segm|both] [--json OUT]
        COCO evaluation of a results file; prints the summary tables
    train [--out DIR] [--data DIR] [--val-data DIR] [--steps N] [--set KEY=VALUE ...] [--resume]
    evaluate --checkpoint PATH [--data DIR] [--json OUT]
    predict IMAGE [IMAGE ...] [--checkpoint PATH] [--out DIR]
    demo                       the README's first command (see cli_model.py)
    ablate [--out JSON] [--steps N] [--seeds S ...] [--table-only]
        rerun the paper's ablations on toy shapes (see ablations.py)
    grade PATH [PATH ...] [--json OUT] [--timeout-scale X]
        grade students' exercise notebooks (a notebook or a folder of them; see exercises/README.md)
    exercises [--release DIR] [--nbgrader-course DIR] [--list]
        write the student versions of exercises/ (solutions stripped), or an nbgrader course layout

Adding a command takes two functions: ``add_<name>(subparsers)`` builds its
parser and ends with ``parser.set_defaults(run=run_<name>)``; ``run_<name>(args)
-> int`` does the work. Append ``add_<name>`` to ``COMMANDS``. Import heavy
modules inside ``run_<name>`` so that ``--help`` stays instant. A user mistake
(bad path, bad value) is raised as ``CliError``, ``ValueError``, ``TypeError`` or
``OSError`` (``MemoryError`` too): ``main`` prints ``minimaskrcnn <command>: error:
<message>`` and returns 2, with no traceback (set MINIMASKRCNN_DEBUG=1 to see
one). Commands check that they can write their outputs before any long work,
and never replace a dataset or a training run without ``--overwrite`` (or
``--resume`` for a run).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


class CliError(Exception):
    """A user mistake on the command line: reported in one line, exit code 2."""


def _int_at_least(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"expected an integer <= {maximum}, got {value}")
        return value
    return parse


# -- make-shapes, make-keypoints -------------------------------------------------


def _add_generator_args(p) -> None:
    """OUT and the flags shared by the commands that write a generated dataset."""
    p.add_argument("out", metavar="OUT", help="output directory (created if missing)")
    p.add_argument("--num-images", "-n", type=_int_at_least(1), required=True, metavar="N",
                   help="number of images to write")
    p.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S",
                   help="random seed; image i is drawn from (S, i) (default: 0)")
    p.add_argument("--size", type=_int_at_least(16, 4096), default=128, metavar="PIXELS",
                   help="image width and height in pixels, 16 to 4096 (default: 128)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing OUT/annotations.json instead of stopping")


def _write_generated(args, make_dataset, write, what: str | None = None) -> int:
    """Check OUT, generate ``make_dataset(args)`` and write it with ``write(dataset, out)``.

    ``what`` describes the images in the closing line (default: their size and seed).
    """
    from minimaskrcnn.checks import writable_dir

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"OUT {out} exists and is not a directory")
    if (out / "annotations.json").exists() and not args.overwrite:
        raise CliError(f"{out / 'annotations.json'} already exists (use --overwrite to replace it)")
    writable_dir("OUT", out)
    start = time.perf_counter()
    path = write(make_dataset(args), out)
    what = what or f"{args.size}x{args.size}, seed {args.seed}"
    print(f"wrote {args.num_images} images ({what}) to {out / 'images'} and {path} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def add_make_shapes(subparsers) -> None:
    p = subparsers.add_parser(
        "make-shapes", help="write a toy shapes dataset in COCO format",
        description="Generate circles, squares and triangles (labels 1, 2, 3) and write them as "
                    "OUT/images/<id>.png plus OUT/annotations.json (COCO, masks as compressed RLE). "
                    "The same seed always gives byte-identical data.")
    _add_generator_args(p)
    p.set_defaults(run=run_make_shapes)


def run_make_shapes(args) -> int:
    from minimaskrcnn.datasets import ShapesConfig, ShapesDataset, write_coco_dataset

    return _write_generated(
        args, lambda a: ShapesDataset(a.num_images, seed=a.seed, config=ShapesConfig(image_size=a.size)),
        write_coco_dataset)


def add_make_keypoints(subparsers) -> None:
    p = subparsers.add_parser(
        "make-keypoints", help="write a toy keypoint dataset (stick figures) in COCO keypoints format",
        description="Generate stick figures (label 1 = person) with nine named keypoints each and write "
                    "them as OUT/images/<id>.png plus OUT/annotations.json (COCO keypoints format: masks as "
                    "RLE, keypoints as [x, y, v] triples, skeleton and OKS sigmas in the category).")
    _add_generator_args(p)
    p.set_defaults(run=run_make_keypoints)


def run_make_keypoints(args) -> int:
    from minimaskrcnn.datasets.coco_keypoints import write_coco_keypoints_dataset
    from minimaskrcnn.datasets.keypoints import KeypointsConfig, KeypointsDataset

    return _write_generated(
        args, lambda a: KeypointsDataset(a.num_images, seed=a.seed, config=KeypointsConfig(image_size=a.size)),
        write_coco_keypoints_dataset)


# -- evaluate-results -------------------------------------------------------------


def add_evaluate_results(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate-results", help="COCO AP/AR of a results file against COCO annotations",
        description="Evaluate detections given as a COCO results JSON against a COCO annotations "
                    "file, with the COCO protocol (agrees with pycocotools' COCOeval). Results whose "
                    "category id the annotations lack are left out of the score with a warning naming "
                    "them; results of image ids the annotations lack are an error naming them.")
    p.add_argument("annotations", metavar="ANNOTATIONS",
                   help="COCO annotations JSON, or a dataset directory holding annotations.json")
    p.add_argument("results", metavar="RESULTS_JSON",
                   help='COCO results JSON: a list of {"image_id", "category_id", "score", "bbox", '
                        '"segmentation"}')
    p.add_argument("--iou-type", choices=("bbox", "segm", "both"), default="both",
                   help="evaluate boxes, masks or both (default: both; masks only if the results have them, "
                        "and keypoints (OKS) too if they have 'keypoints')")
    p.add_argument("--json", metavar="OUT", dest="json_out",
                   help='also write {"bbox": {...}, "segm": {...}} with the twelve figures AP, AP50, AP75, '
                        "APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl to this file")
    p.set_defaults(run=run_evaluate_results)


def run_evaluate_results(args) -> int:
    import json

    import warnings

    from minimaskrcnn.datasets.coco import read_json
    from minimaskrcnn.evaluation import evaluate_coco
    from minimaskrcnn.evaluation.api import UnknownCategoryWarning

    from minimaskrcnn.checks import writable_file

    if args.json_out is not None:
        if not Path(args.json_out).resolve().parent.is_dir():
            raise CliError(f"--json: directory {Path(args.json_out).parent} does not exist")
        writable_file("--json", args.json_out)
    results = read_json(args.results, "RESULTS_JSON")
    has_masks = isinstance(results, list) and any(isinstance(r, dict) and "segmentation" in r for r in results)
    iou_types = ("bbox", "segm") if args.iou_type == "both" else (args.iou_type,)
    if args.iou_type == "both" and not has_masks:
        print("note: the results have no 'segmentation': evaluating bbox only", file=sys.stderr)
        iou_types = ("bbox",)
    elif "segm" in iou_types and not has_masks:
        print("note: the results have no 'segmentation': segm uses each box as a mask (as pycocotools does)",
              file=sys.stderr)
    if args.iou_type == "both" and isinstance(results, list) \
            and any(isinstance(r, dict) and "keypoints" in r for r in results):
        iou_types += ("keypoints",)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnknownCategoryWarning)
            evaluations = evaluate_coco(args.annotations, results, iou_types)
    except ValueError as e:
        raise CliError(str(e).replace("<results list>", str(args.results))) from None
    for w in caught:  # results the score leaves out: named, before the tables
        if issubclass(w.category, UnknownCategoryWarning):
            print(f"minimaskrcnn evaluate-results: warning: {str(w.message).replace('<results list>', args.results)}",
                  file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for iou_type, result in evaluations.items():
        print(result.summary())
        print()
    if args.json_out is not None:
        with open(args.json_out, "w") as f:
            json.dump({t: r.stats for t, r in evaluations.items()}, f, indent=2)
        print(f"wrote {args.json_out}")
    return 0


# -- grade, exercises ----------------------------------------------------------------


def add_grade(subparsers) -> None:
    p = subparsers.add_parser(
        "grade", help="grade students' exercise notebooks (see exercises/README.md)",
        description="Run each notebook's code in a separate process, then every graded check of its exercise "
                    "(the project's own property tests, with the smallest counterexample hypothesis finds), "
                    "with a time limit per check. Prints a table per notebook with feedback and the total, "
                    "writes a JSON report, and exits with 1 unless every notebook has full marks.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a notebook, or a folder searched recursively for *.ipynb (e.g. a class's submissions)")
    p.add_argument("--json", metavar="OUT", dest="json_out",
                   help="JSON report path (default: NOTEBOOK.grade.json next to a single notebook, else "
                        "grade_report.json in the current directory)")
    p.add_argument("--timeout-scale", type=float, default=1.0, metavar="X",
                   help="multiply every check's time limit by X (slow machines; default 1)")
    p.add_argument("--quiet", action="store_true", help="print only the summary lines")
    p.set_defaults(run=run_grade)


def run_grade(args) -> int:
    from minimaskrcnn.grading.report import format_report, format_reports, write_json
    from minimaskrcnn.grading.runner import grade_paths, notebooks_under

    if not args.timeout_scale > 0:
        raise CliError(f"--timeout-scale must be positive, got {args.timeout_scale}")
    for p in args.paths:
        notebooks_under(p)  # a missing path is a usage error, before anything runs
    reports = grade_paths(args.paths, timeout_scale=args.timeout_scale,
                          progress=None if args.quiet else lambda nb: print(f"grading {nb} ...", flush=True))
    if not any(r.exercise for r in reports):
        raise CliError("no exercise notebooks found in " + ", ".join(args.paths))
    text = format_reports(reports)
    if args.quiet:
        text = "\n".join(f"{r.points:g} / {r.max_points}  {r.path}" for r in reports if r.exercise)
    elif len(reports) == 1:
        text = format_report(reports[0])
    print(text)
    single = len(args.paths) == 1 and Path(args.paths[0]).is_file()
    json_out = args.json_out or (str(Path(args.paths[0]).with_suffix(".grade.json")) if single
                                 else "grade_report.json")
    write_json(reports, json_out)
    print(f"wrote {json_out}")
    return 0 if all(r.full_marks for r in reports if r.exercise) else 1


def add_exercises(subparsers) -> None:
    p = subparsers.add_parser(
        "exercises", help="release the exercise notebooks to students (solutions stripped)",
        description="The sources in exercises/ hold the solutions in nbgrader's format. --release writes the "
                    "student versions (what nbgrader generate_assignment produces, without nbgrader); "
                    "--nbgrader-course lays the sources out as COURSE/source/<exercise>/ for nbgrader.")
    p.add_argument("--release", metavar="DIR", help="write the student notebooks to DIR")
    p.add_argument("--nbgrader-course", metavar="DIR", help="copy the sources to DIR/source/<exercise>/")
    p.add_argument("--source", metavar="DIR", default=None, help="the exercise sources (default: the repository's "
                                                                 "exercises/)")
    p.add_argument("--list", action="store_true", help="list the exercises, their time and points")
    p.set_defaults(run=run_exercises)


def run_exercises(args) -> int:
    from minimaskrcnn.grading import EXERCISES
    from minimaskrcnn.grading.notebook import SOURCE_DIR, write_nbgrader_source, write_release

    if not (args.release or args.nbgrader_course or args.list):
        raise CliError("nothing to do: give --release DIR, --nbgrader-course DIR or --list")
    source = Path(args.source) if args.source else SOURCE_DIR
    if args.list:
        for ex in EXERCISES.values():
            print(f"{ex.id:<28} {ex.max_points:>3} points  ~{ex.minutes:>3} min  {ex.title}")
    if args.release:
        out = Path(args.release)
        if out.resolve() == source.resolve():
            raise CliError("--release DIR must not be the source folder (it would overwrite the solutions)")
        written = write_release(out, source)
        print(f"wrote {len(written)} student notebooks to {out}")
    if args.nbgrader_course:
        written = write_nbgrader_source(args.nbgrader_course, source)
        print(f"wrote {len(written)} nbgrader source notebooks to {Path(args.nbgrader_course) / 'source'}; "
              f"release them with: cd {args.nbgrader_course} && nbgrader generate_assignment <exercise>")
    return 0


# -- main -----------------------------------------------------------------------------

COMMANDS = [add_make_shapes, add_make_keypoints, add_evaluate_results, add_grade, add_exercises]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minimaskrcnn", description="Mask R-CNN from scratch in NumPy: data, training, evaluation.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from minimaskrcnn.cli_model import COMMANDS as MODEL_COMMANDS  # train, evaluate, predict, demo

    from minimaskrcnn.cli_data import COMMANDS as DATA_COMMANDS  # make-objects, inspect-data

    for add in COMMANDS + DATA_COMMANDS + MODEL_COMMANDS:
        add(subparsers)
    return parser


def main(argv=None) -> int:
    """Run one command; returns the exit code.

    0 success; 1 training stopped on a non-finite loss; 2 usage or input error; 130 Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else 0
    try:
        return int(args.run(args) or 0)
    except (CliError, ValueError, TypeError, OSError, MemoryError) as e:
        if os.environ.get("MINIMASKRCNN_DEBUG"):
            raise
        print(f"minimaskrcnn {args.command}: error: {str(e) or type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minimaskrcnn {args.command}: interrupted", file=sys.stderr)
        return 130
