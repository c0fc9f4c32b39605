import json
import os

import numpy as np
import pytest
from model_fixtures import tiny_config

from minimaskrcnn.checkpoint import atomic_savez, load_npz
from minimaskrcnn.datasets import ShapesConfig, ShapesDataset
from minimaskrcnn.model import MaskRCNN
from minimaskrcnn.train import BatchSampler, NonFiniteLossError, train


def small_config(**changes):
    base = dict(image_size=64, anchor_sizes=(12.0, 24.0, 48.0), steps=6, batch_size=2, warmup_steps=2,
                lr_milestones=(4,), base_lr=0.01)
    return tiny_config(**{**base, **changes})


def small_data(n=12, seed=0):
    return ShapesDataset(n, seed=seed, config=ShapesConfig(image_size=64, min_visible_area=20))


def params(model):
    return {n: p.copy() for n, p, _ in model.named_parameters()}


def test_train_writes_checkpoint_logs_and_final_model(tmp_path):
    cfg = small_config()
    result = train(cfg, str(tmp_path), train_dataset=small_data(), val_dataset=small_data(4, seed=1),
                   checkpoint_every=2, log_every=1, progress=False)
    assert result.step == 6 and len(result.history) == 6
    for name in ("checkpoint.npz", "model_final.npz", "log.csv", "log.json", "loss.png"):
        assert (tmp_path / name).is_file(), name
    assert set(result.evaluations[-1]) == {"step", "train_seconds", "bbox", "segm"}
    back = MaskRCNN.load(str(tmp_path / "model_final.npz"))
    for n, p in params(result.model).items():
        np.testing.assert_array_equal(p, dict((k, v) for k, v, _ in back.named_parameters())[n])
    logged = json.loads((tmp_path / "log.json").read_text())
    assert logged["history"][0]["step"] == 0 and "loss_mask" in logged["history"][0]


def test_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = small_config()
    data = small_data()
    full = train(cfg, str(tmp_path / "a"), train_dataset=data, progress=False, log_every=1)
    train(cfg, str(tmp_path / "b"), train_dataset=data, progress=False, max_steps=3, checkpoint_every=3)
    resumed = train(cfg, str(tmp_path / "b"), train_dataset=data, progress=False, resume=True, log_every=1)
    assert resumed.step == full.step == 6
    a, b = params(full.model), params(resumed.model)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [r["loss"] for r in resumed.history[-3:]] == [r["loss"] for r in full.history[-3:]]


def test_interrupted_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    path = str(tmp_path / "checkpoint.npz")
    atomic_savez(path, {"a": np.arange(3)})

    def crash(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_savez(path, {"a": np.arange(5)})
    monkeypatch.undo()
    np.testing.assert_array_equal(load_npz(path)["a"], np.arange(3))
    assert os.listdir(tmp_path) == ["checkpoint.npz"]  # no temporary file left behind


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_exploding_learning_rate_stops_with_a_clear_message(tmp_path):
    cfg = small_config(base_lr=1e6, clip_grad_norm=1e12, warmup_steps=1, steps=20)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step \d+"):
        train(cfg, str(tmp_path), train_dataset=small_data(), progress=False, checkpoint_every=1)
    # the last good checkpoint is still a loadable model
    data = load_npz(str(tmp_path / "checkpoint.npz"))
    assert all(np.isfinite(v).all() for k, v in data.items() if k.startswith("param/"))


def test_ctrl_c_saves_a_checkpoint(tmp_path, monkeypatch):
    cfg = small_config()
    calls = {"n": 0}
    original = MaskRCNN.forward

    def forward(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MaskRCNN, "forward", forward)
    result = train(cfg, str(tmp_path), train_dataset=small_data(), progress=False)
    assert result.interrupted and result.step == 2
    assert int(load_npz(str(tmp_path / "checkpoint.npz"))["step"]) == 2


def test_batch_sampler_covers_each_epoch_once():
    s = BatchSampler(10, 4, seed=0)
    first_epoch = s.indices(0) + s.indices(1) + s.indices(2)[:2]
    assert sorted(first_epoch) == list(range(10))
    assert s.indices(1) == BatchSampler(10, 4, seed=0).indices(1)  # depends on the step only


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("lr", [1e6, 1e38])
def test_every_checkpoint_holds_weights_that_gave_a_finite_loss(tmp_path, lr):
    # with lr 1e38 the first update leaves finite weights that already give a NaN loss
    cfg = small_config(base_lr=lr, clip_grad_norm=1e12, warmup_steps=1, steps=20)
    with pytest.raises(NonFiniteLossError):
        train(cfg, str(tmp_path), train_dataset=small_data(), progress=False, checkpoint_every=1)
    path = tmp_path / "checkpoint.npz"
    if lr == 1e38:
        assert not path.exists()  # no weights were ever verified after an update
        return
    model = MaskRCNN.load(str(path))
    data = small_data()
    images = np.stack([data[i]["image"] for i in range(2)])
    targets = [{k: data[i][k] for k in ("boxes", "labels", "masks")} for i in range(2)]
    assert np.isfinite(model.forward(images, targets, np.random.default_rng(0))["loss"])
