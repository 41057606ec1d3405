"""The Keras 3 hook on the torch backend (no TensorFlow) with a real ``model.fit`` on a tiny model:
ledger contents in this process, and a live gate under a real ``gatebook run`` ending ``fit``
cleanly in a child process. ``KERAS_BACKEND=torch`` comes from conftest.py."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

import gatebook as gb
from gatebook.store import open_store
from tests.helpers import write_script
from tests.integrations.gating import assert_stopped_by_gate, run_gated

pytest.importorskip("keras")

# Keras's own torch-backend variables trip NumPy 2's copy-keyword deprecation (not ours to fix)
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

TRAIN = textwrap.dedent('''\
    """A tiny Keras fit: one Dense layer on 64 random samples, 8 batches an epoch."""
    import json, sys, time

    import numpy as np
    import keras

    from gatebook.integrations.keras import GatebookCallback


    class Slow(keras.callbacks.Callback):
        def __init__(self, sleep):
            super().__init__()
            self.sleep = sleep

        def on_train_batch_end(self, batch, logs=None):
            time.sleep(self.sleep)

        def on_train_end(self, logs=None):
            with open("train_end.json", "w") as f:
                json.dump({"epochs": len(self.model.history.epoch) if self.model.history else None}, f)


    def train(epochs, sleep, log_batches=False):
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
        ckpt = keras.callbacks.ModelCheckpoint("ckpt/e{epoch:02d}.keras")
        hook = GatebookCallback(name="keras", tags=["keras"], log_batches=log_batches, batch_every=4)
        return model.fit(x, y, epochs=epochs, batch_size=8, verbose=0,
                         callbacks=[hook, ckpt, Slow(sleep)])


    if __name__ == "__main__":
        history = train(int(sys.argv[1]), float(sys.argv[2]))
        print(f"fit returned after {len(history.epoch)} epochs", flush=True)
    ''')


@pytest.mark.parametrize("log_batches", [False, True], ids=["epochs", "batches"])
def test_epoch_logs_reach_the_ledger_at_the_epoch_number(url: str, tmp_path: Path, log_batches: bool) -> None:
    script = write_script(tmp_path, "keras_train.py", TRAIN)
    ns: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), ns)
    history = ns["train"](3, 0.0, log_batches)
    run = gb.current()
    assert run is not None
    run_id = run.id
    gb.finish()
    with open_store(url) as store:
        rec = store.get_run(run_id)
        assert rec.status.value == "finished" and rec.name == "keras" and rec.tags == ("keras",)
        series = store.metric_series(run_id)
        epoch_losses = history.history["loss"]
        if log_batches:  # every 4th batch, and each epoch's logs at the batch where it ended, with `epoch`
            assert [s for s, _v, _t in series["epoch"]] == [8, 16, 24]
            assert [v for _s, v, _t in series["epoch"]] == [1.0, 2.0, 3.0]
            assert [s for s, _v, _t in series["loss"]] == [4, 8, 8, 12, 16, 16, 20, 24, 24]
        else:
            assert [s for s, _v, _t in series["loss"]] == [1, 2, 3]
            assert [v for _s, v, _t in series["loss"]] == pytest.approx(epoch_losses)
            assert [s for s, _v, _t in series["mae"]] == [1, 2, 3]
        params = store.params(run_id)["api"]
        assert params["keras.epochs"] == 3 and params["keras.steps"] == 8


def test_a_failing_stop_gate_ends_fit_cleanly(tmp_path: Path) -> None:
    script = write_script(tmp_path, "keras_train.py", TRAIN)
    proc, doc = run_gated(tmp_path, script, "30", "0.05")  # 30 epochs of 0.4 s if nothing stopped it
    assert_stopped_by_gate(proc, doc)
    end = json.loads((tmp_path / "train_end.json").read_text())  # Keras's own on_train_end ran
    assert "fit returned after" in proc.stdout
    assert 3 <= end["epochs"] < 10, end
    saved = sorted(os.listdir(tmp_path / "ckpt"))
    assert saved[-1] == f"e{end['epochs']:02d}.keras", saved  # ModelCheckpoint saved the epoch that stopped
    assert "ending Keras training after batch" in proc.stderr
