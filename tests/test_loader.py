"""The background batch worker: the same batches as in-process, in order, errors reported."""
import numpy as np
import pytest
from model_fixtures import tiny_config

from minimaskrcnn.datasets import ShapesConfig, ShapesDataset
from minimaskrcnn.datasets.loader import BatchLoader, BatchSampler


def config(**changes):
    return tiny_config(**{"image_size": 64, "batch_size": 3, "anchor_sizes": (12.0, 24.0, 48.0), **changes})


def data(n=10):
    return ShapesDataset(n, seed=0, config=ShapesConfig(image_size=64, min_visible_area=20))


def same(a, b):
    (ia, ta), (ib, tb) = a, b
    assert ia.tobytes() == ib.tobytes()
    for x, y in zip(ta, tb):
        assert set(x) == set(y)
        for k in x:
            assert np.asarray(x[k]).tobytes() == np.asarray(y[k]).tobytes(), k


def test_background_worker_gives_the_in_process_batches():
    cfg = config()
    with BatchLoader(data(), cfg, 2, 6, workers=1) as background, BatchLoader(data(), cfg, 2, 6, workers=0) as local:
        assert background.in_background and not local.in_background
        for step in range(2, 6):
            same(background.get(step), local.get(step))


def test_batches_do_not_depend_on_where_a_run_starts():
    cfg = config()
    whole = BatchLoader(data(), cfg, 0, 5, workers=0)
    batches = [whole.get(s) for s in range(5)]
    resumed = BatchLoader(data(), cfg, 3, 5, workers=0)
    same(resumed.get(3), batches[3])
    same(resumed.get(4), batches[4])


def test_steps_must_come_in_order():
    loader = BatchLoader(data(), config(), 0, 4, workers=0)
    with pytest.raises(ValueError, match="step"):
        loader.get(1)


class Broken:
    """A dataset whose fifth image cannot be read."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise OSError("image 4 is unreadable")
        return data(6)[i]


def test_a_failing_sample_is_reported_with_its_step():
    cfg = config(batch_size=6)
    with BatchLoader(Broken(), cfg, 0, 2, workers=1) as loader:
        assert loader.in_background
        with pytest.raises(RuntimeError, match="step 0.*image 4 is unreadable"):
            loader.get(0)


def test_unpicklable_dataset_falls_back_to_the_calling_process():
    class Local(list):  # defined inside a function: cannot be pickled to another process
        pass

    samples = Local(data(4))
    loader = BatchLoader(samples, config(batch_size=2), 0, 2, workers=1)
    assert not loader.in_background
    images, targets = loader.get(0)
    assert images.shape == (2, 64, 64, 3) and len(targets) == 2


def test_sampler_covers_every_item_once_per_epoch():
    s = BatchSampler(10, 4, seed=3)
    seen = [i for step in range(5) for i in s.indices(step)]  # 20 = two epochs
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))


def test_a_worker_that_stops_is_replaced_by_the_calling_process():
    cfg = config()
    with BatchLoader(data(), cfg, 0, 4, workers=1) as background, BatchLoader(data(), cfg, 0, 4, workers=0) as local:
        same(background.get(0), local.get(0))
        background._process.kill()  # as when a guardless script's worker cannot start
        background._process.join()
        with pytest.warns(RuntimeWarning, match="worker process stopped"):
            for step in range(1, 4):
                same(background.get(step), local.get(step))
        assert not background.in_background


def test_a_script_without_a_main_guard_still_trains(tmp_path):
    """spawn re-imports the script, whose train() call fails in the worker: the trainer carries on."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "guardless.py"
    script.write_text(
        "import sys\n"
        f"sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]\n"
        "from model_fixtures import tiny_config\n"
        "from minimaskrcnn.train import train\n"
        "cfg = tiny_config(image_size=64, batch_size=2, anchor_sizes=(12.0, 24.0, 48.0), steps=3)\n"
        f"result = train(cfg, {str(tmp_path / 'run')!r}, progress=False)\n"
        "print('steps done', result.step)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "steps done 3" in done.stdout
    assert "worker process stopped" in done.stderr
