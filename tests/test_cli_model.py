"""Smoke tests of the model commands on a tiny configuration: each must run end to end."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_train import small_config

from minimaskrcnn.cli import main
from minimaskrcnn.model import MaskRCNN


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    cfg = small_config(steps=3)
    (root / "tiny.json").write_text(cfg.to_json())
    assert main(["make-shapes", str(root / "data"), "--num-images", "6", "--size", "64"]) == 0
    code = main(["train", "--config", str(root / "tiny.json"), "--out", str(root / "run"),
                 "--data", str(root / "data"), "--val-data", str(root / "data"), "--no-progress"])
    assert code == 0
    return root


def test_train_writes_a_model(tiny_run):
    model = MaskRCNN.load(str(tiny_run / "run" / "model_final.npz"))
    assert model.cfg.image_size == 64 and model.cfg.class_names == ("circle", "square", "triangle")


def test_train_on_generated_shapes_with_overrides(tmp_path, tiny_run):
    code = main(["train", "--config", str(tiny_run / "tiny.json"), "--out", str(tmp_path), "--steps", "2",
                 "--set", "roi_op=\"roi_pool\"", "--num-images", "2", "--no-progress"])
    assert code == 0
    assert MaskRCNN.load(str(tmp_path / "model_final.npz")).cfg.roi_op == "roi_pool"


def test_evaluate_on_coco_folder_and_generated(tiny_run, capsys):
    ckpt = str(tiny_run / "run" / "model_final.npz")
    out = tiny_run / "eval"
    assert main(["evaluate", "--checkpoint", ckpt, "--data", str(tiny_run / "data"),
                 "--results", str(out / "r.json"), "--json", str(out / "s.json")]) == 0
    stats = json.loads((out / "s.json").read_text())
    assert set(stats) == {"bbox", "segm"} and set(stats["segm"]) >= {"AP", "AP50", "AR100"}
    assert isinstance(json.loads((out / "r.json").read_text()), list)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", ckpt, "--num-images", "2", "--results", str(out / "g.json")]) == 0
    printed = capsys.readouterr().out
    assert "AP50" in printed and "segm" in printed  # the summary tables
    # the results file evaluates with evaluate-results too
    assert main(["evaluate-results", str(tiny_run / "data"), str(out / "r.json")]) == 0


def test_predict_writes_overlays_and_results(tiny_run, tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.full((50, 70, 3), 200, np.uint8)).save(image)
    ckpt = str(tiny_run / "run" / "model_final.npz")
    assert main(["predict", str(image), "--checkpoint", ckpt, "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "in_pred.png").is_file()
    assert isinstance(json.loads((tmp_path / "p" / "results.json").read_text()), list)


def test_demo_runs_with_a_given_checkpoint(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "run" / "model_final.npz")
    assert main(["demo", "--checkpoint", ckpt, "--num-images", "3", "--out", str(tmp_path)]) == 0  # < 8 shown
    assert (tmp_path / "predictions.png").is_file()
    assert "predictions.png" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--checkpoint", "missing.npz"], "no such file"),
    (["train", "--data", "no/such/dir"], "no such file or directory"),
    (["train", "--set", "not_a_field=3"], "KEY=VALUE"),
    (["train", "--set", "roi_op=\"bilinear\""], "roi_op"),
    (["predict", "missing.png", "--checkpoint", "missing.npz"], "no such file"),
    (["train", "--set", "steps=abc"], "Config.steps"),
])
def test_bad_arguments_give_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_flag_value_is_a_usage_error(capsys):
    assert main(["train", "--steps", "0"]) == 2
    assert "expected an integer >= 1" in capsys.readouterr().err


def test_predict_with_a_keypoint_model_writes_keypoints(tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(image)
    ckpt = str(Path(__file__).parents[1] / "data" / "keypoint_model.npz")
    assert main(["predict", str(image), "--checkpoint", ckpt, "--out", str(tmp_path / "p"),
                 "--score-thresh", "0"]) == 0
    results = json.loads((tmp_path / "p" / "results.json").read_text())
    assert all("keypoints" in r for r in results)


def test_evaluation_matches_classes_by_name_not_order(tiny_run, tmp_path):
    """The same COCO folder with its categories listed in reverse order gives the same AP."""
    from minimaskrcnn.datasets.coco import CocoDataset
    from minimaskrcnn.inference import evaluate_model

    model = MaskRCNN.load(str(tiny_run / "run" / "model_final.npz"))
    ann = json.loads((tiny_run / "data" / "annotations.json").read_text())
    swap = {c["id"]: new for c, new in zip(ann["categories"], [c["id"] for c in ann["categories"]][::-1])}
    for c in ann["categories"]:  # reverse the ids: sorted by id, the categories come in reverse order
        c["id"] = swap[c["id"]]
    for a in ann["annotations"]:
        a["category_id"] = swap[a["category_id"]]
    (tmp_path / "annotations.json").write_text(json.dumps(ann))
    same = CocoDataset(str(tmp_path / "annotations.json"), str(tiny_run / "data" / "images"))
    original = CocoDataset(str(tiny_run / "data" / "annotations.json"), str(tiny_run / "data" / "images"))
    assert list(same.class_names) != list(original.class_names)
    a = evaluate_model(model, original)
    b = evaluate_model(model, same)
    for t in ("bbox", "segm"):  # equal up to the order of floating-point sums over classes
        np.testing.assert_allclose([a[t].stats[k] for k in a[t].stats], [b[t].stats[k] for k in a[t].stats],
                                   rtol=1e-12)


def test_predict_keeps_images_with_the_same_name_apart(tiny_run, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        Image.fromarray(np.full((64, 64, 3), 100, np.uint8)).save(tmp_path / d / "x.png")
    ckpt = str(tiny_run / "run" / "model_final.npz")
    assert main(["predict", str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), "--checkpoint", ckpt,
                 "--out", str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "p").glob("*.png")) == ["x_0_pred.png", "x_1_pred.png"]
