"""Runs a user can manage: resume from the checkpoint's settings, a new length, Ctrl-C outputs, the bar."""
import io
import json
import time

import numpy as np
import pytest
from test_train import params, small_config, small_data

from minimaskrcnn import progress
from minimaskrcnn.checkpoint import load_npz
from minimaskrcnn.cli import main
from minimaskrcnn.model import MaskRCNN
from minimaskrcnn.nn.optim import schedule_for
from minimaskrcnn.resume import resume_config
from minimaskrcnn.train import train

RUN_OUTPUTS = ("checkpoint.npz", "model_final.npz", "log.csv", "log.json", "loss.png")


def interrupt_at_call(monkeypatch, n):
    calls = {"n": 0}
    original = MaskRCNN.forward

    def forward(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MaskRCNN, "forward", forward)


def test_ctrl_c_writes_what_a_normal_end_writes_and_resumes_bit_identically(tmp_path, monkeypatch, capsys):
    cfg, data = small_config(), small_data()
    full = train(cfg, str(tmp_path / "full"), train_dataset=data, progress=False, log_every=1)
    interrupt_at_call(monkeypatch, 4)
    stopped = train(cfg, str(tmp_path / "run"), train_dataset=data, progress=False, log_every=1)
    monkeypatch.undo()
    assert stopped.interrupted and stopped.step == 3
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(RUN_OUTPUTS)
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == sorted(RUN_OUTPUTS)
    printed = capsys.readouterr().out
    assert "interrupted: saved step 3 of 6" in printed and "model_final.npz, log.csv, log.json, loss.png" in printed
    final, ckpt = load_npz(str(tmp_path / "run" / "model_final.npz")), load_npz(str(tmp_path / "run" / "checkpoint.npz"))
    for k in final:  # the final model is the checkpoint's weights
        np.testing.assert_array_equal(final[k], ckpt[k])
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 1 + 3
    resumed = train(cfg, str(tmp_path / "run"), train_dataset=data, progress=False, log_every=1, resume=True)
    a, b = params(full.model), params(resumed.model)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]


@pytest.mark.parametrize("new_steps", [9, 4])
def test_resume_with_a_new_length_lays_the_schedule_over_it(tmp_path, new_steps):
    cfg, data = small_config(lr_schedule="step"), small_data()
    train(cfg, str(tmp_path), train_dataset=data, progress=False, max_steps=3, checkpoint_every=3, log_every=1)
    new, note = resume_config(tmp_path / "checkpoint.npz", cfg.replace(steps=new_steps), {"steps"})
    assert new == cfg.replace(steps=new_steps, lr_milestones=(max(1, int(4 * new_steps / 6)),))
    assert f"at step 3: steps 6 -> {new_steps}" in note
    result = train(new, str(tmp_path), train_dataset=data, progress=False, resume=True, log_every=1)
    assert result.step == new_steps and (tmp_path / "model_final.npz").is_file()
    lrs = [r["lr"] for r in result.history]
    assert lrs[:3] == [schedule_for(cfg).lr_at(s) for s in range(3)]  # the steps done keep theirs
    assert lrs[3:] == [schedule_for(new).lr_at(s) for s in range(3, new_steps)]
    assert MaskRCNN.load(str(tmp_path / "model_final.npz")).cfg.steps == new_steps


def test_resume_below_the_checkpoints_step_is_refused(tmp_path):
    cfg = small_config()
    train(cfg, str(tmp_path), train_dataset=small_data(), progress=False, max_steps=3, checkpoint_every=3)
    with pytest.raises(ValueError, match=r"already at step 3, past the requested steps=2; give --steps 3 or more"):
        resume_config(tmp_path / "checkpoint.npz", cfg.replace(steps=2), {"steps"})
    with pytest.raises(ValueError, match=r"these fields differ: base_lr \(requested: 0.5, stored: 0.01\)"):
        train(cfg.replace(base_lr=0.5), str(tmp_path), train_dataset=small_data(), progress=False, resume=True)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    assert main(["make-shapes", str(root / "data"), "-n", "6", "--size", "64"]) == 0
    (root / "tiny.json").write_text(small_config(steps=3).to_json())
    assert main(["train", "--config", str(root / "tiny.json"), "--data", str(root / "data"), "--out",
                 str(root / "run"), "--set", "seed=5", "--no-progress"]) == 0
    return root


def test_cli_resume_takes_the_settings_from_the_checkpoint(cli_run, capsys):
    capsys.readouterr()
    # no --config, no --set: the stored ones (seed=5, the tiny model) are used; a new length is allowed
    assert main(["train", "--data", str(cli_run / "data"), "--out", str(cli_run / "run"), "--resume",
                 "--steps", "4", "--no-progress"]) == 0
    assert "at step 3: steps 3 -> 4" in capsys.readouterr().out
    model = MaskRCNN.load(str(cli_run / "run" / "model_final.npz"))
    assert model.cfg == small_config(steps=4, seed=5, lr_milestones=(5,)).replace(class_names=model.cfg.class_names)
    history = json.loads((cli_run / "run" / "log.json").read_text())["history"]
    assert [r["step"] for r in history][-1] == 3
    # repeating the whole original command works too (nothing it states differs)
    assert main(["train", "--config", str(cli_run / "tiny.json"), "--data", str(cli_run / "data"), "--out",
                 str(cli_run / "run"), "--set", "seed=5", "--steps", "4", "--resume", "--no-progress"]) == 0


@pytest.mark.parametrize("extra, named", [
    (["--set", "base_lr=0.5"], "base_lr (asked for: 0.5, checkpoint: 0.01)"),
    (["--lr", "0.5", "--seed", "1"], "base_lr (asked for: 0.5, checkpoint: 0.01), seed (asked for: 1, checkpoint: 5)"),
    (["--set", "roi_op=\"roi_pool\""], "roi_op (asked for: 'roi_pool', checkpoint: 'align_avg')"),
])
def test_cli_resume_names_the_fields_that_differ(cli_run, tmp_path, capsys, extra, named):
    import shutil

    shutil.copytree(cli_run / "run", tmp_path / "run")
    capsys.readouterr()
    assert main(["train", "--data", str(cli_run / "data"), "--out", str(tmp_path / "run"), "--resume",
                 "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert f"these differ: {named}. A resumed run keeps the settings it started with" in err
    assert "Traceback" not in err


# -- the progress bar ---------------------------------------------------------------------------------


def test_the_eta_leaves_out_a_slow_first_step():
    clock = {"t": 1000.0}
    bar = progress.TrainProgress(0, 1000, enabled=True, notice_after=60, file=io.StringIO())
    bar.bar._time = lambda: clock["t"]  # tqdm's clock
    bar.bar.start_t = bar.bar.last_print_t = clock["t"]
    clock["t"] += 70.0  # the first step compiles for 70 s
    bar.update(1)
    for _ in range(5):  # then steps of half a second
        clock["t"] += 0.5
        bar.update(1)
    d = bar.bar.format_dict
    eta = (d["total"] - d["n"]) / d["rate"]
    bar.close()
    assert d["n"] == 6 and d["elapsed"] == pytest.approx(2.5)
    assert eta == pytest.approx(994 * 0.5, rel=0.01)  # 8 minutes, not hours


@pytest.mark.parametrize("misses, printed", [((4, "/cache/dir"), True), ((0, None), False)])
def test_the_first_compile_says_it_happens_once(monkeypatch, capsys, misses, printed):
    monkeypatch.setattr(progress, "numba_cache_misses", lambda: misses)
    bar = progress.TrainProgress(0, 10, enabled=True, notice_after=0.01)
    time.sleep(0.3)  # a slow first step
    bar.update(1)
    bar.update(1)
    bar.close()
    out = capsys.readouterr()
    text = out.out + out.err
    assert (progress.compile_notice("/cache/dir") in text) == printed
    assert text.count("compiling the Numba kernels") == int(printed)


def test_cache_misses_are_read_from_the_packages_kernels():
    import minimaskrcnn.ops.conv  # noqa: F401  (kernels with cache=True)

    misses, where = progress.numba_cache_misses()
    assert isinstance(misses, int) and misses >= 0
    assert where is None or isinstance(where, str)
