"""The dataset's own ids everywhere: checkpoint, predict, evaluate, evaluate-results.

The fixture is a shapes COCO folder whose category ids are 3, 11, 20 (not 1..3)
and whose image ids are 100, 107, ... (not 0..N-1), as a student's own tool
would number them.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_train import small_config

from minimaskrcnn.checkpoint import atomic_savez, load_npz
from minimaskrcnn.cli import main
from minimaskrcnn.datasets import ShapesConfig, ShapesDataset, write_coco_dataset
from minimaskrcnn.model import MaskRCNN

CATEGORY_IDS = {1: 3, 2: 11, 3: 20}
REPO = Path(__file__).resolve().parents[1]


def renumber(folder: Path) -> dict:
    """Give a written COCO folder non-contiguous category ids and image ids; returns the annotations."""
    ann = json.loads((folder / "annotations.json").read_text())
    for c in ann["categories"]:
        c["id"] = CATEGORY_IDS[c["id"]]
    image_id = {img["id"]: 100 + 7 * n for n, img in enumerate(ann["images"])}
    for img in ann["images"]:
        img["id"] = image_id[img["id"]]
    for a in ann["annotations"]:
        a["category_id"], a["image_id"] = CATEGORY_IDS[a["category_id"]], image_id[a["image_id"]]
    (folder / "annotations.json").write_text(json.dumps(ann))
    return ann


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ids")
    data = ShapesDataset(6, seed=2, config=ShapesConfig(image_size=64, min_visible_area=20))
    write_coco_dataset(data, root / "data")
    renumber(root / "data")
    (root / "tiny.json").write_text(small_config(steps=3, score_thresh=0.01).to_json())
    assert main(["train", "--config", str(root / "tiny.json"), "--data", str(root / "data"),
                 "--out", str(root / "run"), "--no-progress"]) == 0
    return root


def image_paths(root):
    ann = json.loads((root / "data" / "annotations.json").read_text())
    return [str(root / "data" / "images" / img["file_name"]) for img in ann["images"]]


def test_checkpoints_store_the_datasets_category_ids(run):
    for name in ("model_final.npz", "checkpoint.npz"):
        model = MaskRCNN.load(str(run / "run" / name))
        assert model.category_ids == (3, 11, 20)
        assert model.cfg.class_names == ("circle", "square", "triangle")
        np.testing.assert_array_equal(load_npz(str(run / "run" / name))["category_ids"], [3, 11, 20])


def test_old_checkpoints_without_ids_load_as_1_to_k(run, tmp_path):
    assert MaskRCNN.load(str(REPO / "data" / "toy_model.npz")).category_ids == (1, 2, 3)
    arrays = load_npz(str(run / "run" / "model_final.npz"))
    del arrays["category_ids"]
    atomic_savez(str(tmp_path / "old.npz"), arrays)
    assert MaskRCNN.load(str(tmp_path / "old.npz")).category_ids == (1, 2, 3)


@pytest.mark.parametrize("ids, message", [([3, 11], "expected 3 distinct integer category ids"),
                                          ([3, 3, 20], "expected 3 distinct"),
                                          (np.array([1.5, 2, 3]), "1-d integer array")])
def test_bad_stored_ids_are_refused_naming_the_file(run, tmp_path, ids, message):
    arrays = load_npz(str(run / "run" / "model_final.npz"))
    arrays["category_ids"] = np.asarray(ids)
    atomic_savez(str(tmp_path / "bad.npz"), arrays)
    with pytest.raises(ValueError, match=f"bad.npz.*{message}"):
        MaskRCNN.load(str(tmp_path / "bad.npz"))


def test_predict_then_evaluate_results_round_trips_on_the_coco_folder(run, tmp_path, capsys):
    """predict on the folder's images finds its image ids by itself; evaluate-results scores them, warning
    about nothing, with exactly the figures `evaluate` gives on the same folder."""
    ckpt = str(run / "run" / "model_final.npz")
    assert main(["predict", *image_paths(run), "--checkpoint", ckpt, "--out", str(tmp_path / "p")]) == 0
    assert "image ids from" in capsys.readouterr().out
    results = json.loads((tmp_path / "p" / "results.json").read_text())
    assert results, "the tiny model detects something at score_thresh 0.01"
    assert {r["category_id"] for r in results} <= {3, 11, 20}
    assert {r["image_id"] for r in results} <= {100 + 7 * n for n in range(6)}
    assert main(["evaluate-results", str(run / "data"), str(tmp_path / "p" / "results.json"),
                 "--json", str(tmp_path / "from_predict.json")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", ckpt, "--data", str(run / "data"), "--results",
                 str(tmp_path / "e.json"), "--json", str(tmp_path / "from_evaluate.json")]) == 0
    a = json.loads((tmp_path / "from_predict.json").read_text())
    b = json.loads((tmp_path / "from_evaluate.json").read_text())
    assert a == b
    by_image = lambda rs: sorted((r["image_id"], r["category_id"], r["score"]) for r in rs)  # noqa: E731
    assert by_image(results) == by_image(json.loads((tmp_path / "e.json").read_text()))


def test_predict_with_data_matches_file_names_and_names_unlisted_images(run, tmp_path, capsys):
    ckpt = str(run / "run" / "model_final.npz")
    copy = tmp_path / "elsewhere" / Path(image_paths(run)[2]).name  # same file name, another folder
    copy.parent.mkdir()
    copy.write_bytes(Path(image_paths(run)[2]).read_bytes())
    assert main(["predict", str(copy), "--checkpoint", ckpt, "--out", str(tmp_path / "p"),
                 "--data", str(run / "data")]) == 0
    assert {r["image_id"] for r in json.loads((tmp_path / "p" / "results.json").read_text())} <= {114}
    stranger = tmp_path / "stranger.png"
    Image.fromarray(np.full((40, 50, 3), 90, np.uint8)).save(stranger)
    capsys.readouterr()
    assert main(["predict", str(stranger), "--checkpoint", ckpt, "--out", str(tmp_path / "q"),
                 "--data", str(run / "data")]) == 2
    assert "does not list 1 of the images: " + str(stranger) in capsys.readouterr().err


def test_predict_outside_a_coco_folder_writes_the_paths(run, tmp_path, capsys):
    ckpt = str(run / "run" / "model_final.npz")
    image = tmp_path / "mine.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 60, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(image), "--checkpoint", ckpt, "--out", str(tmp_path / "p"),
                 "--score-thresh", "0"]) == 0
    results = json.loads((tmp_path / "p" / "results.json").read_text())
    assert results and {r["image_id"] for r in results} == {str(image)}
    capsys.readouterr()
    assert main(["evaluate-results", str(run / "data"), str(tmp_path / "p" / "results.json")]) == 2
    assert "give it --data DIR" in capsys.readouterr().err


def test_evaluate_results_warns_about_unknown_categories_naming_them(run, tmp_path, capsys):
    ann = json.loads((run / "data" / "annotations.json").read_text())
    results = [{"image_id": a["image_id"], "category_id": label, "bbox": a["bbox"], "score": 0.9}
               for a in ann["annotations"] for label in ({3: 1, 11: 2, 20: 3}[a["category_id"]], a["category_id"])]
    (tmp_path / "r.json").write_text(json.dumps(results))
    assert main(["evaluate-results", str(run / "data"), str(tmp_path / "r.json"), "--iou-type", "bbox"]) == 0
    err = capsys.readouterr().err
    unknown = sum(r["category_id"] not in (3, 11, 20) for r in results)  # labels 1, 2 (label 3 is an id too)
    assert unknown > 0
    assert f"{unknown} of {len(results)} results have category ids that are not in the annotations: 1, 2 " in err
    assert "the annotations have 3, 11, 20" in err and "look like model labels 1..K" in err


def test_evaluate_results_names_every_unknown_image_id(run, tmp_path, capsys):
    results = [{"image_id": i, "category_id": 3, "bbox": [0, 0, 5, 5], "score": 0.5} for i in (100, 0, 1, 2)]
    (tmp_path / "r.json").write_text(json.dumps(results))
    assert main(["evaluate-results", str(run / "data"), str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "result 1: image id 0 is not in the annotations (3 results name 3 image ids it does not have: 0, 1, 2" in err
    assert "its image ids: 100, 107, 114" in err


def test_resume_on_data_with_other_category_ids_is_refused(run, tmp_path, capsys):
    import shutil

    shutil.copytree(run / "run", tmp_path / "run")
    shutil.copytree(run / "data", tmp_path / "data")
    ann = json.loads((tmp_path / "data" / "annotations.json").read_text())
    for c in ann["categories"]:
        c["id"] += 1
    for a in ann["annotations"]:
        a["category_id"] += 1
    (tmp_path / "data" / "annotations.json").write_text(json.dumps(ann))
    assert main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--resume",
                 "--steps", "4", "--no-progress"]) == 2
    assert "trained on category ids [3, 11, 20] but the training data has [4, 12, 21]" in capsys.readouterr().err
