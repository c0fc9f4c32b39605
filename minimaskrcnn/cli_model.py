"""Command-line commands that use a model: ``train``, ``evaluate``, ``predict``, ``demo``.

Registered in ``minimaskrcnn.cli`` (see its docstring for the add_/run_ pattern).
Heavy imports stay inside the ``run_*`` functions so ``--help`` is instant.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from minimaskrcnn.cli import CliError, _int_at_least

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
TOY_MODEL = REPO_DATA / "toy_model.npz"
DEMO_VAL_SEED = 20261127  # any seed the training data never used


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def _add_shapes_val_args(p, default_images: int) -> None:
    p.add_argument("--num-images", type=_int_at_least(1), default=default_images, metavar="N",
                   help=f"size of the generated shapes validation set (default: {default_images})")
    p.add_argument("--val-seed", type=_int_at_least(0), default=DEMO_VAL_SEED, metavar="S",
                   help=f"seed of the generated validation set (default: {DEMO_VAL_SEED}, never used "
                        "for training)")


def _coco_folder(path: str, flag: str, keypoints: bool = False):
    from minimaskrcnn.datasets import CocoDataset
    from minimaskrcnn.datasets.coco_keypoints import CocoKeypointsDataset

    folder = Path(path)
    if not folder.exists():
        raise CliError(f"{flag} {folder}: no such file or directory")
    return CocoKeypointsDataset(folder) if keypoints else CocoDataset(folder)


def _shapes(num_images: int, seed: int, image_size: int, keypoints: bool = False):
    """Generated validation data: shapes, or stick figures for a keypoint model."""
    from minimaskrcnn.datasets import ShapesConfig, ShapesDataset
    from minimaskrcnn.datasets.keypoints import KeypointsConfig, KeypointsDataset

    if keypoints:
        return KeypointsDataset(num_images, seed=seed, config=KeypointsConfig(image_size=image_size))
    return ShapesDataset(num_images, seed=seed, config=ShapesConfig(image_size=image_size))


def _load_model(path: str):
    from minimaskrcnn.model import MaskRCNN

    if not Path(path).is_file():
        raise CliError(f"--checkpoint {path}: no such file")
    return MaskRCNN.load(path)


def parse_overrides(items) -> dict:
    """``["key=value", ...]`` -> {key: value}, values parsed as JSON where possible."""
    from minimaskrcnn.config import Config

    known = Config.__dataclass_fields__
    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or key not in known:
            raise CliError(f"--set {item!r}: expected KEY=VALUE with KEY a Config field "
                           f"(see `python -c \"from minimaskrcnn.config import Config; "
                           f"print(Config().display())\"`)")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key] = tuple(value) if isinstance(value, list) else value
        Config.check_type(key, out[key])  # before anything computes with it
    return out


# -- train ---------------------------------------------------------------------------


def add_train(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train Mask R-CNN (generated shapes by default)",
        description="Train a Mask R-CNN from scratch. Without --data, every step draws fresh generated "
                    "shapes images. Writes checkpoints (atomically), logs and a loss plot to OUT.")
    p.add_argument("--out", default="runs/train", metavar="DIR",
                   help="output directory for checkpoint.npz, model_final.npz, log.csv/json, loss.png "
                        "(default: runs/train)")
    p.add_argument("--data", metavar="DIR", help="COCO-format training set: DIR/annotations.json + DIR/images/")
    p.add_argument("--val-data", metavar="DIR",
                   help="COCO-format validation set (default: generated shapes when training on them; "
                        "with --data and no --val-data, no evaluation)")
    _add_shapes_val_args(p, 100)
    p.add_argument("--steps", type=_int_at_least(1), help="training steps (default: Config.steps)")
    p.add_argument("--batch-size", type=_int_at_least(1), help="images per step (default: Config.batch_size)")
    p.add_argument("--lr", type=_positive_float, help="base learning rate (default: Config.base_lr)")
    p.add_argument("--seed", type=_int_at_least(0), help="seed of data order, flips, sampling and init")
    p.add_argument("--config", metavar="JSON", help="start from a Config saved as JSON")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides",
                   help="override a Config field, e.g. --set use_fpn=true --set roi_op=roi_pool "
                        "(repeatable; values parsed as JSON)")
    p.add_argument("--eval-every", type=_int_at_least(0), default=0, metavar="N",
                   help="evaluate box and mask AP every N steps (default: 0 = only at the end)")
    p.add_argument("--checkpoint-every", type=_int_at_least(1), default=100, metavar="N",
                   help="write OUT/checkpoint.npz every N steps (default: 100)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz with the settings stored in it (no --config or --set "
                        "needed; a stated setting that differs is refused, naming it); --steps N gives the run a "
                        "new length, longer or shorter, not below the step it is at")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in OUT (its checkpoints, final model and logs) instead of "
                        "stopping; without it (or --resume) an existing run is never touched")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)


RUN_FILES = ("checkpoint.npz", "model_final.npz", "log.csv", "log.json", "loss.png", "eval.json")


def _check_run_folder(args) -> None:
    """--out must be writable; an existing run in it needs --resume (continue) or --overwrite (replace)."""
    from minimaskrcnn.checks import writable_dir

    out = Path(args.out)
    if args.resume and args.overwrite:
        raise CliError("--resume and --overwrite exclude each other (continue the run, or replace it)")
    if args.resume and not (out / "checkpoint.npz").is_file():
        raise CliError(f"--resume: {out / 'checkpoint.npz'} not found (nothing to continue; drop --resume "
                       f"to start a new run)")
    existing = [f for f in RUN_FILES[:2] if (out / f).exists()]
    if existing and not (args.resume or args.overwrite):
        raise CliError(f"--out {out}: already holds a run ({', '.join(existing)}); use --resume to continue it "
                       f"or --overwrite to replace it")
    writable_dir("--out", out)
    if args.overwrite:
        for f in RUN_FILES:
            (out / f).unlink(missing_ok=True)


def run_train(args) -> int:
    from minimaskrcnn.config import Config
    from minimaskrcnn.datasets.coco import read_json
    from minimaskrcnn.resume import read_training_checkpoint
    from minimaskrcnn.train import NonFiniteLossError, train

    cfg, given = Config(), set()
    if args.config:
        try:
            stored = read_json(args.config, "--config")
            cfg = Config.from_dict(stored)
        except (TypeError, ValueError) as e:
            raise CliError(f"--config {args.config}: {e}") from None
        given |= set(stored)  # the file's fields are the user's choices
    changes = parse_overrides(args.overrides)
    for flag, field in (("steps", "steps"), ("batch_size", "batch_size"), ("lr", "base_lr"), ("seed", "seed")):
        if getattr(args, flag) is not None:
            changes[field] = getattr(args, flag)
    cfg.replace(**changes)  # every value checked now, before any folder is touched or data read
    stated = _stated_fields(args, changes)  # what --resume compares with the checkpoint
    _check_run_folder(args)
    keypoint_on = changes.get("keypoint_on", cfg.keypoint_on)
    if args.resume:  # read the data as the run was trained on it
        keypoint_on = read_training_checkpoint(Path(args.out) / "checkpoint.npz")[0].keypoint_on
    train_set = _coco_folder(args.data, "--data", keypoint_on) if args.data else None
    if train_set is not None:
        changes.setdefault("class_names", train_set.class_names)
        if not args.resume:  # input size, anchors and steps from the data, unless the user set them
            from minimaskrcnn.cli_data import chosen_settings
            from minimaskrcnn.datasets.statistics import summary

            _, stats, settings = chosen_settings(train_set, cfg.replace(**changes), given | set(changes))
            print(summary(stats, settings))
            for key, value in settings.changes().items():
                changes.setdefault(key, value)
    if keypoint_on:  # the keypoint data's names: the COCO folder's, or the generated stick figures'
        from minimaskrcnn.datasets.keypoints import CLASS_NAMES, KEYPOINT_NAMES

        changes.setdefault("class_names", CLASS_NAMES)
        changes.setdefault("keypoint_names", train_set.keypoint_names if train_set is not None else KEYPOINT_NAMES)
    if "steps" in changes and "lr_milestones" not in changes:  # keep the schedule's shape
        scale = changes["steps"] / cfg.steps
        changes["lr_milestones"] = tuple(max(1, int(m * scale)) for m in cfg.lr_milestones)
        changes.setdefault("warmup_steps", min(cfg.warmup_steps, max(1, changes["steps"] // 10)))
    cfg = cfg.replace(**changes)
    if args.resume:  # the checkpoint's settings; only the length may change (resume.py)
        cfg = _resumed(args, cfg, stated, train_set)
    if args.val_data:
        val_set = _coco_folder(args.val_data, "--val-data", cfg.keypoint_on)
    elif train_set is None:
        val_set = _shapes(args.num_images, args.val_seed, cfg.image_size, cfg.keypoint_on)
    else:
        val_set = None
    if not args.resume:
        print(f"training {cfg.steps} steps, batch {cfg.batch_size}, into {args.out}")
    try:
        result = train(cfg, args.out, train_dataset=train_set, val_dataset=val_set, resume=args.resume,
                       checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                       progress=not args.no_progress)
    except NonFiniteLossError as e:
        print(f"minimaskrcnn train: {e}")
        return 1
    if result.interrupted:
        return 130
    for ev in result.evaluations[-1:]:
        print(f"step {ev['step']}: " + ", ".join(f"{t} AP {ev[t]['AP']:.3f} AP50 {ev[t]['AP50']:.3f}"
                                                 for t in ("bbox", "segm", "keypoints") if t in ev))
    print(f"wrote {args.out}/model_final.npz, checkpoint.npz, log.csv, loss.png")
    return 0


def _stated_fields(args, changes) -> set:
    """The Config fields the user stated: --set keys, flags, and the keys of the --config file.

    A --config file's ``lr_milestones`` and ``warmup_steps`` follow ``steps`` (as in a new
    run) and are not compared on --resume; a --set of them is.
    """
    from minimaskrcnn.datasets.coco import read_json
    from minimaskrcnn.resume import DERIVED

    stated = set(changes)
    if args.config:
        stated |= {k for k in read_json(args.config, "--config") if k not in DERIVED}
    return stated


def _resumed(args, requested, stated, train_set):
    """The Config to resume OUT/checkpoint.npz with (its own, maybe with a new --steps); prints a note."""
    from minimaskrcnn.resume import resume_config

    if train_set is not None:  # the data must have the classes the run was trained on
        stated = set(stated) | {"class_names"} | ({"keypoint_names"} if requested.keypoint_on else set())
    cfg, note = resume_config(Path(args.out) / "checkpoint.npz", requested, stated)
    if train_set is None and not cfg.keypoint_on:  # generated shapes: only a run that trained on them
        from minimaskrcnn.datasets.shapes import ShapesConfig

        if tuple(cfg.class_names) != tuple(ShapesConfig().class_names):
            raise CliError(f"--resume: {args.out} was trained on a COCO folder (classes {list(cfg.class_names)}); "
                           "pass the same --data DIR to continue it (without --data it would train on shapes)")
    print(f"{note}, batch {cfg.batch_size}, into {args.out}")
    return cfg


# -- evaluate ------------------------------------------------------------------------


def add_evaluate(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="COCO box and mask AP of a checkpoint",
        description="Evaluate a checkpoint on a COCO-format folder (categories matched to the model's "
                    "by name) or, by default, on a generated shapes validation set.")
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="model or training checkpoint (.npz)")
    p.add_argument("--data", metavar="DIR", help="COCO-format dataset: DIR/annotations.json + DIR/images/")
    _add_shapes_val_args(p, 200)
    p.add_argument("--results", default="runs/evaluate/results.json", metavar="PATH",
                   help="where to write the COCO results JSON (default: runs/evaluate/results.json)")
    p.add_argument("--json", metavar="OUT", dest="json_out",
                   help='also write {"bbox": {...}, "segm": {...}} with the twelve summary figures')
    p.set_defaults(run=run_evaluate)


def _write_results(dataset, preds, path) -> None:
    from minimaskrcnn.datasets import write_coco_results
    from minimaskrcnn.datasets.coco_keypoints import write_coco_keypoint_results

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ids = [dataset[i]["image_id"] for i in range(len(dataset))]
    write = write_coco_keypoint_results if preds and "keypoints" in preds[0] else write_coco_results
    write(preds, ids, path, getattr(dataset, "category_ids", None))


def run_evaluate(args) -> int:
    from minimaskrcnn.checks import writable_file
    from minimaskrcnn.inference import evaluate_predictions

    writable_file("--results", args.results)  # before the evaluation, not after it
    if args.json_out:
        writable_file("--json", args.json_out)
    model = _load_model(args.checkpoint)
    if args.data:
        dataset = _coco_folder(args.data, "--data", model.cfg.keypoint_on)
    else:
        dataset = _shapes(args.num_images, args.val_seed, model.cfg.image_size, model.cfg.keypoint_on)
    results, preds = evaluate_predictions(model, dataset, progress=True)
    for r in results.values():
        print(r.summary())
        print()
    _write_results(dataset, preds, args.results)
    print(f"wrote {args.results}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({t: r.stats for t, r in results.items()}, f, indent=2)
        print(f"wrote {args.json_out}")
    return 0


# -- predict -------------------------------------------------------------------------


def add_predict(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="detect and segment objects in image files",
        description="Run a checkpoint on image files; write one overlay PNG per image and a COCO "
                    "results JSON OUT/results.json. Its category_id is the category id of the dataset the "
                    "model was trained on (stored in the checkpoint). Its image_id is the image's id in a "
                    "COCO folder when the images come from one (--data DIR, or found by itself: every IMAGE "
                    "listed in the annotations.json beside its images/ folder), so `evaluate-results DIR "
                    "OUT/results.json` scores them; otherwise image_id is the IMAGE path as given (text).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any size, any PIL format)")
    p.add_argument("--checkpoint", default=str(TOY_MODEL), metavar="PATH",
                   help="model checkpoint (default: the shipped toy model data/toy_model.npz)")
    p.add_argument("--data", metavar="DIR",
                   help="COCO folder the images come from (DIR/annotations.json, DIR/images/): results get "
                        "its image ids, matched by file_name (default: found by itself when every IMAGE is "
                        "listed in DIR/annotations.json beside DIR/images/; else image_id is the IMAGE path)")
    p.add_argument("--out", default="runs/predict", metavar="DIR", help="output directory (default: runs/predict)")
    p.add_argument("--score-thresh", type=_fraction, default=0.5, metavar="S",
                   help="draw detections scoring at least S (default: 0.5; the JSON keeps all)")
    p.set_defaults(run=run_predict)


def _draw_predicted_keypoints(ax, keypoints, names) -> None:
    from minimaskrcnn.datasets.keypoints import KEYPOINT_NAMES, SKELETON
    from minimaskrcnn.visualize.keypoints import draw_keypoints

    skeleton = SKELETON if tuple(names) == KEYPOINT_NAMES else ()
    draw_keypoints(None, keypoints, skeleton, names, scores=True, ax=ax)


def run_predict(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minimaskrcnn.checks import writable_dir
    from minimaskrcnn.datasets.coco import coco_results
    from minimaskrcnn.datasets.coco_keypoints import coco_keypoint_results
    from minimaskrcnn.datasets.images import read_rgb
    from minimaskrcnn.inference import predict_images
    from minimaskrcnn.visualize import draw_instances

    out = Path(writable_dir("--out", args.out))
    model = _load_model(args.checkpoint)
    image_ids, source = predict_image_ids(args.images, args.data)  # before the long part
    images = [read_rgb(path, "IMAGE") for path in args.images]  # 16-bit grey scaled, not clipped
    preds = predict_images(model, images)
    stems = [Path(path).stem for path in args.images]
    for i, (path, image, p) in enumerate(zip(args.images, images, preds)):
        keep = p["scores"] >= args.score_thresh
        fig = draw_instances(image, p["boxes"][keep], p["labels"][keep], p["scores"][keep],
                             p["masks"][keep] if "masks" in p else None, model.cfg.class_names)
        if "keypoints" in p:
            _draw_predicted_keypoints(fig.axes[0], p["keypoints"][keep], model.cfg.keypoint_names)
        # a/x.png and b/x.png must not overwrite each other: then the position (= image_id) is added
        target = out / (f"{stems[i]}_pred.png" if stems.count(stems[i]) == 1 else f"{stems[i]}_{i}_pred.png")
        fig.savefig(target, dpi=100, bbox_inches="tight")
        plt.close(fig)
        print(f"{path}: {int(keep.sum())} detections >= {args.score_thresh} -> {target}")
    results = (coco_keypoint_results if model.cfg.keypoint_on else coco_results)(
        preds, list(range(len(preds))), model.category_ids)
    for r in results:  # positions -> the COCO folder's image ids, or the paths as given
        r["image_id"] = image_ids[r["image_id"]]
    with open(out / "results.json", "w") as f:
        json.dump(results, f)
    print(f"wrote {out / 'results.json'} ({source}; category ids {list(model.category_ids)})")
    return 0


def predict_image_ids(paths, data=None) -> tuple[list, str]:
    """(image ids, where they come from) for ``predict``'s IMAGE paths.

    With ``data`` (a COCO folder, or its annotations JSON), each path must be one of
    its images: the file under its images folder, else the only image of that file
    name; ``CliError`` names the paths it does not list. Without ``data``, the folder
    is found when every path lies in one ``.../images/`` folder whose parent holds an
    ``annotations.json`` listing them all. Otherwise the ids are the paths as given
    (text: they name the files, and no annotations file can hold them).
    """
    from minimaskrcnn.datasets.coco import ANNOTATIONS_FILE, IMAGES_DIR, load_annotations

    if data is not None:
        folder = Path(data)
        if not folder.exists():
            raise CliError(f"--data {folder}: no such file or directory")
        annotations = folder / ANNOTATIONS_FILE if folder.is_dir() else folder
        ids, unknown = _ids_by_file_name(paths, load_annotations(annotations), annotations.parent / IMAGES_DIR)
        if unknown:
            raise CliError(f"--data {folder}: {annotations} does not list {len(unknown)} of the images: "
                           f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
        return ids, f"image ids from {annotations}"
    parents = {Path(p).resolve().parent for p in paths}
    if len(parents) == 1:
        images_dir = parents.pop()
        annotations = images_dir.parent / ANNOTATIONS_FILE
        if images_dir.name == IMAGES_DIR and annotations.is_file():
            try:
                index = load_annotations(annotations)
            except ValueError:  # not a readable COCO file: then the images are just files
                index = None
            if index is not None:
                ids, unknown = _ids_by_file_name(paths, index, images_dir)
                if not unknown:
                    return ids, f"image ids from {annotations}"
    return [str(p) for p in paths], "image_id = the IMAGE path (no COCO folder lists these images)"


def _ids_by_file_name(paths, index, images_dir: Path) -> tuple[list, list]:
    """(ids, paths not found): by the file under ``images_dir``, else by a unique base name."""
    by_path = {(images_dir / img["file_name"]).resolve(): img["id"] for img in index.images
               if isinstance(img.get("file_name"), str)}
    by_name: dict = {}
    for img in index.images:
        if isinstance(img.get("file_name"), str):
            by_name.setdefault(Path(img["file_name"]).name, []).append(img["id"])
    ids, unknown = [], []
    for p in paths:
        image_id = by_path.get(Path(p).resolve())
        if image_id is None and len(by_name.get(Path(p).name, [])) == 1:
            image_id = by_name[Path(p).name][0]
        if image_id is None:
            unknown.append(str(p))
        ids.append(image_id)
    return ids, unknown


# -- demo ----------------------------------------------------------------------------


def add_demo(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="evaluate the shipped toy model on fresh shapes and draw its masks",
        description="Generate a shapes validation set, load the toy model shipped in data/, print its box "
                    "and mask AP, and save a picture of predicted masks.")
    p.add_argument("--checkpoint", default=str(TOY_MODEL), metavar="PATH",
                   help="model to show (default: data/toy_model.npz)")
    _add_shapes_val_args(p, 100)
    p.add_argument("--out", default="runs/demo", metavar="DIR", help="where to save the picture (default: runs/demo)")
    p.set_defaults(run=run_demo)


def run_demo(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minimaskrcnn.inference import evaluate_predictions
    from minimaskrcnn.visualize.grid import draw_prediction_grid

    from minimaskrcnn.checks import writable_dir

    start = time.perf_counter()
    out = Path(writable_dir("--out", args.out))
    model = _load_model(args.checkpoint)
    print(f"loaded {args.checkpoint} ({model.num_parameters():,} parameters)")
    dataset = _shapes(args.num_images, args.val_seed, model.cfg.image_size, model.cfg.keypoint_on)
    print(f"generated {len(dataset)} validation images (seed {args.val_seed}); predicting...")
    results, preds = evaluate_predictions(model, dataset, progress=True)
    for r in results.values():
        print(r.summary())
        print()
    shown = min(8, len(dataset))
    fig = draw_prediction_grid([dataset[i] for i in range(shown)], preds[:shown], model.cfg.class_names)
    fig.savefig(out / "predictions.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"saved a picture of predicted masks to {out / 'predictions.png'} "
          f"({time.perf_counter() - start:.0f} s in all)")
    return 0


# -- ablate --------------------------------------------------------------------------


def add_ablate(subparsers) -> None:
    from minimaskrcnn.ablations import VARIANTS

    p = subparsers.add_parser(
        "ablate", help="rerun the paper's ablations (Table 2) on toy shapes",
        description="Train every variant (one Config switch each) with the same budget and seeds, "
                    "evaluate on held-out shapes, store every run in a JSON file and print mean ± std "
                    "beside the paper's mask AP. Runs already in the file are skipped, so an interrupted "
                    "sweep resumes.")
    p.add_argument("--out", default="data/ablations.json", metavar="JSON",
                   help="results file, read and extended (default: data/ablations.json)")
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), metavar="NAME",
                   help=f"subset of variants (default: all of {', '.join(VARIANTS)})")
    p.add_argument("--seeds", nargs="+", type=_int_at_least(0), default=[0, 1, 2], metavar="S",
                   help="seeds; each variant is trained once per seed (default: 0 1 2)")
    p.add_argument("--steps", type=_int_at_least(1), default=600, metavar="N",
                   help="training steps per run (default: 600)")
    p.add_argument("--val-images", type=_int_at_least(1), default=200, metavar="N",
                   help="held-out shapes images evaluated after each run (default: 200)")
    p.add_argument("--work-dir", default="runs/ablations", metavar="DIR",
                   help="scratch directory for the runs' checkpoints (removed after each run)")
    p.add_argument("--table-only", action="store_true", help="only print the table of the stored results")
    p.set_defaults(run=run_ablate)


def run_ablate(args) -> int:
    from minimaskrcnn.ablations import format_table, load_results, run_ablations
    from minimaskrcnn.train import NonFiniteLossError

    from minimaskrcnn.checks import writable_dir, writable_file

    if args.table_only:
        if not Path(args.out).is_file():
            raise CliError(f"--out {args.out}: no such file")
        print(format_table(load_results(args.out)))
        return 0
    writable_file("--out", args.out)
    writable_dir("--work-dir", args.work_dir)
    command = (f"python -m minimaskrcnn ablate --out {args.out} --steps {args.steps} "
               f"--seeds {' '.join(map(str, args.seeds))} --val-images {args.val_images}"
               + (f" --variants {' '.join(args.variants)}" if args.variants else ""))
    try:
        data = run_ablations(args.out, args.variants, args.seeds, args.steps, args.val_images,
                             work_dir=args.work_dir, command=command)
    except NonFiniteLossError as e:  # the runs before it are already stored
        print(f"minimaskrcnn ablate: {e}")
        return 1
    print()
    print(format_table(data))
    print(f"\nwrote {args.out}")
    return 0


COMMANDS = [add_train, add_evaluate, add_predict, add_demo, add_ablate]
