"""`gatebook run --watch GLOB`: files written the way Lightning and Hugging Face write them, by
hand (no framework needed), after the command starts; the points recorded, at their steps."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

from tests.helpers import PY, gb, gb_json, one_line_error, write_script

# Lightning's CSVLogger (_ExperimentWriter.save): at each flush, new metric keys rewrite the file
# with the wider header (sorted new keys appended), then the rows are appended by csv.DictWriter
# ("\r\n" line ends, empty cells for the metrics a row lacks). Each fit is a new version_N.
LIGHTNING = textwrap.dedent("""\
    import csv, os, sys, time

    class Writer:
        def __init__(self, root):
            versions = [int(d.split("_")[1]) for d in os.listdir(root)] if os.path.isdir(root) else []
            self.dir = os.path.join(root, f"version_{max(versions, default=-1) + 1}")
            os.makedirs(self.dir)
            self.path, self.keys = os.path.join(self.dir, "metrics.csv"), []

        def save(self, rows):
            new = sorted({k for r in rows for k in r} - set(self.keys))
            exists = os.path.isfile(self.path)
            self.keys.extend(new)
            if new and exists:
                with open(self.path, newline="") as f:
                    old = list(csv.DictReader(f))
                with open(self.path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=self.keys)
                    w.writeheader()
                    w.writerows(old)
            with open(self.path, "a" if exists else "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.keys)
                if not exists:
                    w.writeheader()
                w.writerows(rows)

    def fit(first_epoch, epochs):
        writer = Writer("lightning_logs")
        for epoch in range(first_epoch, first_epoch + epochs):
            step = 10 * (epoch + 1) - 1
            writer.save([{"train_loss": round(1.0 / (epoch + 1), 4), "epoch": epoch, "step": step}])
            time.sleep(0.3)
            writer.save([{"val_loss": round(1.5 / (epoch + 1), 4), "epoch": epoch, "step": step}])
            time.sleep(0.3)

    time.sleep(0.5)   # the model is built: the log directory does not exist yet
    fit(0, 3)         # lightning_logs/version_1 (version_0 is an earlier run's)
    fit(3, 2)         # a second fit (fine-tuning): version_2
    print("done")
    """)


def run_json(cwd: Path, ledger: str, *args: str) -> dict:
    """`gatebook run --json ARGS`: its end document."""
    proc = gb("run", "--json", *args, cwd=cwd, store=ledger)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def series(store_url: str, run_id: str) -> dict[str, list[tuple[int | None, float]]]:
    from gatebook.store import open_store

    with open_store(store_url) as store:
        return {key: [(step, value) for step, value, _ in points]
                for key, points in store.metric_series(run_id).items()}


def test_run_follows_lightning_versions_that_appear_after_it_starts(tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path}/ledger.db"
    old = tmp_path / "lightning_logs" / "version_0" / "metrics.csv"
    old.parent.mkdir(parents=True)
    old.write_text("epoch,step,train_loss\r\n0,9,99.0\r\n")
    os.utime(old, (time.time() - 3600, time.time() - 3600))  # an earlier run's: not this run's points
    write_script(tmp_path, "train.py", LIGHTNING)
    doc = run_json(tmp_path, ledger, "--name", "pl", "--watch", "lightning_logs/version_*/metrics.csv", "--", PY,
                   "train.py")
    assert doc["status"] == "finished" and doc["warnings"] == []
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == ["version_0", "version_1", "version_2"]
    got = series(ledger, doc["id"])
    assert got["train_loss"] == [(10 * (e + 1) - 1, round(1.0 / (e + 1), 4)) for e in range(5)]
    assert got["val_loss"] == [(10 * (e + 1) - 1, round(1.5 / (e + 1), 4)) for e in range(5)]
    assert got["epoch"] == [(10 * (e + 1) - 1, float(e)) for e in range(5) for _ in range(2)]  # a metric too
    assert set(got) == {"train_loss", "val_loss", "epoch"}  # the step column is the step, not a metric
    shown = gb_json("show", "pl", cwd=tmp_path, store=ledger)["metrics"]
    assert shown["train_loss"]["count"] == 5 and shown["train_loss"]["last_step"] == 49


# Hugging Face Trainer: at each save, output_dir/checkpoint-N/trainer_state.json holds the whole
# log_history so far (json.dumps(indent=2, sort_keys=True)); save_total_limit=1 deletes the older
# checkpoint. Training entries and evaluation entries of one step are separate.
TRAINER = textwrap.dedent("""\
    import json, os, shutil, time

    history = []
    time.sleep(0.5)
    for step in range(10, 61, 10):
        epoch = step / 20
        history.append({"epoch": epoch, "grad_norm": 1.0, "learning_rate": 5e-05 * (1 - step / 60),
                        "loss": round(1.0 - step / 100, 4), "step": step})
        if step % 20 == 0:
            history.append({"epoch": epoch, "eval_loss": round(1.2 - step / 100, 4), "eval_runtime": 0.5,
                            "step": step})
            ckpt = f"out/checkpoint-{step}"
            os.makedirs(ckpt)
            with open(os.path.join(ckpt, "trainer_state.json"), "w") as f:
                f.write(json.dumps({"best_metric": None, "epoch": epoch, "global_step": step,
                                    "log_history": history, "max_steps": 60, "save_steps": 20,
                                    "total_flos": 123.0}, indent=2, sort_keys=True) + "\\n")
            if step > 20:
                shutil.rmtree(f"out/checkpoint-{step - 20}")
        time.sleep(0.25)
    """)


def test_run_follows_trainer_state_of_each_new_checkpoint_once(tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path}/ledger.db"
    write_script(tmp_path, "train.py", TRAINER)
    doc = run_json(tmp_path, ledger, "--name", "hf", "--watch", "out/checkpoint-*/trainer_state.json", "--", PY,
                   "train.py")
    assert doc["status"] == "finished" and doc["warnings"] == []
    got = series(ledger, doc["id"])
    assert got["loss"] == [(s, round(1.0 - s / 100, 4)) for s in range(10, 61, 10)]  # each once, its own step
    assert got["eval_loss"] == [(s, round(1.2 - s / 100, 4)) for s in (20, 40, 60)]
    assert got["epoch"][:3] == [(10, 0.5), (20, 1.0), (20, 1.0)]
    assert not {"global_step", "total_flos", "best_metric"} & set(got)  # log_history only


def test_a_glob_that_cannot_be_followed_is_one_line_exit_2(tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path}/ledger.db"
    for value in ("../*.csv", "/tmp/*/metrics.csv", "logs/**"):
        err = one_line_error(gb("run", "--watch", value, "--", PY, "-c", "pass", cwd=tmp_path, store=ledger))
        assert repr(value) in err
    assert not (tmp_path / "ledger.db").exists()  # nothing recorded
    err = one_line_error(gb("attach", "--pid", str(os.getpid()), "--watch", "~/out/*.json", cwd=tmp_path,
                            store=ledger))
    assert "relative" in err
    assert run_json(tmp_path, ledger, "--watch", "none_*.csv", "--", PY, "-c", "pass")["warnings"] == [
        f"watched file: no file written during the run matches 'none_*.csv' (in {tmp_path})"]
