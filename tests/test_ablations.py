"""The ablation runner on a tiny budget: every variant trains and evaluates end to end."""
import json

import pytest
from test_train import small_config

from minimaskrcnn.ablations import COMPARISONS, VARIANTS, format_table, run_ablations, summarize, variant_config
from minimaskrcnn.cli import main
from minimaskrcnn.config import Config


def test_every_variant_runs_end_to_end(tmp_path):
    out = tmp_path / "ablations.json"
    base = small_config(batch_size=1)
    lines = []
    data = run_ablations(str(out), seeds=(0,), steps=2, val_images=2, work_dir=str(tmp_path / "w"),
                         base=base, command="test", log=lines.append)
    assert {r["variant"] for r in data["runs"]} == set(VARIANTS)
    assert len(lines) == len(VARIANTS)
    stored = json.loads(out.read_text())
    assert stored["command"] == "test" and len(stored["runs"]) == len(VARIANTS)
    for r in stored["runs"]:
        assert set(r["metrics"]) == {"bbox", "segm"} and r["train_seconds"] >= 0
        assert Config.from_dict(r["config"]).seed == 0
    # a second call finds every run done and trains nothing
    again = run_ablations(str(out), seeds=(0,), steps=2, val_images=2, work_dir=str(tmp_path / "w"),
                          base=base, log=lines.append)
    assert len(again["runs"]) == len(VARIANTS) and len(lines) == len(VARIANTS)
    table = format_table(again)
    for _, rows in COMPARISONS:
        for label, _, paper in rows:
            assert label in table and f"{paper:.1f}" in table


def test_variants_change_exactly_their_switch():
    base = Config()
    for name, changes in VARIANTS.items():
        cfg = variant_config(name, base, steps=100, seed=3)
        assert cfg.steps == 100 and cfg.seed == 3 and cfg.lr_milestones == (75, 90)
        for key, value in changes.items():
            assert getattr(cfg, key) == value
    assert variant_config("s32_roi_pool", base, 10, 0).backbone_stride == 32
    with pytest.raises(ValueError, match="variant"):
        variant_config("dropout", base, 10, 0)


def test_summary_mean_and_std():
    runs = [{"variant": "baseline", "seconds_per_step": 1.0,
             "metrics": {"segm": {"AP": a, "AP50": a, "AP75": a}, "bbox": {"AP": a}}} for a in (0.2, 0.4)]
    s = summarize({"runs": runs})["baseline"]
    assert s["n"] == 2 and s[("segm", "AP")][0] == pytest.approx(0.3)
    assert s[("segm", "AP")][1] == pytest.approx(0.1414, abs=1e-4)


def test_cli_table_only(tmp_path, capsys):
    assert main(["ablate", "--out", str(tmp_path / "missing.json"), "--table-only"]) == 2
    (tmp_path / "a.json").write_text(json.dumps({"runs": [], "steps": 5, "val_images": 2}))
    assert main(["ablate", "--out", str(tmp_path / "a.json"), "--table-only"]) == 0
    assert "paper mask AP" in capsys.readouterr().out


def test_an_interrupted_run_is_not_stored(tmp_path, monkeypatch):
    import minimaskrcnn.train as train_module

    real_train = train_module.train

    def interrupted(*args, **kwargs):
        result = real_train(*args, max_steps=1, **kwargs)
        result.interrupted = True  # what train() returns after catching Ctrl-C
        return result

    monkeypatch.setattr(train_module, "train", interrupted)
    out = tmp_path / "ablations.json"
    with pytest.raises(KeyboardInterrupt):
        run_ablations(str(out), variants=["baseline"], seeds=(0,), steps=2, val_images=2,
                      work_dir=str(tmp_path / "w"), base=small_config(batch_size=1), command="test")
    assert not out.exists() or json.loads(out.read_text())["runs"] == []


def test_table_only_on_a_file_that_is_not_a_sweep(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert main(["ablate", "--out", str(bad), "--table-only"]) == 2
    assert "not an ablation results file" in capsys.readouterr().err
