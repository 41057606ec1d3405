"""`gatebook import tensorboard` and `gatebook run --watch LOGDIR` on event files written by
torch.utils.tensorboard.SummaryWriter and by tensorboard's own writer; tensorboard's
EventAccumulator (nothing sampled) is the oracle for what a file holds."""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import PY, gb, invoke, invoke_json, one_line_error, write_script

pytest.importorskip("tensorboard")
tb_writer = pytest.importorskip("torch.utils.tensorboard")


def ledger(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def series(store_url: str, run_id: str) -> dict[str, list[tuple[int | None, float, float]]]:
    from gatebook.store import open_store

    with open_store(store_url) as store:
        return store.metric_series(run_id)


def accumulated(run_dir: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Every scalar tensorboard itself reads from a run directory (size_guidance 0: all of them)."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(run_dir), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def ids_by_name(doc: dict) -> dict[str, str]:
    return {run["name"]: run["id"] for run in doc["runs"]}


def test_every_scalar_of_every_run_directory_with_steps_and_wall_times(tmp_path: Path) -> None:
    logdir = tmp_path / "runs"
    writer = tb_writer.SummaryWriter(str(logdir / "exp1"))
    for step in range(10_050):  # more than EventAccumulator's default reservoir of 10,000
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    for step in range(0, 100, 10):
        writer.add_scalar("val/acc", step / 100, step, new_style=True)  # a tensor summary
        writer.add_scalars("lr", {"a": 0.1, "b": 0.2}, step)  # one sub-run directory per key
    writer.add_text("notes", "not a scalar", 0)
    writer.close()
    other = tb_writer.SummaryWriter(str(logdir / "exp2"))
    other.add_scalar("loss", -2.5, -3)  # a negative step
    other.close()

    doc = invoke_json("import", "tensorboard", str(logdir), "--json", store=ledger(tmp_path))
    assert doc["source"] == "tensorboard" and doc["created"] == 4
    runs = ids_by_name(doc)
    assert set(runs) == {"exp1", "exp1/lr_a", "exp1/lr_b", "exp2"}
    got = series(ledger(tmp_path), runs["exp1"])
    assert set(got) == {"train/loss", "val/acc"}
    oracle = accumulated(logdir / "exp1")
    assert len(got["train/loss"]) == len(oracle["train/loss"]) == 10_050
    assert got["train/loss"] == [(s, pytest.approx(v), w) for s, v, w in oracle["train/loss"]]
    assert [(s, v) for s, v, _ in got["val/acc"]] == [(s, pytest.approx(s / 100)) for s in range(0, 100, 10)]
    assert [(s, v) for s, v, _ in series(ledger(tmp_path), runs["exp1/lr_b"])["lr"]] == \
        [(s, pytest.approx(0.2)) for s in range(0, 100, 10)]
    assert [(s, v) for s, v, _ in series(ledger(tmp_path), runs["exp2"])["loss"]] == [(-3, -2.5)]

    show = invoke_json("show", runs["exp1"], "--json", store=ledger(tmp_path))
    assert show["status"] == "finished" and "tensorboard" in show["tags"]
    walls = [w for points in got.values() for _, _, w in points]
    assert show["duration"] == pytest.approx(max(walls) - min(walls), abs=0.01)

    again = invoke_json("import", "tensorboard", str(logdir), "--json", store=ledger(tmp_path))  # idempotent
    assert again["created"] == 0 and again["points"] == 0 and ids_by_name(again) == runs
    assert len(series(ledger(tmp_path), runs["exp1"])["train/loss"]) == 10_050


def test_a_reimport_adds_the_new_points_of_grown_and_new_files(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    writer = tb_writer.SummaryWriter(str(logdir))
    for step in range(5):
        writer.add_scalar("loss", float(step), step)
    writer.flush()
    first = invoke_json("import", "tensorboard", str(logdir), "--name", "live", "--json", store=ledger(tmp_path))
    assert [(r["name"], r["points"]) for r in first["runs"]] == [("live", 5)]
    for step in range(5, 8):
        writer.add_scalar("loss", float(step), step)
    writer.close()
    second = invoke_json("import", "tensorboard", str(logdir), "--json", store=ledger(tmp_path))
    assert [(r["name"], r["created"], r["points"]) for r in second["runs"]] == [("live", False, 3)]
    resumed = tb_writer.SummaryWriter(str(logdir))  # a resumed training: a second file in the directory
    resumed.add_scalar("loss", 8.0, 8)
    resumed.close()
    third = invoke_json("import", "tensorboard", str(logdir), "--json", store=ledger(tmp_path))
    assert third["points"] == 1
    run_id = first["runs"][0]["id"]
    assert [s for s, _, _ in series(ledger(tmp_path), run_id)["loss"]] == list(range(9))


def test_tensor_scalars_written_by_tensorboard_itself(tmp_path: Path) -> None:
    """tf.summary.scalar's shape: a float tensor, the `scalars` plugin named only in the first event
    of a tag; another plugin's one-element tensor is not a scalar."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    def value(tag: str, number: float, plugin: str | None,
              dtype: int = types_pb2.DT_FLOAT) -> summary_pb2.Summary.Value:
        tensor = tensor_pb2.TensorProto(dtype=dtype)
        if dtype == types_pb2.DT_DOUBLE:
            tensor.double_val.append(number)
        else:
            tensor.float_val.append(number)
        meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin)) \
            if plugin else None
        return summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)

    writer = EventFileWriter(str(tmp_path / "tf"))
    for step in range(4):
        first = step == 0
        values = [value("loss", 0.5 * step, "scalars" if first else None),
                  value("precise", 1e-3 * step, "scalars" if first else None, types_pb2.DT_DOUBLE),
                  value("pr_curve", 9.0, "pr_curves" if first else None)]
        writer.add_event(event_pb2.Event(step=step, wall_time=1_700_000_000.0 + step,
                                         summary=summary_pb2.Summary(value=values)))
    writer.close()
    doc = invoke_json("import", "tensorboard", str(tmp_path / "tf"), "--json", store=ledger(tmp_path))
    got = series(ledger(tmp_path), doc["runs"][0]["id"])
    assert set(got) == {"loss", "precise"}
    assert got["loss"] == [(s, 0.5 * s, 1_700_000_000.0 + s) for s in range(4)]
    assert [v for _, v, _ in got["precise"]] == pytest.approx([1e-3 * s for s in range(4)])


def test_a_corrupt_file_imports_nothing_and_a_cut_short_one_imports_what_is_complete(tmp_path: Path) -> None:
    logdir = tmp_path / "runs"
    for name in ("good", "bad"):
        writer = tb_writer.SummaryWriter(str(logdir / name))
        for step in range(20):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.close()
    bad = next((logdir / "bad").iterdir())
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    err = one_line_error(invoke("import", "tensorboard", str(logdir), store=ledger(tmp_path)))
    assert "bad/events.out.tfevents" in err and "nothing imported" in err
    assert invoke_json("ls", "--json", store=ledger(tmp_path))["runs"] == []  # not even the good run

    shutil.rmtree(logdir / "bad")
    cut = next((logdir / "good").iterdir())
    cut.write_bytes(cut.read_bytes()[:-10])  # the writer was mid-flush
    doc = invoke_json("import", "tensorboard", str(logdir), "--json", store=ledger(tmp_path))
    assert doc["points"] == 19


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    one_line_error(invoke("import", "tensorboard", str(tmp_path / "nowhere"), store=ledger(tmp_path)))
    (tmp_path / "empty").mkdir()
    err = one_line_error(invoke("import", "tensorboard", str(tmp_path / "empty"), store=ledger(tmp_path)))
    assert "no TensorBoard event files" in err


SCRIPT = textwrap.dedent("""\
    import sys, time
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter("tb_logs")      # created after `gatebook run` started
    for epoch in range(1, 30):
        writer.add_scalar("val_acc", 0.1 * epoch, epoch)
        writer.flush()
        print(f"epoch {epoch}", flush=True)
        time.sleep(0.3)
    print("training complete", flush=True)
    """)


def test_run_watch_logdir_gives_live_gates_to_a_summarywriter_script(tmp_path: Path) -> None:
    (tmp_path / "gatebook.yaml").write_text(textwrap.dedent("""\
        gates:
          early:
            on_fail: stop
            checks: ["val_acc >= 0.9 @ step 3"]
        """))
    write_script(tmp_path, "train.py", SCRIPT)
    old = tmp_path / "tb_logs" / "events.out.tfevents.1.oldhost.1.0"  # an earlier run's file: not read
    old.parent.mkdir()
    writer = tb_writer.SummaryWriter(str(tmp_path / "old"))
    writer.add_scalar("val_acc", 0.99, 3)
    writer.close()
    shutil.move(str(next((tmp_path / "old").iterdir())), old)
    started = time.time()
    proc = gb("run", "--name", "tb", "--gate", "early", "--watch", "tb_logs", "--json", "--", PY, "train.py",
              cwd=tmp_path, timeout=120)
    assert "training complete" not in proc.stdout
    end = json.loads(proc.stdout.strip().splitlines()[-1])
    assert end["stopped_by"] == "gate early" and 3 <= end["points"] < 29, end
    assert time.time() - started < 60
    show = invoke_json("show", "tb", "--json", cwd=tmp_path)
    assert show["status"] == "stopped"
    points = series(f"sqlite:///{tmp_path}/.gatebook/ledger.db", show["id"])["val_acc"]
    assert [(s, round(v, 4)) for s, v, _ in points][:3] == [(1, 0.1), (2, 0.2), (3, 0.3)]  # not the old 0.99


def test_the_watch_follower_reads_every_event_file_as_it_grows(tmp_path: Path) -> None:
    from gatebook.ingest.watch import PendingFollower, watch_follower

    follower = watch_follower("tb", tmp_path, since=time.time() - 1)
    assert isinstance(follower, PendingFollower) and follower.poll() == []  # not there yet
    writer = tb_writer.SummaryWriter(str(tmp_path / "tb"))
    writer.add_scalar("loss", 0.5, 1)
    writer.add_scalars("lr", {"a": 0.1}, 1)
    writer.flush()
    for sub in writer.all_writers.values():
        sub.flush()
    assert sorted(follower.poll()) == [("loss", 1, 0.5), ("lr_a/lr", 1, pytest.approx(0.1))]
    writer.add_scalar("loss", 0.25, 2)
    writer.flush()
    assert follower.poll() == [("loss", 2, 0.25)]
    writer.close()
    path = next((tmp_path / "tb").glob("events.out.tfevents.*"))
    with open(path, "ab") as f:  # a damaged record after the good ones
        f.write(b"\x05" + b"\x00" * 7 + b"junk" + b"12345" + b"abcd")
    assert follower.close() == []
    assert len(follower.errors) == 1 and "no longer read" in follower.errors[0]
    glob = watch_follower("tb/*/events.out.tfevents.*", tmp_path)  # a glob: keys are the tags
    assert glob.poll() == [("lr", 1, pytest.approx(0.1))] and glob.errors == []
