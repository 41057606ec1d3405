"""`gatebook preflight` and `gatebook run --preflight`: a real git repository (clean, then
dirty), real commands that pass, fail and time out, a path filled from the command's
arguments, and a fake nvidia-smi on PATH for the GPU check. `preflight` runs in this process
(``invoke``, with the same environment a child would get) but for one call through a real
``gatebook`` process; `run --preflight` always goes through one."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from tests.helpers import PY, env_with, gb, invoke, one_line_error

GPU_LINE = "0, NVIDIA A100-SXM4-40GB, 40960, 535.54.03"
MAKE_MARKER = "import sys; open('ran.txt', 'w').write(' '.join(sys.argv[1:]))"


def _env(tmp_path: Path, gpus: bool) -> dict[str, str]:
    """An environment whose nvidia-smi lists one GPU (gpus=True) or none."""
    bindir = tmp_path / ("bin-gpu" if gpus else "bin-nogpu")
    bindir.mkdir(exist_ok=True)
    fake = bindir / "nvidia-smi"
    fake.write_text("#!/bin/sh\n" + (f"echo '{GPU_LINE}'\n" if gpus else "exit 0\n"))
    fake.chmod(0o755)
    env = env_with(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _config(project: Path, extra: str = "") -> None:
    ok_cmd = shlex.join([PY, "-c", "import sys; sys.exit(0 if sys.argv[1] == 'best.pt' else 5)"])
    (project / "gatebook.yaml").write_text(
        "preflight:\n"
        "  - {path_exists: 'ckpts/{ckpt}'}\n"
        "  - {free_disk_gb: 0.001}\n"
        "  - {gpu: true}\n"
        "  - {git_clean: true, name: clean tree}\n"
        f"  - {{command: {json.dumps(ok_cmd + ' {ckpt}')}, timeout_s: 30}}\n" + extra)
    (project / "ckpts").mkdir(exist_ok=True)
    (project / "ckpts" / "best.pt").write_text("weights")


def test_every_check_passes(git_project: Path, tmp_path: Path) -> None:
    _config(git_project)
    env = _env(tmp_path, gpus=True)
    proc = invoke("preflight", "--", "python", "train.py", "--ckpt", "best.pt", cwd=git_project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: PASS" in proc.stdout
    assert f"{git_project / 'ckpts' / 'best.pt'} exists (file)" in proc.stdout
    assert "1 GPU: 0: NVIDIA A100-SXM4-40GB" in proc.stdout
    assert proc.stdout.count("PASS") == 6  # five rows and the verdict

    doc = json.loads(invoke("preflight", "--json", "--", "python", "train.py", "--ckpt=best.pt",
                            cwd=git_project, env=env).stdout)
    assert set(doc) == {"verdict", "ok", "checks", "command", "cwd", "source"}
    assert (doc["verdict"], doc["ok"]) == ("PASS", True)
    assert doc["command"] == ["python", "train.py", "--ckpt=best.pt"]
    assert doc["cwd"] == str(git_project) and doc["source"] == str(git_project / "gatebook.yaml")
    assert [c["kind"] for c in doc["checks"]] == ["path_exists", "free_disk_gb", "gpu", "git_clean", "command"]
    assert doc["checks"][3]["name"] == "clean tree"
    assert all(set(c) == {"name", "kind", "result", "detail", "seconds"} for c in doc["checks"])


def test_failing_checks_say_why(git_project: Path, tmp_path: Path) -> None:
    fail_cmd = shlex.join([PY, "-c", "import sys; print('loading'); "
                                     "print('CUDA error: out of memory', file=sys.stderr); sys.exit(3)"])
    slow_cmd = shlex.join([PY, "-c", "import time; time.sleep(60)"])
    _config(git_project, f"  - {{command: {json.dumps(fail_cmd)}}}\n"
                         f"  - {{command: {json.dumps(slow_cmd)}, timeout_s: 1, name: slow}}\n"
                         "  - {path_exists: '{data_dir}/train.csv'}\n")
    (git_project / "train.py").write_text("# an uncommitted change\n")
    (git_project / "sub").mkdir()
    proc = invoke("preflight", "--json", "--", "python", "../train.py", "--ckpt", "best.pt",
                  cwd=git_project / "sub", env=_env(tmp_path, gpus=False))
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["verdict"], doc["ok"]) == ("FAIL", False)
    by_name = {c["name"]: (c["result"], c["detail"]) for c in doc["checks"]}
    sub = git_project / "sub"
    # relative paths are relative to the current directory, not the project root
    assert by_name["path_exists: ckpts/{ckpt}"] == ("FAIL", f"{sub / 'ckpts' / 'best.pt'} does not exist")
    assert by_name["free_disk_gb: 0.001"][0] == "PASS"
    assert by_name["gpu: true"] == ("FAIL", "no GPU found (nvidia-smi missing or listing none, and no NVML)")
    assert by_name["clean tree"] == ("FAIL", "1 tracked file with uncommitted changes: train.py (commit or stash them)")
    assert by_name[f"command: {fail_cmd}"] == ("FAIL", "exit 3: CUDA error: out of memory")
    assert by_name["slow"] == ("FAIL", "timed out after 1 s (killed)")
    assert by_name["path_exists: {data_dir}/train.csv"] == \
        ("FAIL", "no value for {data_dir}: the command has no --data_dir VALUE")

    # no command: placeholders cannot be filled
    text = invoke("preflight", cwd=git_project, env=_env(tmp_path, gpus=True))
    assert text.returncode == 1
    assert "no command was given to take --ckpt VALUE from" in text.stdout
    assert "verdict: FAIL (6 of 8 failed: path_exists: ckpts/{ckpt}, clean tree," in text.stdout


def test_no_or_broken_preflight_section(tmp_path: Path) -> None:
    err = one_line_error(gb("preflight", cwd=tmp_path))
    assert "no preflight checks to run: no gatebook.yaml here or in any parent directory" in err
    (tmp_path / "gatebook.yaml").write_text("keys: {required: [loss]}\n")
    assert "gatebook.yaml has no preflight: section" in one_line_error(invoke("preflight", "--json", cwd=tmp_path))
    (tmp_path / "gatebook.yaml").write_text("preflight:\n  - {free_disk_gb: 1}\n  - {gpu: true, git_clean: true}\n")
    err = one_line_error(invoke("preflight", "--", "python", "x.py", cwd=tmp_path))
    assert "gatebook.yaml:3: preflight.1: each preflight check has exactly one of" in err


def test_run_preflight_refuses_then_starts(git_project: Path, tmp_path: Path) -> None:
    _config(git_project)
    env = _env(tmp_path, gpus=True)
    (git_project / "train.py").write_text("# dirty\n")
    command = ["--", PY, "-c", MAKE_MARKER, "--ckpt", "best.pt"]
    refused = gb("run", "--preflight", "--name", "guarded", *command, cwd=git_project, env=env)
    assert refused.returncode == 1
    assert "clean tree" in refused.stderr and "FAIL" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == \
        "gatebook: preflight FAIL (1 of 5 checks failed): the command was not started"
    assert not (git_project / "ran.txt").exists()
    assert not (git_project / ".gatebook").exists()  # nothing recorded, not even a ledger

    doc = json.loads(gb("run", "--preflight", "--json", *command, cwd=git_project, env=env).stdout)
    assert (doc["id"], doc["status"], doc["exit_code"]) == (None, "not_started", None)
    assert doc["reason"] == "preflight failed: clean tree"
    assert doc["preflight"]["verdict"] == "FAIL"

    subprocess.run(["git", "checkout", "--", "train.py"], cwd=git_project, check=True, capture_output=True)
    started = gb("run", "--preflight", "--json", "--name", "guarded", *command, cwd=git_project, env=env)
    assert started.returncode == 0, started.stderr
    doc = json.loads(started.stdout)
    assert doc["status"] == "finished" and doc["exit_code"] == 0 and doc["id"]
    assert doc["preflight"]["ok"] is True and len(doc["preflight"]["checks"]) == 5
    assert (git_project / "ran.txt").read_text() == "--ckpt best.pt"
    text = gb("run", "--preflight", "-q", "--", PY, "-c", "raise SystemExit(4)", "--ckpt", "best.pt",
              cwd=git_project, env=env)
    assert text.returncode == 4  # once started, the command's own exit code
    assert "gatebook: preflight PASS (5 checks)" in text.stderr
