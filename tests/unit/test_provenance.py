"""Tests of gatebook.capture.provenance against real, throw-away git repositories."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from gatebook.capture import provenance
from gatebook.capture.provenance import (
    REDACTED,
    SECRET_NAME_PATTERNS,
    collect,
    files_changed_between,
    git_info,
    gpus,
    packages,
    python_info,
    redact_env,
    redact_url,
    seeds_from_params,
    strip_credentials,
    system_info,
)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Gatebook Tests",
    "GIT_AUTHOR_EMAIL": "tests@gatebook.invalid",
    "GIT_COMMITTER_NAME": "Gatebook Tests",
    "GIT_COMMITTER_EMAIL": "tests@gatebook.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity; return its stdout."""
    proc = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=repo, env={**os.environ, **GIT_ENV}, check=True,
        capture_output=True, text=True, timeout=30,
    )
    return proc.stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository at ``path`` with one commit holding ``files`` (default: train.py)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for name, content in (files or {"train.py": "print('train')\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


# -- git_info ---------------------------------------------------------------------------------


def test_clean_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    info = git_info(repo)
    assert info["commit"] == head(repo)
    assert len(info["commit"]) == 40
    assert info["branch"] == "main"
    assert info["remote"] is None
    assert info["dirty"] is False
    assert info["dirty_files"] == []
    assert info["patch"] is None
    assert Path(info["root"]).resolve() == repo.resolve()


def test_detached_head_has_no_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "--detach")
    info = git_info(repo)
    assert info["branch"] is None
    assert info["commit"] == head(repo)


def test_subdirectory_reports_the_repository_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"src/model.py": "x = 1\n", "README": "hi\n"})
    (repo / "notes.txt").write_text("outside the subdirectory\n")
    info = git_info(repo / "src")
    assert Path(info["root"]).resolve() == repo.resolve()
    assert info["dirty_files"] == ["notes.txt"]
    assert "b/notes.txt" in info["patch"]


BINARY = bytes(range(256)) * 4


def dirty_repo(tmp_path: Path) -> Path:
    """A committed repo, then a tracked edit, a deletion, untracked text/binary/ignored files."""
    repo = make_repo(
        tmp_path / "repo",
        {
            "train.py": "lr = 0.1\nepochs = 3\n",
            "data/README.md": "data lives elsewhere\n",
            "old.txt": "to be deleted\n",
            ".gitignore": "*.ckpt\noutputs/\n",
        },
    )
    (repo / "train.py").write_text("lr = 0.01\nepochs = 3\n# tuned\n")
    (repo / "old.txt").unlink()
    (repo / "notes.md").write_text("# notes\nfirst try\n")
    (repo / "src").mkdir()
    (repo / "src" / "new module.py").write_text("def f():\n    return 1")  # no final newline
    (repo / "src" / "héllo.txt").write_text("unicode name\n", encoding="utf-8")
    (repo / "empty.txt").write_text("")
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\necho run\n")
    script.chmod(0o755)
    (repo / "blob.bin").write_bytes(BINARY)
    (repo / "big.txt").write_text("x" * (provenance.MAX_UNTRACKED_BYTES + 10))
    (repo / "model.ckpt").write_bytes(b"ignored weights")
    (repo / "outputs").mkdir()
    (repo / "outputs" / "log.txt").write_text("ignored\n")
    return repo


def test_dirty_repo_lists_changes_and_untracked_files(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path)
    info = git_info(repo)
    assert info["dirty"] is True
    assert info["dirty_files"] == sorted([
        "big.txt", "blob.bin", "empty.txt", "notes.md", "old.txt", "run.sh",
        "src/héllo.txt", "src/new module.py", "train.py",
    ])
    assert "model.ckpt" not in info["dirty_files"]
    assert info["patch_skipped"] == ["big.txt", "blob.bin"]
    patch = info["patch"]
    assert "-lr = 0.1\n+lr = 0.01\n" in patch
    assert "diff --git a/notes.md b/notes.md\nnew file mode 100644\n" in patch
    assert "new file mode 100755" in patch
    assert "ignored weights" not in patch and "ignored\n" not in patch
    assert "blob.bin" not in patch and "big.txt" not in patch


def test_patch_applied_on_the_commit_restores_the_tree(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path)
    info = git_info(repo)
    patch_file = tmp_path / "run.patch"
    patch_file.write_text(info["patch"], encoding="utf-8")

    restored = tmp_path / "restored"
    git(repo, "worktree", "add", "-q", "--detach", str(restored), info["commit"])
    git(restored, "apply", "--whitespace=nowarn", str(patch_file))

    for name in ["train.py", "notes.md", "src/new module.py", "src/héllo.txt", "empty.txt",
                 "run.sh", "data/README.md"]:
        assert (restored / name).read_bytes() == (repo / name).read_bytes(), name
    assert os.access(restored / "run.sh", os.X_OK)
    assert not (restored / "old.txt").exists()
    for skipped in ["blob.bin", "big.txt", "model.ckpt", "outputs/log.txt"]:
        assert not (restored / skipped).exists()


def test_untracked_symlink_is_restored(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"config.yaml": "lr: 1\n"})
    (repo / "latest.yaml").symlink_to("config.yaml")
    info = git_info(repo)
    assert "new file mode 120000" in info["patch"]
    patch_file = tmp_path / "p.patch"
    patch_file.write_text(info["patch"])
    restored = tmp_path / "restored"
    git(repo, "worktree", "add", "-q", "--detach", str(restored), info["commit"])
    git(restored, "apply", str(patch_file))
    assert os.readlink(restored / "latest.yaml") == "config.yaml"


def test_untracked_budget_skips_files_past_the_limit(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    for i in range(5):
        (repo / f"f{i}.txt").write_text(f"{i}\n")
    monkeypatch.setattr(provenance.git, "MAX_UNTRACKED_FILES", 3)  # the budget lives in the git part
    info = git_info(repo)
    assert info["patch_skipped"] == ["f3.txt", "f4.txt"]
    assert len(info["dirty_files"]) == 5


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text("print(1)\n")
    info = git_info(plain)
    assert info["commit"] is None
    assert info["branch"] is None
    assert info["root"] is None
    assert info["dirty"] is False
    assert info["patch"] is None


def test_missing_directory_and_missing_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert git_info(tmp_path / "nope")["commit"] is None
    repo = make_repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    info = git_info(repo)
    assert info["commit"] is None and info["root"] is None
    assert files_changed_between(repo, "HEAD~1", "HEAD") == []


def test_repo_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    assert git_info(repo)["dirty"] is False
    (repo / "train.py").write_text("print('new')\n")
    (repo / "staged.py").write_text("x = 2\n")
    git(repo, "add", "staged.py")
    info = git_info(repo)
    assert info["commit"] is None
    assert info["branch"] == "main"
    assert info["dirty"] is True
    assert info["dirty_files"] == ["staged.py", "train.py"]
    assert "+print('new')" in info["patch"]
    assert "+x = 2" in info["patch"]


def test_remote_credentials_are_stripped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "upstream", "https://example.com/up.git")
    git(repo, "remote", "add", "origin", "https://alice:s3cr3t@example.com/org/repo.git")
    info = git_info(repo)
    assert info["remote"] == "https://example.com/org/repo.git"
    assert "s3cr3t" not in str(info)


def test_first_remote_when_no_origin(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "github", "git@github.com:org/repo.git")
    assert git_info(repo)["remote"] == "git@github.com:org/repo.git"


def test_git_info_is_fast_on_a_small_repo(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path)
    git_info(repo)  # warm the file system cache
    start = time.perf_counter()
    git_info(repo)
    assert time.perf_counter() - start < 1.0  # the target is ~50 ms; this is a loose guard


# -- files_changed_between --------------------------------------------------------------------


def test_files_changed_between(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "1\n", "b.py": "2\n", "c.py": "3\n"})
    base = head(repo)
    (repo / "b.py").write_text("22\n")
    (repo / "d.py").write_text("4\n")
    git(repo, "rm", "-q", "c.py")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    assert files_changed_between(repo, base, head(repo)) == ["b.py", "c.py", "d.py"]
    assert files_changed_between(repo, head(repo), head(repo)) == []
    assert files_changed_between(repo, None, head(repo)) == []
    assert files_changed_between(repo, base, None) == []
    assert files_changed_between(repo, "0" * 40, head(repo)) == []
    assert files_changed_between(repo, "--output=x", head(repo)) == []
    assert files_changed_between(tmp_path / "nope", base, head(repo)) == []


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "MY_CREDENTIALS",
    "SMTP_PASSWD", "MYSQL_PWD", "GITHUB_AUTH", "SSH_PRIVATE_FILE", "SESSION_COOKIE",
    "SENTRY_DSN", "openai_api_key", "Wandb_Api_Key",
])
def test_secret_names_are_redacted(name: str) -> None:
    assert redact_env({name: "hunter2"}) == {name: REDACTED}


@pytest.mark.parametrize("name", ["PWD", "OLDPWD", "PATH", "HOME", "CUDA_VISIBLE_DEVICES"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert redact_env({name: "/some/dir"}) == {name: "/some/dir"}


def test_url_passwords_are_redacted_in_any_variable() -> None:
    env = {
        "GATEBOOK_STORE": "postgresql://u:secret@h/db",
        "PROXY": "http://user:p@ss@proxy:3128 and more",
        "PLAIN": "https://example.com/path",
    }
    assert redact_env(env) == {
        "GATEBOOK_STORE": "postgresql://u:***@h/db",
        "PROXY": "http://user:***@proxy:3128 and more",
        "PLAIN": "https://example.com/path",
    }


def test_redact_env_does_not_modify_its_input() -> None:
    env = {"API_KEY": "k"}
    redact_env(env)
    assert env == {"API_KEY": "k"}


def test_secret_name_patterns_constant() -> None:
    assert "TOKEN" in SECRET_NAME_PATTERNS and "DSN" in SECRET_NAME_PATTERNS


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
    ("sqlite:///tmp/ledger.db", "sqlite:///tmp/ledger.db"),
    ("https://user@example.com/x", "https://user@example.com/x"),
    ("not a url", "not a url"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://ghp_token@github.com/o/r.git", "https://github.com/o/r.git"),
    ("https://x:y@github.com/o/r.git", "https://github.com/o/r.git"),
    ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
    ("ssh://git:pw@github.com/o/r.git", "ssh://github.com/o/r.git"),
    ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ("/srv/git/repo.git", "/srv/git/repo.git"),
])
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


# -- interpreter, packages, machine, seeds ----------------------------------------------------


def test_packages() -> None:
    found = packages()
    assert "sqlalchemy" in found and "pytest" in found
    assert list(found) == sorted(found)
    assert all(name == name.lower() and "_" not in name for name in found)


def test_python_and_system_info() -> None:
    assert set(python_info()) == {"version", "implementation", "executable"}
    info = system_info()
    assert set(info) == {"host", "user", "platform", "cpu_count"}
    assert isinstance(info["cpu_count"], int)


def test_gpus_returns_a_list() -> None:
    result = gpus()
    assert isinstance(result, list)
    for gpu in result:
        assert set(gpu) == {"index", "name", "memory_mb", "driver"}


def test_gpus_parses_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '0, NVIDIA A100-SXM4-40GB, 40960, 535.54.03'\n"
                    "echo '1, NVIDIA A100-SXM4-40GB, 40960, 535.54.03'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert gpus() == [
        {"index": 0, "name": "NVIDIA A100-SXM4-40GB", "memory_mb": 40960, "driver": "535.54.03"},
        {"index": 1, "name": "NVIDIA A100-SXM4-40GB", "memory_mb": 40960, "driver": "535.54.03"},
    ]


def test_gpus_survives_a_failing_nvidia_smi(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert isinstance(gpus(), list)


def test_seeds_from_params() -> None:
    params = {
        "seed": 1, "data.shuffle_seed": 2, "model.seed_init": 3, "Trainer.SEED": 4,
        "seeds": [1, 2], "lr": 0.1, "reseeded": True, "nested": {"seed": 5},
    }
    assert seeds_from_params(params, environ={"PYTHONHASHSEED": "0"}) == {
        "seed": 1, "data.shuffle_seed": 2, "model.seed_init": 3, "Trainer.SEED": 4,
        "nested.seed": 5, "PYTHONHASHSEED": "0",
    }
    assert seeds_from_params({"lr": 1}, environ={}) == {}


# -- collect ----------------------------------------------------------------------------------


def test_collect(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("print('changed')\n")
    env = {"HF_TOKEN": "hf_abc", "HOME": "/home/u"}
    prov, patch = collect(repo, environ=env, include_packages=False)
    assert set(prov) == {"git", "python", "packages", "gpus", "system", "env"}
    assert "patch" not in prov["git"]
    assert prov["git"]["dirty_files"] == ["train.py"]
    assert patch is not None and "+print('changed')" in patch
    assert prov["packages"] == {}
    assert prov["env"] == {"HF_TOKEN": REDACTED, "HOME": "/home/u"}


def test_collect_outside_git(tmp_path: Path) -> None:
    prov, patch = collect(tmp_path, environ={})
    assert prov["git"]["commit"] is None
    assert patch is None
    assert "pytest" in prov["packages"]
