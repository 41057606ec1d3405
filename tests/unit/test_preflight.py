"""Preflight checks (gatebook.preflight) and the preflight: config section."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from gatebook.errors import ConfigError
from gatebook.placeholders import MissingParams
from gatebook.preflight import (
    check_command,
    check_free_disk,
    check_git_clean,
    check_gpu,
    check_name,
    check_path_exists,
    command_values,
    fill,
    fill_command,
    placeholders,
    run_preflight,
    visible_gpus,
)
from gatebook.project_config import PreflightCheck, load_project_config
from tests.helpers import git, wait_for

PY = sys.executable
A100 = {"index": 0, "name": "NVIDIA A100", "memory_mb": 40960, "driver": "535"}
H100 = {"index": 1, "name": "NVIDIA H100", "memory_mb": 81920, "driver": "535"}


# -- templates and params -----------------------------------------------------------------------


def test_placeholders_and_fill() -> None:
    assert placeholders("models/{run}/{ckpt}.pt and {run} {{literal}} {} {1x} {a b}") == ["run", "ckpt"]
    assert fill("models/{run}/{ckpt}.pt {{x}}", {"run": "r1", "ckpt": "best"}) == "models/r1/best.pt {x}"
    assert fill("{checkpoint-path}", {"checkpoint_path": "c.pt"}) == "c.pt"
    assert fill("{optim.lr}", {"optim.lr": "1e-3"}) == "1e-3"
    assert fill("no placeholders {} {\"a\": 1}", {}) == "no placeholders {} {\"a\": 1}"
    with pytest.raises(MissingParams) as info:
        fill("{a}/{b}/{a}/{c}", {"b": "x"})
    assert info.value.names == ["a", "c"]


def test_malformed_braces_stay_text_and_every_missing_name_is_named() -> None:
    """Preflight templates parse leniently: a brace that starts no {param} is text, never an error."""
    for template in ("{}", "{a b}", "{1x}", "lone } and { here", "{a", "a}", '{"a": 1}', "{-x}"):
        assert fill(template, {}) == template
    assert fill("{{a}", {"a": "A"}) == "{a}"  # "{{" is a literal brace, then text
    assert fill("{a{b}", {"b": "B"}) == "{aB"
    assert placeholders("{a{b} {}") == ["b"]
    assert fill_command("python -c 'print({})' {x} {{y}}", {"x": "1"}) == ["python", "-c", "print({})", "1", "{y}"]
    with pytest.raises(MissingParams) as info:
        fill_command("run {a} --b {b-c} {a}", {})
    assert info.value.names == ["a", "b-c"]  # every word's missing names, not only the first word's


def test_command_values_keep_the_text_as_typed(tmp_path: Path) -> None:
    argv = ["python", "train.py", "--lr", "1e-3", "--epochs=010", "--dry-run", "-v", "--checkpoint-path",
            "out/m.pt", "--shift", "-1", "--", "--after", "x"]
    assert command_values(argv) == {"lr": "1e-3", "epochs": "010", "dry_run": "true",
                                    "checkpoint_path": "out/m.pt", "shift": "-1"}
    config = tmp_path / "c.yaml"
    config.write_text("optim: {lr: 0.01}\nckpt: from-config\nflag: true\nepochs: 5\n")
    values = command_values(["python", "t.py", "--ckpt", "from-argv"], config)
    assert values == {"optim.lr": "0.01", "ckpt": "from-argv", "flag": "true", "epochs": "5"}
    with pytest.raises(ConfigError):
        command_values(["python"], tmp_path / "missing.yaml")


def test_check_names() -> None:
    assert check_name(PreflightCheck(path_exists="out/{ckpt}")) == "path_exists: out/{ckpt}"
    assert check_name(PreflightCheck(free_disk_gb=20)) == "free_disk_gb: 20"
    assert check_name(PreflightCheck(free_disk_gb=0.5, path="/data")) == "free_disk_gb: 0.5 (at /data)"
    assert check_name(PreflightCheck(gpu=True)) == "gpu: true"
    assert check_name(PreflightCheck(gpu=False)) == "gpu: false"
    assert check_name(PreflightCheck(git_clean=True, name="clean tree")) == "clean tree"
    assert check_name(PreflightCheck(command="python x.py")) == "command: python x.py"


# -- single checks ------------------------------------------------------------------------------


def test_path_exists(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert check_path_exists("d", tmp_path) == (True, f"{tmp_path / 'd'} exists (directory)")
    assert check_path_exists("d/f.txt", tmp_path) == (True, f"{tmp_path / 'd' / 'f.txt'} exists (file)")
    assert check_path_exists(str(tmp_path / "d"), Path("/"))[0]  # absolute paths ignore the cwd
    ok, detail = check_path_exists("d/nope.txt", tmp_path)
    assert not ok and detail == f"{tmp_path / 'd' / 'nope.txt'} does not exist"
    ok, detail = check_path_exists("dangling", tmp_path)
    assert not ok and "broken symlink" in detail


def test_free_disk(tmp_path: Path) -> None:
    ok, detail = check_free_disk(0.0001, ".", tmp_path)
    assert ok and f"GiB free at {tmp_path}, needs 0.0001 GiB" in detail
    ok, detail = check_free_disk(10**9, "not/yet/made", tmp_path)
    assert not ok
    assert f"at {tmp_path} (nearest existing parent of {tmp_path / 'not/yet/made'}), needs 1e+09 GiB" in detail


def test_visible_gpus_follow_cuda_visible_devices() -> None:
    both = [A100, H100]
    assert visible_gpus(both, {}) == both
    assert visible_gpus(both, {"CUDA_VISIBLE_DEVICES": "1"}) == [H100]
    assert visible_gpus(both, {"CUDA_VISIBLE_DEVICES": "1,0"}) == [H100, A100]
    assert visible_gpus(both, {"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus(both, {"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert visible_gpus(both, {"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == [A100]  # CUDA stops at an invalid entry
    assert visible_gpus(both, {"CUDA_VISIBLE_DEVICES": "7"}) == []
    assert len(visible_gpus(both, {"CUDA_VISIBLE_DEVICES": "GPU-8f2a3b"})) == 1
    assert visible_gpus([], {"CUDA_VISIBLE_DEVICES": "0"}) == []


def test_gpu_check() -> None:
    assert check_gpu(True, [A100, H100], {}) == (True, "2 GPUs: 0: NVIDIA A100, 1: NVIDIA H100")
    ok, detail = check_gpu(True, [], {})
    assert not ok and detail.startswith("no GPU found")
    ok, detail = check_gpu(True, [A100], {"CUDA_VISIBLE_DEVICES": ""})
    assert not ok and detail == "no GPU visible (1 hidden by CUDA_VISIBLE_DEVICES='')"
    assert check_gpu(False, [], {}) == (True, "no GPU visible")
    ok, detail = check_gpu(False, [A100], {})
    assert not ok and detail == "gpu: false but 1 GPU is visible: 0: NVIDIA A100"
    assert check_gpu(False, [A100], {"CUDA_VISIBLE_DEVICES": "-1"})[0]


def test_command_check(tmp_path: Path) -> None:
    assert check_command([PY, "-c", "pass"], 30, tmp_path) == (True, "exit 0")
    script = ("import sys; print('out line'); print('first', file=sys.stderr); "
              "print('last words', file=sys.stderr); sys.exit(3)")
    assert check_command([PY, "-c", script], 30, tmp_path) == (False, "exit 3: last words")
    assert check_command([PY, "-c", "print('only stdout\\n\\n'); raise SystemExit(2)"], 30, tmp_path) == \
        (False, "exit 2: only stdout")
    assert check_command([PY, "-c", "import os; print(os.getcwd())"], 30, tmp_path)[0]
    assert check_command([PY, "-c", "import os, sys; sys.exit(os.getcwd() != sys.argv[1])", str(tmp_path)],
                         30, tmp_path)[0]  # runs in the cwd given
    assert check_command(["no-such-program-xyz"], 30, tmp_path) == (False, "command not found: no-such-program-xyz")
    ok, detail = check_command([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], 30, tmp_path)
    assert (ok, detail) == (False, "killed by SIGKILL")


def test_command_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    started = time.monotonic()
    ok, detail = check_command(["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], 1.5, tmp_path)
    assert (ok, detail) == (False, "timed out after 1.5 s (killed)")
    assert time.monotonic() - started < 15
    pid = int(marker.read_text())
    def dead() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        return stat.exists() and stat.read_text().split()[2] == "Z"  # a zombie waiting for init: dead

    wait_for(dead, 5, what="the command's child to end with the timeout")


def test_git_clean(git_project: Path, tmp_path: Path) -> None:
    ok, detail = check_git_clean(git_project)
    assert ok and "no uncommitted change to tracked files" in detail and "untracked files not checked" in detail
    (git_project / "notes.txt").write_text("untracked\n")
    (git_project / "sub").mkdir()
    assert check_git_clean(git_project / "sub")[0]  # untracked files do not count; found from a subdirectory
    (git_project / "train.py").write_text("# changed\n")
    ok, detail = check_git_clean(git_project / "sub")
    assert (ok, detail) == (False, "1 tracked file with uncommitted changes: train.py (commit or stash them)")
    git(git_project, "checkout", "--", "train.py")
    (git_project / "new.py").write_text("x = 1\n")
    git(git_project, "add", "new.py")  # staged counts too
    ok, detail = check_git_clean(git_project)
    assert not ok and "new.py" in detail
    outside = tmp_path / "plain"
    outside.mkdir()
    assert check_git_clean(outside) == (False, f"{outside} is not in a git repository")


# -- running a list -----------------------------------------------------------------------------


def test_run_preflight_runs_every_check_in_order(tmp_path: Path) -> None:
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "best.pt").write_text("x")
    calls = []

    def fake_gpus() -> list[dict[str, object]]:
        calls.append(1)
        return [A100]

    checks = [PreflightCheck(path_exists="ckpts/{ckpt}.pt"), PreflightCheck(gpu=True),
              PreflightCheck(command=f"{PY} -c 'import sys; sys.exit(0 if sys.argv[1] == \"best\" else 1)' {{ckpt}}"),
              PreflightCheck(path_exists="{missing}/{also}", name="two missing"),
              PreflightCheck(gpu=False)]
    report = run_preflight(checks, argv=["python", "train.py", "--ckpt", "best"], cwd=tmp_path, gpus=fake_gpus,
                           environ={})
    assert [(c.name, c.result) for c in report.checks] == [
        ("path_exists: ckpts/{ckpt}.pt", "PASS"), ("gpu: true", "PASS"), (check_name(checks[2]), "PASS"),
        ("two missing", "FAIL"), ("gpu: false", "FAIL")]
    assert report.checks[3].detail == "no value for {missing}, {also}: the command has no --missing VALUE --also VALUE"
    assert calls == [1]  # GPUs listed once
    assert not report.ok and report.verdict == "FAIL"
    assert [c.name for c in report.failed] == ["two missing", "gpu: false"]
    doc = report.to_dict()
    assert set(doc) == {"verdict", "ok", "checks"}
    assert set(doc["checks"][0]) == {"name", "kind", "result", "detail", "seconds"}

    expect_braces = "import sys; sys.exit(sys.argv[1:] != ['{}', '}', '{a b}'])"
    malformed = run_preflight([PreflightCheck(command=f'{PY} -c "{expect_braces}" {{}} }} "{{a b}}"'),
                               PreflightCheck(path_exists="ckpts/{bad name}"),
                               PreflightCheck(free_disk_gb=0.0001, path="{ckpt")], argv=["t.py"], cwd=tmp_path)
    assert [(c.result, c.detail) for c in malformed.checks][:2] == [
        ("PASS", "exit 0"), ("FAIL", f"{tmp_path / 'ckpts' / '{bad name}'} does not exist")]
    assert malformed.checks[2].passed and "{ckpt" in malformed.checks[2].detail

    no_command = run_preflight(checks[:1], argv=None, cwd=tmp_path)
    assert no_command.checks[0].detail == "no value for {ckpt}: no command was given to take --ckpt VALUE from"
    assert run_preflight([PreflightCheck(free_disk_gb=0.0001)], cwd=tmp_path).ok


# -- the config section -------------------------------------------------------------------------


def test_preflight_config_is_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "gatebook.yaml"

    def load(text: str) -> object:
        cfg.write_text(text)
        return load_project_config(tmp_path)

    pconf = load("preflight:\n  - {path_exists: 'out/{ckpt}'}\n  - {free_disk_gb: 20, path: /data}\n"
                 "  - {gpu: true}\n  - {git_clean: true}\n  - {command: 'python x.py', timeout_s: 5, name: x}\n")
    assert [c.kind for c in pconf.preflight] == ["path_exists", "free_disk_gb", "gpu", "git_clean", "command"]
    bad = {
        "preflight:\n  - {gpu: true, git_clean: true}\n": "exactly one of",
        "preflight:\n  - {timeout_s: 3}\n": "exactly one of",
        "preflight:\n  - {git_clean: false}\n": "git_clean: false checks nothing",
        "preflight:\n  - {command: \"python 'unclosed\"}\n": "cannot be split into words",
        "preflight:\n  - {command: '  '}\n": "command is empty",
        "preflight:\n  - {path_exists: ''}\n": "path_exists is empty",
        "preflight:\n  - {gpu: true, path: /x}\n": "path applies to free_disk_gb only",
        "preflight:\n  - {git_clean: true, timeout_s: 3}\n": "timeout_s applies to command only",
        "preflight:\n  - {free_disk_gb: -1}\n": "greater than 0",
        "preflight:\n  - {free_disk_gb: 1}\n  - {gpu: yes please}\n": "gatebook.yaml:3",
        "preflight:\n  - {pathexists: x}\n": "unknown field",
        "preflight: {gpu: true}\n": "valid list",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            load(text)
