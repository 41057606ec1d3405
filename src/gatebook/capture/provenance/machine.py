"""The machine: NVIDIA GPUs (``nvidia-smi``, else NVML) and host, user, platform, CPU count."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

_GPU_TIMEOUT = 5.0


def _int_or_none(text: str) -> int | None:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def _gpus_from_nvidia_smi(exe: str) -> list[dict[str, Any]] | None:
    """GPUs listed by ``nvidia-smi``, or None when it fails."""
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=index,name,memory.total,driver_version",
             "--format=csv,noheader,nounits"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            timeout=_GPU_TIMEOUT, check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0:
        return None
    result = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 4:
            continue
        index, memory, driver = fields[0], fields[-2], fields[-1]
        name = ",".join(fields[1:-2]).strip()
        result.append({"index": _int_or_none(index), "name": name,
                       "memory_mb": _int_or_none(memory), "driver": driver})
    return result


def _gpus_from_pynvml() -> list[dict[str, Any]]:
    """GPUs listed by NVML through ``pynvml``; [] when it is missing or fails."""
    import importlib.util
    import warnings

    try:
        if importlib.util.find_spec("pynvml") is None:
            return []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pynvml  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001
        return []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        result = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            result.append({"index": i, "name": _text(pynvml.nvmlDeviceGetName(handle)),
                           "memory_mb": int(memory), "driver": driver})
        return result
    except Exception:  # noqa: BLE001
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs as ``[{"index", "name", "memory_mb", "driver"}]``; [] when none can be seen.

    Asks ``nvidia-smi`` when it is on PATH (5 s timeout), else ``pynvml`` when importable.
    """
    try:
        exe = shutil.which("nvidia-smi")
        if exe is not None:
            listed = _gpus_from_nvidia_smi(exe)
            if listed is not None:
                return listed
        return _gpus_from_pynvml()
    except Exception:  # noqa: BLE001
        return []


def system_info() -> dict[str, Any]:
    """``{"host", "user", "platform", "cpu_count"}``; a part that cannot be read is None."""
    import getpass
    import platform
    import socket

    def guarded(fn: Any) -> Any:
        try:
            return fn()
        except Exception:  # noqa: BLE001
            return None

    return {
        "host": guarded(socket.gethostname),
        "user": guarded(getpass.getuser),
        "platform": guarded(platform.platform),
        "cpu_count": guarded(os.cpu_count),
    }
