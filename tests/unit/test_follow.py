"""FileFollower: following files a training process writes (real files, no mocks)."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatebook.errors import UsageError
from gatebook.ingest.follow import STALE_POLLS, FileFollower, sniff_format
from gatebook.ingest.stdout import Point
from gatebook.ingest.watch import GlobFollower, check_watch, watch_follower


def norm(points: list[Point]) -> list[tuple[str, int | None, Any]]:
    """Points comparable with ==: NaN becomes the string "nan"."""
    return [(k, s, "nan" if math.isnan(v) else v) for k, s, v in points]


def write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:  # in place: same inode, like json.dump does
        fh.write(text)


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


# -- json: a history list rewritten each epoch -------------------------------------------------


def test_history_json_rewritten_each_epoch_gives_only_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    follower = FileFollower(path)
    assert follower.fmt == "json"
    history: list[dict[str, Any]] = []
    for epoch in range(3):
        history.append({"epoch": epoch, "loss": 1.0 / (epoch + 1), "lr": {"group0": 0.1}})
        with open(path, "w") as fh:
            json.dump(history, fh)
        assert follower.poll() == [("epoch", epoch, float(epoch)), ("loss", epoch, 1.0 / (epoch + 1)),
                                   ("lr.group0", epoch, 0.1)]
        assert follower.poll() == []
    assert follower.errors == []


def test_half_written_json_waits_then_gives_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    full = json.dumps([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": float("nan")}])
    write(path, full[: len(full) // 2])
    follower = FileFollower(path)
    assert follower.poll() == []
    for _ in range(STALE_POLLS - 1):
        assert follower.poll() == []
    assert follower.errors == []  # half-written is normal until it stays so
    assert follower.poll() == []
    assert len(follower.errors) == 1 and "not valid JSON" in follower.errors[0]
    assert follower.poll() == [] and len(follower.errors) == 1  # once
    write(path, full)
    assert norm(follower.poll()) == [("epoch", 1, 1.0), ("loss", 1, 0.5), ("epoch", 2, 2.0), ("loss", 2, "nan")]
    assert len(follower.errors) == 1


def test_empty_json_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    write(path, "")
    follower = FileFollower(path)
    for _ in range(STALE_POLLS + 2):
        assert follower.poll() == []
    assert follower.close() == [] and follower.errors == []


def test_json_still_broken_at_close_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    write(path, '[{"loss": 1}, {"lo')
    follower = FileFollower(path)
    assert follower.poll() == [] and follower.errors == []
    assert follower.close() == []
    assert len(follower.errors) == 1


def test_keras_dict_of_lists(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    write(path, json.dumps({"loss": [1.0, 0.5], "val_loss": [1.2, 0.6]}))
    follower = FileFollower(path)
    assert follower.poll() == [("loss", 1, 1.0), ("val_loss", 1, 1.2), ("loss", 2, 0.5), ("val_loss", 2, 0.6)]
    write(path, json.dumps({"loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.6, 0.3], "epoch": [0, 1, 2]}))
    assert follower.poll() == [("loss", 2, 0.25), ("val_loss", 2, 0.3), ("epoch", 2, 2.0)]


def test_json_list_that_shrank_follows_the_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    write(path, json.dumps([{"loss": 3}, {"loss": 2}, {"loss": 1}]))
    follower = FileFollower(path)
    assert len(follower.poll()) == 3
    write(path, json.dumps([{"loss": 9}]))
    assert follower.poll() == []
    assert follower.errors == ["history.json has fewer rows than before (1 < 3); following the new rows"]
    write(path, json.dumps([{"loss": 9}, {"loss": 8}]))
    assert follower.poll() == [("loss", 2, 8.0)]


def test_json_bad_rows_and_shapes_are_errors_not_exceptions(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    write(path, json.dumps([{"loss": 1}, 5, {"loss": 2, "note": "x", "ok": True, "hist": [1, 2]}]))
    follower = FileFollower(path)
    assert follower.poll() == [("loss", 1, 1.0), ("loss", 3, 2.0), ("ok", 3, 1.0)]
    assert len(follower.errors) == 1 and "row 2" in follower.errors[0]
    write(path, json.dumps("not a history"))
    assert follower.poll() == [] and len(follower.errors) == 2


def test_unchanged_json_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    write(path, json.dumps([{"loss": 1}]))
    follower = FileFollower(path)
    assert len(follower.poll()) == 1
    before = os.stat(path)
    write(path, json.dumps([{"loss": 1}, 7])[: before.st_size])  # same size, other text
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert follower.poll() == [] and follower.errors == []  # stat only: nothing read


# -- jsonl -------------------------------------------------------------------------------------


def test_jsonl_partial_line_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    write(path, '{"step": 1, "loss": 0.5}\n{"step": 2, "lo')
    follower = FileFollower(path)
    assert follower.poll() == [("loss", 1, 0.5)]
    assert follower.poll() == []
    append(path, 'ss": 0.25}\n{"loss": 0.125}\n')
    assert follower.poll() == [("loss", 2, 0.25), ("loss", 3, 0.125)]  # no step: line number


def test_jsonl_steps_nesting_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.ndjson"
    write(path, '{"global_step": 10, "loss": 1, "val": {"acc": 0.9}, "tag": "a", "x": null}\n'
                'oops\n[1]\n\n{"epoch": 2, "iteration": 7, "acc": NaN}\n')
    follower = FileFollower(path)
    assert norm(follower.poll()) == [("global_step", 10, 10.0), ("loss", 10, 1.0), ("val.acc", 10, 0.9),
                                     ("epoch", 2, 2.0), ("iteration", 2, 7.0), ("acc", 2, "nan")]
    assert len(follower.errors) == 2
    assert "line 2: not JSON" in follower.errors[0] and "line 3: not a JSON object" in follower.errors[1]


def test_jsonl_truncated_restarts(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    write(path, '{"step": 1, "loss": 1}\n{"step": 2, "loss": 2}\n{"step": 3, "loss": 3}\n')
    follower = FileFollower(path)
    assert len(follower.poll()) == 3
    write(path, '{"step": 1, "loss": 9}\n')  # a new run truncated the file
    assert follower.poll() == [("loss", 1, 9.0)]
    append(path, '{"step": 2, "loss": 8}\n')
    assert follower.poll() == [("loss", 2, 8.0)]


def test_jsonl_rotated_restarts(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    write(path, '{"step": 1, "loss": 1}\n{"step": 2, "loss": 2}\n')
    follower = FileFollower(path)
    assert len(follower.poll()) == 2
    os.rename(path, tmp_path / "metrics.jsonl.1")
    assert follower.poll() == []  # gone for now: not an error
    write(path, '{"step": 1, "loss": 7}\n{"step": 2, "loss": 6}\n{"step": 3, "loss": 5}\n')
    assert follower.poll() == [("loss", 1, 7.0), ("loss", 2, 6.0), ("loss", 3, 5.0)]
    assert follower.errors == []


def test_jsonl_rewritten_whole_gives_no_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    rows = [json.dumps({"step": i, "loss": 1 / i}) + "\n" for i in range(1, 5)]
    write(path, "".join(rows[:2]))
    follower = FileFollower(path)
    assert len(follower.poll()) == 2
    write(path, rows[0])  # caught mid-rewrite: shorter, same start
    assert follower.poll() == []
    write(path, "".join(rows))
    assert follower.poll() == [("loss", 3, 1 / 3), ("loss", 4, 0.25)]
    assert follower.errors == []


# -- csv ---------------------------------------------------------------------------------------


def test_csv_header_strings_empty_cells_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    write(path, "epoch,time,loss,val_loss\n0,2024-01-01T00:00,0.9,\n")
    follower = FileFollower(path)
    assert follower.poll() == [("epoch", 0, 0.0), ("loss", 0, 0.9)]
    append(path, "1,2024-01-01T00:01,nan,NaN\n2,x,0.5,0.4")
    assert norm(follower.poll()) == [("epoch", 1, 1.0), ("loss", 1, "nan"), ("val_loss", 1, "nan")]
    assert follower.close() == [("epoch", 2, 2.0), ("loss", 2, 0.5), ("val_loss", 2, 0.4)]
    assert follower.errors == []


def test_csv_step_column_and_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    write(path, "epoch,step,train_loss\n0,49,0.5\n")
    assert FileFollower(path).poll() == [("epoch", 49, 0.0), ("train_loss", 49, 0.5)]
    write(path, "loss,acc\n0.5,0.1\r\n0.4,0.2\r\n")
    assert FileFollower(path).poll() == [("loss", 1, 0.5), ("acc", 1, 0.1), ("loss", 2, 0.4), ("acc", 2, 0.2)]


def test_csv_incomplete_header_waits(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    write(path, "epoch,lo")
    follower = FileFollower(path)
    assert follower.poll() == []
    append(path, "ss\n0,1.5\n")
    assert follower.poll() == [("epoch", 0, 0.0), ("loss", 0, 1.5)]


def test_csv_rewritten_with_a_wider_header_gives_only_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"  # what Lightning's CSVLogger does when a metric appears
    write(path, "epoch,step,loss\n0,9,0.5\n")
    follower = FileFollower(path)
    assert len(follower.poll()) == 2
    write(path, "epoch,step,loss,val_loss\n0,9,0.5,\n0,9,,0.7\n")
    assert follower.poll() == [("epoch", 9, 0.0), ("val_loss", 9, 0.7)]


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "metrics.tsv"
    write(path, "epoch\tloss\tnote\n1\t0.25\tok, fine\n")
    follower = FileFollower(path)
    assert follower.fmt == "csv"
    assert follower.poll() == [("epoch", 1, 1.0), ("loss", 1, 0.25)]


# -- log ---------------------------------------------------------------------------------------


def test_log_file_prefixed_json_and_kv(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    write(path, 'starting\ngatebook: {"loss": 1, "step": 2}\nepoch=3 acc=91.5%\ngatebook: {bad\n')
    follower = FileFollower(path, kv=True)
    assert follower.poll() == [("loss", 2, 1.0), ("epoch", 3, 3.0), ("acc", 3, 91.5)]
    assert len(follower.errors) == 1 and follower.errors[0].startswith("train.log: not JSON")
    append(path, "epoch=4 loss=0.5")
    assert follower.poll() == []
    assert follower.close() == [("epoch", 4, 4.0), ("loss", 4, 0.5)]


def test_log_regexes_and_custom_prefix(tmp_path: Path) -> None:
    path = tmp_path / "train.out"
    write(path, "Epoch 4/10 val_loss: 0.125\nmetrics> {\"lr\": 0.01}\n")
    follower = FileFollower(path, prefix="metrics>",
                            regexes=[r"Epoch (?P<epoch>\d+)/\d+ val_loss: (?P<val_loss>[\d.]+)"])
    assert follower.poll() == [("lr", None, 0.01), ("epoch", 4, 4.0), ("val_loss", 4, 0.125)]


# -- detection, missing and unreadable files ---------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [
    ("h.json", "json"), ("m.jsonl", "jsonl"), ("m.NDJSON", "jsonl"), ("m.csv", "csv"), ("m.tsv", "csv"),
    ("t.log", "log"), ("t.txt", "log"), ("slurm-1.out", "log"), ("metrics", None), ("m.dat", None),
])
def test_format_from_suffix(tmp_path: Path, name: str, fmt: str | None) -> None:
    assert FileFollower(tmp_path / name).fmt == fmt


@pytest.mark.parametrize(("text", "fmt", "points"), [
    (' \n[{"epoch": 1, "loss": 2}]', "json", [("epoch", 1, 1.0), ("loss", 1, 2.0)]),
    ('{"step": 3, "loss": 2}\n', "jsonl", [("loss", 3, 2.0)]),
    ("epoch,loss\n1,2\n", "csv", [("epoch", 1, 1.0), ("loss", 1, 2.0)]),
    ("Epoch 1 done\n", "log", []),
    ('gatebook: {"loss": 1, "step": 2}\n', "log", [("loss", 2, 1.0)]),
    ("[INFO] epoch 1, loss 2\n", "log", []),
    ("Epoch 1, loss 2\n", "log", []),
    (" epoch , val loss\n", "log", []),
    ("loss\tacc\n1\t2\n", "csv", [("loss", 1, 1.0), ("acc", 1, 2.0)]),
])
def test_format_from_content(tmp_path: Path, text: str, fmt: str, points: list[Point]) -> None:
    path = tmp_path / "metrics.dat"
    write(path, text)
    follower = FileFollower(path)
    assert follower.poll() == points
    assert follower.fmt == fmt


def test_content_detection_waits_for_a_complete_first_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    write(path, "loss,acc")
    follower = FileFollower(path)
    assert follower.poll() == [] and follower.fmt is None
    append(path, "\n0.5,0.25")
    assert follower.poll() == [] and follower.fmt == "csv"
    assert follower.close() == [("loss", 1, 0.5), ("acc", 1, 0.25)]
    assert sniff_format("[") is None and sniff_format("[", complete=True) == "log"


def test_missing_file_then_appearing(tmp_path: Path) -> None:
    path = tmp_path / "out" / "metrics.jsonl"
    follower = FileFollower(path)
    for _ in range(3):
        assert follower.poll() == []
    path.parent.mkdir()
    write(path, '{"loss": 1}\n')
    assert follower.poll() == [("loss", 1, 1.0)]
    assert follower.errors == []


def test_directory_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.mkdir()
    follower = FileFollower(path)
    for _ in range(5):
        assert follower.poll() == []
    assert len(follower.errors) == 1 and "directory" in follower.errors[0]
    path.rmdir()
    write(path, '{"loss": 1}\n')
    assert follower.poll() == [("loss", 1, 1.0)] and len(follower.errors) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_is_reported_once_and_never_opened(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    os.mkfifo(path)  # opening it would block until a writer comes
    follower = FileFollower(path)
    for _ in range(3):
        assert follower.poll() == []
    assert follower.close() == []
    assert len(follower.errors) == 1 and "not a regular file" in follower.errors[0]


@contextlib.contextmanager
def file_modes_bind_root() -> Iterator[None]:
    """Root reads any file: its CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH capabilities skip
    the mode checks. As root (CI), this drops both from the calling thread's effective set
    (capset(2) is per thread) for the body and raises them again after, so a mode-0 file
    cannot be opened, as for any other user; root stays uid 0, owns the files it made and
    may chmod them back. For another user modes apply anyway: nothing to do."""
    if os.geteuid() != 0:
        yield
        return
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3, this thread
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    saved = data[0].effective
    data[0].effective &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(header), data) == 0, "could not restore the capabilities"


def test_unreadable_file_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    write(path, '{"loss": 1}\n')
    path.chmod(0)
    with file_modes_bind_root():
        with pytest.raises(PermissionError):
            os.open(path, os.O_RDONLY)  # the premise, for root too
        assert os.stat(path).st_size > 0  # the stat passes: it is the open that fails
        follower = FileFollower(path)
        for _ in range(3):
            assert follower.poll() == []
        assert follower.close() == []
        assert follower.errors == [f"cannot read {path}: Permission denied"]
        path.chmod(0o644)
        append(path, '{"loss": 2}\n')
        assert follower.poll() == [("loss", 1, 1.0), ("loss", 2, 2.0)]
        assert len(follower.errors) == 1


def test_bad_arguments_raise_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        FileFollower(tmp_path / "x", fmt="yaml")
    from gatebook.errors import ConfigError

    with pytest.raises(ConfigError):
        FileFollower(tmp_path / "x.log", regexes=["no group"])


@pytest.mark.parametrize(("name", "text"), [
    ("m.jsonl", '{"step": 1, "loss": 0.5}\n{"loss": 2}\n{"epoch": 3, "acc": 1}'),
    ("m.csv", "epoch,loss\n0,0.5\n1,\n2,0.25"),
    ("m.log", 'gatebook: {"loss": 1}\nx\ngatebook: {"step": 5, "loss": 2}'),
])
def test_close_consumes_the_last_unterminated_line(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    write(path, text)
    follower = FileFollower(path)
    polled = follower.poll()
    last = follower.close()
    assert len(last) >= 1
    write(tmp_path / ("whole-" + name), text + "\n")
    assert polled + last == FileFollower(tmp_path / ("whole-" + name)).poll()
    assert follower.close() == []


# -- chunked writes give the same points as the whole file -------------------------------------

_values = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans(), st.none(), st.text(max_size=5))
_rows = st.one_of(
    st.dictionaries(st.sampled_from(["step", "epoch", "loss", "acc", "größe", "val"]),
                    st.one_of(_values, st.dictionaries(st.sampled_from(["a", "b"]), _values, max_size=2)),
                    max_size=4).map(json.dumps),
    st.sampled_from(["", "not json", "[1, 2]", "{\"loss\": 1"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_rows, max_size=8), trailing_newline=st.booleans(), data=st.data())
def test_jsonl_in_random_chunks_gives_the_points_of_the_whole_file(
        lines: list[str], trailing_newline: bool, data: st.DataObject) -> None:
    content = ("\n".join(lines) + ("\n" if trailing_newline and lines else "")).encode("utf-8")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(content)), max_size=8), label="cuts"))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "whole").mkdir()
        whole_path, chunked_path = Path(tmp) / "whole" / "m.jsonl", Path(tmp) / "m.jsonl"
        whole_path.write_bytes(content)
        whole = FileFollower(whole_path)
        expected = whole.poll() + whole.close()

        chunked_path.write_bytes(b"")
        chunked = FileFollower(chunked_path)
        got: list[Point] = []
        for start, end in zip([0, *cuts], [*cuts, len(content)], strict=False):
            with open(chunked_path, "ab") as fh:
                fh.write(content[start:end])
            got += chunked.poll()
        got += chunked.close()
    assert norm(got) == norm(expected)
    assert chunked.errors == whole.errors


def test_a_file_left_by_an_earlier_run_is_not_this_runs(tmp_path: Path) -> None:
    import time as _time

    hist = tmp_path / "history.json"
    hist.write_text(json.dumps([{"epoch": 1, "acc": 0.1}, {"epoch": 2, "acc": 0.2}]))
    log = tmp_path / "train.jsonl"
    log.write_text('{"step": 1, "loss": 9}\n')
    old = _time.time() - 60
    os.utime(hist, (old, old))
    os.utime(log, (old, old))
    since = _time.time()
    fh, fl = FileFollower(hist, since=since), FileFollower(log, since=since)
    assert fh.poll() == [] and fl.poll() == []
    hist.write_text(json.dumps([{"epoch": 1, "acc": 0.5}]))  # the new run rewrites it from scratch
    with log.open("a") as f:
        f.write('{"step": 2, "loss": 1}\n')
    assert sorted(fh.poll()) == [("acc", 1, 0.5), ("epoch", 1, 1.0)]
    assert fl.poll() == [("loss", 2, 1.0)]


# -- Hugging Face trainer_state.json -----------------------------------------------------------


def trainer_state(entries: list[dict[str, Any]]) -> str:
    """A trainer_state.json as Trainer writes it (json.dumps(indent=2, sort_keys=True))."""
    last = entries[-1] if entries else {}
    state = {"best_metric": None, "best_model_checkpoint": None, "epoch": last.get("epoch", 0),
             "eval_steps": 20, "global_step": last.get("step", 0), "is_hyper_param_search": False,
             "is_local_process_zero": True, "is_world_process_zero": True, "log_history": entries,
             "logging_steps": 10, "max_steps": 40, "num_train_epochs": 2, "save_steps": 20,
             "stateful_callbacks": {"TrainerControl": {"args": {"should_save": True}, "attributes": {}}},
             "total_flos": 1.2e12, "train_batch_size": 8, "trial_name": None, "trial_params": None}
    return json.dumps(state, indent=2, sort_keys=True) + "\n"


HF_LOG = [
    {"epoch": 0.5, "grad_norm": 3.5, "learning_rate": 4e-05, "loss": 0.9, "step": 10},
    {"epoch": 1.0, "grad_norm": 2.5, "learning_rate": 3e-05, "loss": 0.7, "step": 20},
    {"epoch": 1.0, "eval_accuracy": 0.6, "eval_loss": 0.65, "eval_runtime": 1.2, "step": 20},
    {"epoch": 1.5, "grad_norm": 2.0, "learning_rate": 2e-05, "loss": 0.5, "step": 30},
    {"epoch": 2.0, "grad_norm": 1.5, "learning_rate": 1e-05, "loss": 0.4, "step": 40},
    {"epoch": 2.0, "eval_accuracy": 0.8, "eval_loss": 0.45, "eval_runtime": 1.1, "step": 40},
    {"epoch": 2.0, "step": 40, "total_flos": 1.2e12, "train_loss": 0.62, "train_runtime": 9.5},
]


def by_key(points: list[Point]) -> dict[str, list[tuple[int | None, float]]]:
    out: dict[str, list[tuple[int | None, float]]] = {}
    for key, step, value in points:
        out.setdefault(key, []).append((step, value))
    return out


def test_trainer_state_entries_are_at_their_own_step(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    write(path, trainer_state(HF_LOG[:3]))
    follower = FileFollower(path)
    first = by_key(follower.poll())
    assert first["loss"] == [(10, 0.9), (20, 0.7)]  # the entry's step, not its row number
    assert first["eval_loss"] == [(20, 0.65)] and first["eval_accuracy"] == [(20, 0.6)]
    assert first["epoch"] == [(10, 0.5), (20, 1.0), (20, 1.0)]  # epoch is a metric (fractional)
    assert "step" not in first and "global_step" not in first and "log_history.loss" not in first
    write(path, trainer_state(HF_LOG))  # rewritten whole at the next save
    rest = by_key(follower.poll())
    assert rest["loss"] == [(30, 0.5), (40, 0.4)]
    assert rest["eval_loss"] == [(40, 0.45)] and rest["train_loss"] == [(40, 0.62)]
    assert follower.poll() == [] and follower.errors == []


def test_trainer_state_entry_without_step_or_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    write(path, trainer_state([{"loss": 1.0}, "oops", {"loss": 0.5, "step": 7}]))
    follower = FileFollower(path)
    assert follower.poll() == [("loss", 1, 1.0), ("loss", 7, 0.5)]  # no step: its 1-based number
    write(path, trainer_state([{"loss": 1.0}, "oops", {"loss": 0.5, "step": 7}, {"loss": 0.25, "step": 8}]))
    assert follower.poll() == [("loss", 8, 0.25)]
    assert len(follower.errors) == 1 and "row 2 is not an object" in follower.errors[0]  # once


def test_trainer_state_checkpoints_glob_gives_each_entry_once(tmp_path: Path) -> None:
    # Trainer saves output_dir/checkpoint-N/trainer_state.json, each repeating the log so far,
    # and deletes older checkpoints (save_total_limit=1)
    out = tmp_path / "out"
    follower = GlobFollower(tmp_path, "out/checkpoint-*/trainer_state.json", rescan=0)
    assert follower.poll() == []
    (out / "checkpoint-20").mkdir(parents=True)
    write(out / "checkpoint-20" / "trainer_state.json", trainer_state(HF_LOG[:3]))
    got = follower.poll()
    assert by_key(got)["loss"] == [(10, 0.9), (20, 0.7)]
    (out / "checkpoint-40").mkdir()
    write(out / "checkpoint-40" / "trainer_state.json", trainer_state(HF_LOG[:6]))
    later = time.time() + 5
    os.utime(out / "checkpoint-40" / "trainer_state.json", (later, later))
    shutil.rmtree(out / "checkpoint-20")
    got += follower.poll()
    assert follower.path == out / "checkpoint-40" / "trainer_state.json"
    write(out / "checkpoint-40" / "trainer_state.json", trainer_state(HF_LOG))  # the final save
    got += follower.close()
    assert sorted(got) == sorted(p for p in hf_points(HF_LOG))  # each entry's points once
    assert follower.errors == []


def hf_points(entries: list[dict[str, Any]]) -> list[Point]:
    return [(k, e["step"], float(v)) for e in entries for k, v in e.items() if k != "step"]


# -- globs: the newest match -------------------------------------------------------------------


def lightning_csv(path: Path, rows: list[dict[str, Any]], *, mode: str = "a") -> None:
    """Rows as Lightning's CSVLogger writes them: csv.DictWriter ("\\r\\n" line ends), sorted keys,
    empty cells where a row lacks a metric, the header when the file is new."""
    keys = ["epoch", "step", "train_loss", "val_loss"]
    new = mode == "w" or not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def test_lightning_metrics_csv_sparse_rows(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    lightning_csv(path, [{"epoch": 0, "step": 49, "train_loss": 0.9}, {"epoch": 0, "step": 99, "train_loss": 0.7},
                         {"epoch": 0, "step": 99, "val_loss": 0.8}])
    assert path.read_bytes().startswith(b"epoch,step,train_loss,val_loss\r\n0,49,0.9,\r\n")
    assert FileFollower(path).poll() == [("epoch", 49, 0.0), ("train_loss", 49, 0.9), ("epoch", 99, 0.0),
                                         ("train_loss", 99, 0.7), ("epoch", 99, 0.0), ("val_loss", 99, 0.8)]


def test_glob_follows_a_file_that_appears_then_a_newer_one(tmp_path: Path) -> None:
    logs = tmp_path / "lightning_logs"
    lightning_csv(logs / "version_0" / "metrics.csv", [{"epoch": 0, "step": 9, "train_loss": 5.0}])
    old = time.time() - 3600
    os.utime(logs / "version_0" / "metrics.csv", (old, old))  # an earlier run's
    follower = GlobFollower(tmp_path, "lightning_logs/version_*/metrics.csv", since=time.time(), rescan=0)
    assert follower.poll() == [] and follower.path is None
    v1 = logs / "version_1" / "metrics.csv"
    lightning_csv(v1, [{"epoch": 0, "step": 9, "train_loss": 0.9}])
    assert follower.poll() == [("epoch", 9, 0.0), ("train_loss", 9, 0.9)]
    assert follower.path == v1
    lightning_csv(v1, [{"epoch": 0, "step": 9, "val_loss": 0.8}])  # its last row, not polled yet
    v2 = logs / "version_2" / "metrics.csv"
    lightning_csv(v2, [{"epoch": 0, "step": 19, "train_loss": 0.6}])
    later = time.time() + 5
    os.utime(v2, (later, later))
    assert follower.poll() == [("epoch", 9, 0.0), ("val_loss", 9, 0.8), ("epoch", 19, 0.0), ("train_loss", 19, 0.6)]
    assert follower.path == v2
    lightning_csv(v2, [{"epoch": 1, "step": 29, "train_loss": 0.5}])
    assert follower.close() == [("epoch", 29, 1.0), ("train_loss", 29, 0.5)]
    assert follower.errors == []


def test_glob_reads_a_file_overtaken_between_two_scans_and_never_twice(tmp_path: Path) -> None:
    follower = GlobFollower(tmp_path, "run*/m.jsonl", rescan=0)
    (tmp_path / "run1").mkdir()
    (tmp_path / "run2").mkdir()
    write(tmp_path / "run1" / "m.jsonl", '{"step": 1, "loss": 1}\n')
    write(tmp_path / "run2" / "m.jsonl", '{"step": 2, "loss": 2}\n')
    os.utime(tmp_path / "run1" / "m.jsonl", (time.time() - 10, time.time() - 10))
    assert follower.poll() == [("loss", 1, 1.0), ("loss", 2, 2.0)]  # both written during the run
    append(tmp_path / "run1" / "m.jsonl", '{"step": 3, "loss": 3}\n')  # run1 is the newest again
    os.utime(tmp_path / "run1" / "m.jsonl", (time.time() + 10, time.time() + 10))
    assert follower.poll() == [("loss", 3, 3.0)]  # read on from where it was left
    assert follower.close() == []


def test_glob_file_of_an_earlier_run_counts_once_changed_and_only_its_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "train.jsonl"
    path.parent.mkdir()
    write(path, '{"step": 1, "loss": 9}\n{"step": 2, "loss": 8}\n')
    os.utime(path, (time.time() - 60, time.time() - 60))
    follower = GlobFollower(tmp_path, "**/*.jsonl", since=time.time(), rescan=0)
    assert follower.poll() == []
    append(path, '{"step": 3, "loss": 1}\n')
    assert follower.poll() == [("loss", 3, 1.0)]
    assert follower.close() == [] and follower.errors == []


def test_glob_double_star_matches_any_depth_and_only_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "dir.csv").mkdir()  # a directory that matches: not followed
    write(tmp_path / "top.csv", "loss\n1\n")
    write(tmp_path / "a" / "b" / "deep.csv", "loss\n2\n")
    os.utime(tmp_path / "top.csv", (time.time() - 10, time.time() - 10))
    follower = GlobFollower(tmp_path, "**/*.csv", rescan=0)
    assert follower.poll() == [("loss", 1, 1.0), ("loss", 1, 2.0)]
    assert follower.path == tmp_path / "a" / "b" / "deep.csv"
    assert follower.close() == [] and follower.errors == []


def test_glob_scans_at_most_once_per_rescan_interval(tmp_path: Path) -> None:
    follower = GlobFollower(tmp_path, "*.jsonl", rescan=3600)
    assert follower.poll() == []  # the first poll scans
    write(tmp_path / "m.jsonl", '{"loss": 1}\n')
    assert follower.poll() == []  # not scanned again yet
    assert follower.close() == [("loss", 1, 1.0)]  # the end always scans


def test_glob_that_never_matched_is_said_at_the_end(tmp_path: Path) -> None:
    follower = GlobFollower(tmp_path, "lightning_logs/version_*/metrics.csv", rescan=0)
    assert follower.poll() == [] and follower.errors == []  # not yet: the command may write it later
    assert follower.close() == [] and follower.close() == []
    assert follower.errors == [f"no file written during the run matches 'lightning_logs/version_*/metrics.csv' "
                               f"(in {tmp_path})"]


@pytest.mark.parametrize(("value", "message"), [
    ("", "empty"), ("  ", "empty"), ("/abs/*.csv", "relative"), ("~/out/*.csv", "relative"),
    ("../out/*.csv", "climb out"), ("a/../../*.csv", "climb out"), ("**/../*.csv", "climb out"),
    ("logs/**.csv", "whole path component"), ("logs/*/", "end with a file name"), ("logs/**", "end with a file name"),
])
def test_watch_values_that_cannot_be_followed(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_watch(value)


@pytest.mark.parametrize("value", [
    "history.json", "/abs/history.json", "../elsewhere/metrics.csv", "~/x.jsonl",  # plain paths: as before
    "lightning_logs/version_*/metrics.csv", "out/**/trainer_state.json", "a/../b/*.csv", "./m[0-9].csv",
])
def test_watch_values_accepted(value: str) -> None:
    check_watch(value)


def test_watch_follower_plain_path_or_glob(tmp_path: Path) -> None:
    plain = watch_follower("sub/../history.json", tmp_path)
    assert isinstance(plain, FileFollower) and plain.path == tmp_path / "sub/../history.json"
    assert isinstance(watch_follower(str(tmp_path / "h.json"), "/elsewhere"), FileFollower)
    assert isinstance(watch_follower("v_*/m.csv", tmp_path), GlobFollower)
    from gatebook.errors import ConfigError

    with pytest.raises(ConfigError):
        watch_follower("v_*/m.log", tmp_path, regexes=["no group"])
