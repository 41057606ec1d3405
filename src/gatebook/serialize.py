"""Turn any value a training script holds into JSON-safe data, never crashing.

The seeds lost results at exit because ``json.dump`` met a ``PosixPath`` key or a
NumPy ``int64``. Everything that enters the ledger goes through :func:`to_jsonable`
(configs, summaries, params) or :func:`to_float` (metric values).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import json
import math
import uuid
from pathlib import PurePath
from typing import Any, Callable, Mapping

_MAX_DEPTH = 32


class Unserializable(TypeError):
    """Raised by :func:`to_float` when a value is not a number."""


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy"


def _is_torch_tensor(value: Any) -> bool:
    mod = type(value).__module__ or ""
    return mod.startswith("torch") and hasattr(value, "detach") and hasattr(value, "numel")


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, enum.Enum):
        return str(k.value)
    if isinstance(k, PurePath):
        return str(k)
    if isinstance(k, (bytes, bytearray)):
        return k.decode("utf-8", "replace")
    if _is_numpy(k) and hasattr(k, "item"):
        return str(k.item())
    return str(k)


def to_jsonable(value: Any, *, on_error: Callable[[str, Any], None] | None = None,
                _path: str = "", _depth: int = 0) -> Any:
    """Convert ``value`` to data ``json`` can hold (dict / list / str / number / bool / None).

    Handles Path, NumPy scalars and arrays, PyTorch tensors, datetime / date / time /
    timedelta, Enum, set / frozenset / tuple, dataclasses, Pydantic models, argparse
    Namespace, OmegaConf containers, Decimal, UUID, bytes and non-string dict keys.
    Anything else becomes its ``repr`` and ``on_error(path, value)`` is called, so the
    caller can warn once; this function never raises.
    """
    if _depth > _MAX_DEPTH:
        if on_error:
            on_error(_path, value)
        return "<too deep>"
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, on_error=on_error, _path=_path, _depth=_depth + 1)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {
            _key(k): to_jsonable(v, on_error=on_error, _path=_join(_path, _key(k)), _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, on_error=on_error, _path=f"{_path}[{i}]", _depth=_depth + 1)
                for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(v, on_error=on_error, _path=_path, _depth=_depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, complex):
        return str(value)
    if _is_numpy(value):
        if hasattr(value, "tolist"):
            return to_jsonable(value.tolist(), on_error=on_error, _path=_path, _depth=_depth + 1)
    if _is_torch_tensor(value):
        try:
            data = value.detach().cpu()
            return to_jsonable(data.item() if data.numel() == 1 and data.dim() == 0 else data.tolist(),
                               on_error=on_error, _path=_path, _depth=_depth + 1)
        except Exception:  # pragma: no cover - exotic tensors
            pass
    converted = _structured(value)
    if converted is not _MISSING:
        return to_jsonable(converted, on_error=on_error, _path=_path, _depth=_depth + 1)
    if hasattr(value, "item") and callable(value.item):
        try:
            return to_jsonable(value.item(), on_error=on_error, _path=_path, _depth=_depth + 1)
        except Exception:
            pass
    if on_error:
        on_error(_path, value)
    try:
        return repr(value)
    except Exception:  # a __repr__ that raises
        return f"<unrepresentable {type(value).__name__}>"


_MISSING = object()


def _structured(value: Any) -> Any:
    """Config objects as mappings: dataclass, Pydantic, Namespace, OmegaConf, attrs."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    mod = type(value).__module__ or ""
    if mod.startswith("omegaconf"):
        try:
            from omegaconf import OmegaConf

            return OmegaConf.to_container(value, resolve=True)
        except Exception:
            return _MISSING
    dump = getattr(value, "model_dump", None)  # Pydantic v2
    if callable(dump):
        try:
            return dump()
        except Exception:
            return _MISSING
    as_dict = getattr(value, "dict", None)  # Pydantic v1
    if callable(as_dict) and hasattr(value, "__fields__"):
        try:
            return as_dict()
        except Exception:
            return _MISSING
    if type(value).__name__ == "Namespace" and hasattr(value, "__dict__"):
        return dict(vars(value))
    if hasattr(value, "__attrs_attrs__"):
        return {a.name: getattr(value, a.name) for a in value.__attrs_attrs__}
    return _MISSING


def to_config_dict(config: Any, *, on_error: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """A config object (dict, Namespace, dataclass, Pydantic, OmegaConf) as a JSON-safe dict."""
    if config is None:
        return {}
    data = to_jsonable(config, on_error=on_error)
    if isinstance(data, dict):
        return data
    return {"value": data}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys; lists and scalars are leaves.

    >>> flatten({"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 1})
    {'optim.lr': 0.1, 'optim.betas': [0.9, 0.99], 'seed': 1}
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, full))
        else:
            out[full] = value
    return out


def to_float(value: Any) -> float:
    """A metric value as a float: Python, NumPy and PyTorch scalars and 0-d tensors.

    NaN and inf are kept. Raises :class:`Unserializable` for anything else.
    """
    if isinstance(value, float):
        return value
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        return float(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if _is_torch_tensor(value):
        try:
            if value.numel() == 1:
                return float(value.detach().cpu().item())
        except Exception as exc:
            raise Unserializable(f"tensor could not be read: {exc}") from None
        raise Unserializable(f"a tensor of shape {tuple(value.shape)} is not a scalar")
    if _is_numpy(value):
        size = getattr(value, "size", 1)
        if size == 1:
            try:
                return float(value.item() if hasattr(value, "item") else value)
            except (TypeError, ValueError) as exc:
                raise Unserializable(str(exc)) from None
        raise Unserializable(f"an array of shape {getattr(value, 'shape', '?')} is not a scalar")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise Unserializable(f"string {value!r} is not a number") from None
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return float(item())
        except Exception:
            pass
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Unserializable(f"{type(value).__name__} is not a number") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def dumps(data: Any) -> str:
    """JSON text for ledger columns; NaN and inf are written as NaN / Infinity."""
    return json.dumps(to_jsonable(data), allow_nan=True, separators=(",", ":"), sort_keys=False)


def loads(text: str | None, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    return json.loads(text)


def format_number(value: float | int | None) -> str:
    """Human form of a metric value: NaN and inf spelled out, 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def json_safe_numbers(data: Any) -> Any:
    """Replace NaN / inf by the strings "NaN", "Infinity", "-Infinity" (strict JSON output)."""
    kind = type(data)
    if kind is float:
        if data != data:
            return "NaN"
        if data in _INFINITIES:
            return "Infinity" if data > 0 else "-Infinity"
        return data
    if kind is dict:
        return {k: json_safe_numbers(v) for k, v in data.items()}
    if kind is list or kind is tuple:
        return [json_safe_numbers(v) for v in data]
    if kind is str or kind is int or kind is bool or data is None:
        return data
    if isinstance(data, float):  # float subclasses (numpy.float64)
        return json_safe_numbers(float(data))
    if isinstance(data, dict):
        return {k: json_safe_numbers(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe_numbers(v) for v in data]
    return data


_INFINITIES = (math.inf, -math.inf)
