"""The data and evaluation commands: make-shapes, evaluate-results; errors without tracebacks."""
import argparse
import json
import subprocess
import sys

import pytest

from minimaskrcnn.cli import build_parser, main
from minimaskrcnn.evaluation import STAT_KEYS


@pytest.fixture
def shapes_dir(tmp_path):
    out = tmp_path / "shapes"
    assert main(["make-shapes", str(out), "--num-images", "6", "--seed", "3", "--size", "64"]) == 0
    return out


def perfect_results(folder, with_masks=True):
    gt = json.loads((folder / "annotations.json").read_text())
    keys = ("bbox", "segmentation") if with_masks else ("bbox",)
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9, **{k: a[k] for k in keys}}
            for a in gt["annotations"]]


def test_make_shapes_writes_a_deterministic_coco_folder(capsys, shapes_dir, tmp_path):
    assert "wrote 6 images (64x64, seed 3)" in capsys.readouterr().out
    assert len(list((shapes_dir / "images").glob("*.png"))) == 6
    data = json.loads((shapes_dir / "annotations.json").read_text())
    assert [c["name"] for c in data["categories"]] == ["circle", "square", "triangle"]
    assert data["images"][0]["height"] == 64
    again = tmp_path / "again"
    assert main(["make-shapes", str(again), "-n", "6", "--seed", "3", "--size", "64"]) == 0
    assert (again / "annotations.json").read_bytes() == (shapes_dir / "annotations.json").read_bytes()
    assert (again / "images" / "000005.png").read_bytes() == (shapes_dir / "images" / "000005.png").read_bytes()


def test_make_shapes_refuses_to_overwrite(shapes_dir, capsys):
    assert main(["make-shapes", str(shapes_dir), "-n", "2"]) == 2
    assert "already exists (use --overwrite" in capsys.readouterr().err
    assert main(["make-shapes", str(shapes_dir), "-n", "2", "--overwrite"]) == 0
    assert len(json.loads((shapes_dir / "annotations.json").read_text())["images"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["make-shapes", "OUT"], "required: --num-images"),
    (["make-shapes", "OUT", "-n", "0"], "--num-images/-n: expected an integer >= 1"),
    (["make-shapes", "OUT", "-n", "3", "--size", "8"], "--size: expected an integer >= 16"),
    (["make-shapes", "OUT", "-n", "x"], "expected an integer, got 'x'"),
    (["evaluate-results", "a.json", "r.json", "--iou-type", "keypoints"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([], "required: COMMAND"),
])
def test_bad_flags_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_evaluate_results_perfect_detections(shapes_dir, tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(perfect_results(shapes_dir)))
    out = tmp_path / "metrics.json"
    assert main(["evaluate-results", str(shapes_dir), str(results), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "bbox:" in printed and "segm:" in printed and "circle" in printed
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"bbox", "segm"}
    for stats in metrics.values():
        assert list(stats) == list(STAT_KEYS)
        assert stats["AP"] == pytest.approx(1.0) and stats["AR100"] == pytest.approx(1.0)
        assert stats["APl"] == -1.0  # 64 x 64 images hold no large objects


def test_evaluate_results_one_type_and_box_only_results(shapes_dir, tmp_path, capsys):
    results = tmp_path / "boxes.json"
    results.write_text(json.dumps(perfect_results(shapes_dir, with_masks=False)))
    out = tmp_path / "m.json"
    assert main(["evaluate-results", str(shapes_dir / "annotations.json"), str(results), "--json", str(out)]) == 0
    assert "evaluating bbox only" in capsys.readouterr().err
    assert set(json.loads(out.read_text())) == {"bbox"}
    assert main(["evaluate-results", str(shapes_dir), str(results), "--iou-type", "segm", "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())) == {"segm"}


def test_evaluate_results_bad_inputs(shapes_dir, tmp_path, capsys):
    results = tmp_path / "r.json"
    results.write_text(json.dumps([{"image_id": 999, "category_id": 1, "score": 0.5, "bbox": [0, 0, 1, 1]}]))
    assert main(["evaluate-results", str(shapes_dir), str(results)]) == 2
    assert "r.json: result 0: image id 999 is not in the annotations" in capsys.readouterr().err
    assert main(["evaluate-results", str(tmp_path / "none.json"), str(results)]) == 2
    assert "annotations file not found" in capsys.readouterr().err
    bad = json.loads((shapes_dir / "annotations.json").read_text())
    bad["annotations"][1]["category_id"] = 42
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["evaluate-results", str(tmp_path / "bad.json"), str(results)]) == 2
    assert "bad.json: annotation id 2 (image id" in capsys.readouterr().err
    assert main(["evaluate-results", str(shapes_dir), str(results), "--json", str(tmp_path / "no" / "m.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_every_flag_has_help_text():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


def test_errors_from_the_shell_have_no_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "minimaskrcnn", "evaluate-results", str(tmp_path / "gt.json"),
                          str(tmp_path / "r.json")], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "not found" in run.stderr
    help_run = subprocess.run([sys.executable, "-m", "minimaskrcnn", "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0 and "make-shapes" in help_run.stdout and "evaluate-results" in help_run.stdout
