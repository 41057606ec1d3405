"""TOML reading on every supported Python: ``tomllib`` (3.11+), else the ``tomli`` backport.

``tomli`` is a dependency on Python < 3.11 (``tomli; python_version < "3.11"``); every
TOML read in gatebook goes through :func:`toml_loads`.
"""

from __future__ import annotations

from typing import Any, Callable

from gatebook.errors import ConfigError


def toml_loads() -> Callable[[str], Any]:
    """``tomllib.loads`` or ``tomli.loads`` (same API; a syntax error is a ValueError,
    ``TOMLDecodeError``); ConfigError when neither can be imported."""
    try:
        import tomllib

        return tomllib.loads
    except ImportError:
        pass
    try:
        import tomli
    except ImportError:
        raise ConfigError(
            "reading TOML on Python < 3.11 needs the 'tomli' package",
            hint="install it with: pip install tomli (or use a .yaml or .json config)",
        ) from None
    return tomli.loads  # type: ignore[no-any-return]
