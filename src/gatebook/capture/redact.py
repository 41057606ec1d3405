"""Secrets never reach the ledger in clear: what is redacted, and how a rerun gets it back.

- **Environment variables** (:func:`redact_env`): the value of a variable whose *name*
  contains one of :data:`SECRET_NAME_PATTERNS` (``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``; not
  ``PWD`` / ``OLDPWD``) becomes ``***``; in other values, URL passwords are masked.
- **Command-line arguments** (:func:`redact_argv`): the value of an option or a Hydra-style
  override whose name looks secret by :func:`is_secret_flag` (``--hf-token X``,
  ``--password=X``, ``db.password=X``, ``HF_TOKEN=X``), URL passwords anywhere in a token
  (``postgresql://u:***@h/db``) and secret-named URL query parameters (``?token=***``). A
  token holding whitespace (``bash -c '... --token X'``) is redacted word by word.
  Single-letter options (``-p X``) are never read as secret: their meaning differs per
  program. A value that is a bool word (``--use-auth-token true``) is not a secret.
- **Output lines and other text** (:func:`text_redactor`): the secret values found in the
  command line (of :data:`MIN_TEXT_SECRET` characters or more) and URL passwords.
- **Reruns** (:func:`fill_secrets`): a stored command holding ``***`` gets each value back
  from ``GATEBOOK_SECRET_<NAME>``, else ``<NAME>`` (when that name looks secret), where NAME
  is the option or key in upper case with ``_`` (``--hf-token`` -> ``HF_TOKEN``,
  ``db.password`` -> ``DB_PASSWORD``) and a URL password's is its option's + ``_PASSWORD``
  (``--db postgresql://u:***@h/db`` -> ``DB_PASSWORD``; ``URL_PASSWORD`` for a bare URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

__all__ = [
    "MIN_TEXT_SECRET",
    "REDACTED",
    "SECRET_NAME_PATTERNS",
    "RedactedArgv",
    "fill_secrets",
    "is_secret_flag",
    "is_secret_name",
    "redact_argv",
    "redact_env",
    "redact_params",
    "redact_url",
    "secret_names",
    "strip_credentials",
    "text_redactor",
]

#: The replacement text for a redacted value.
REDACTED = "***"

#: Substrings (upper case) of environment variable names whose values are redacted.
SECRET_NAME_PATTERNS: tuple[str, ...] = (
    "KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "CREDENTIAL", "AUTH", "PRIVATE", "COOKIE",
    "SESSION", "SIGNATURE", "DSN", "HOOK",  # HOOK: webhook URLs carry their token in the path
)

#: Names that match a pattern but hold no secret (the shell's current / previous directory).
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})

#: Secret values shorter than this are redacted in the command line but not searched for in
#: output text (replacing every ``ab`` of a log would destroy it and hide nothing).
MIN_TEXT_SECRET = 4

#: The last word of an option name that makes its value a secret.
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "token", "credential", "credentials", "creds",
    "auth", "apikey", "accesskey", "secretkey", "privatekey", "cookie", "dsn", "bearer", "jwt",
})
#: ``key`` is secret alone (``--key``) or after one of these words (``--api-key``, ``--aws-key``);
#: ``--sort-key``, ``--text-key``, ``--key-size`` are not.
_KEY_QUALIFIERS = frozenset({
    "api", "access", "secret", "private", "auth", "client", "encryption", "signing", "license", "licence",
    "master", "account", "service", "ssh", "subscription", "app", "session", "storage", "openai", "anthropic",
    "wandb", "hf", "huggingface", "hub", "aws", "azure", "gcp", "google", "cohere", "comet", "neptune",
    "mistral", "groq", "pinecone", "github", "gh", "gitlab", "slack", "stripe",
})
#: ``token`` after one of these words is a tokenizer's (``--pad-token``, ``--max-token``), not a secret.
_TOKENIZER_WORDS = frozenset({
    "pad", "bos", "eos", "unk", "mask", "sep", "cls", "start", "end", "stop", "special", "image", "img", "audio",
    "video", "placeholder", "begin", "eot", "boi", "eoi", "max", "min", "num", "total", "per",
})
_NOT_VALUES = frozenset({"", "true", "false", "none", "null"})

# scheme://user:password@  (password may itself contain '@': the match runs to the last '@'
# of the authority, which ends at whitespace, '/', '?' or '#').
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*):(?P<password>[^\s/?#]+)@")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SCHEME_CHARS = _LETTERS | frozenset("0123456789+.-")
_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<userinfo>[^/?#\s]*)@")
_URL_QUERY = re.compile(r"(?P<head>[?&;](?P<name>[A-Za-z_][\w.\-]*)=)(?P<value>[^&#;\s]*)")
_TOKEN_SCHEMES = frozenset({"http", "https", "ftp", "ftps"})
_FLAG = re.compile(r"(?P<dashes>--?)(?P<name>[A-Za-z_][\w.\-]*)(?:=(?P<value>.*))?", re.DOTALL)
_SHELL_WORD = re.compile(r"""(?:'[^']*'|"(?:\\.|[^"\\])*"|\\.|[^\s'"\\])+|['"].*""", re.DOTALL)
_ASSIGN = re.compile(r"(?P<head>(?:\+\+|\+)?(?P<key>[A-Za-z_][\w\-]*(?:[./@][A-Za-z0-9_][\w\-]*)*)=)(?P<value>.*)",
                     re.DOTALL)

OnSecret = Callable[[str, str], str]
"""``(variable name, value as found) -> the text to put in its place``."""


# -- environment variables and URLs ---------------------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` (or any text holding URLs) with each embedded password replaced by ``***``.

    ``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``. The user name is kept;
    text without ``scheme://user:password@`` is returned unchanged.
    """
    return _sub_url_passwords(url, lambda m: f"{m.group('head')}:{REDACTED}@")


def _sub_url_passwords(text: str, repl: Callable[[re.Match[str]], str]) -> str:
    """``_URL_PASSWORD.sub(repl, text)`` in linear time: the regex is only tried at the scheme
    before each ``://`` (tried at every position, a long word of output would take quadratic time)."""
    out: list[str] = []
    done = pos = 0
    while (at := text.find("://", pos)) >= 0:
        start = at
        while start > 0 and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        while start < at and text[start] not in _LETTERS:
            start += 1
        match = _URL_PASSWORD.match(text, start) if start < at else None
        if match is None:
            pos = at + 3
            continue
        out += [text[done:start], repl(match)]
        done = pos = match.end()
    return "".join(out) + text[done:] if out else text


def strip_credentials(url: str) -> str:
    """``url`` without credentials, for URLs that are shown and stored (git remotes).

    A ``user:password@`` part is removed whatever the scheme; for http(s)/ftp(s) a bare
    ``user@`` is removed too (it is commonly an access token). ``ssh://git@host/...`` and
    scp-like ``git@host:path`` keep their user, which is not a secret.
    """
    match = _URL_USERINFO.match(url)
    if match is None:
        return url
    userinfo = match.group("userinfo")
    if ":" in userinfo or match.group("scheme").lower() in _TOKEN_SCHEMES:
        return f"{match.group('scheme')}://{url[match.end():]}"
    return url


def is_secret_name(name: str) -> bool:
    """True when an environment variable called ``name`` probably holds a secret."""
    upper = name.upper()
    if upper in _NOT_SECRET_NAMES:
        return False
    return any(pattern in upper for pattern in SECRET_NAME_PATTERNS)


def redact_env(environ: Mapping[str, str], secrets: Collection[str] = ()) -> dict[str, str]:
    """A copy of ``environ`` safe to store.

    Values of variables whose name contains one of :data:`SECRET_NAME_PATTERNS`
    (case-insensitive; ``PWD`` and ``OLDPWD`` excepted) become ``"***"``; in all other
    values, passwords inside URLs are masked and the values of ``secrets`` (those of the
    command line) replaced. Keys are sorted.
    """
    redact = text_redactor(secrets)
    return {str(name): REDACTED if is_secret_name(str(name)) else redact(str(environ[name]))
            for name in sorted(environ, key=str)}


# -- command-line arguments -----------------------------------------------------------------------


def name_words(name: str) -> list[str]:
    """``--hf-token`` / ``db.password`` / ``hfToken`` / ``HF_TOKEN`` -> lower-case words."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.lstrip("-+~"))
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def is_secret_flag(name: str) -> bool:
    """Whether the value of an option / override / param called ``name`` is a secret: its last
    word is one of password, passwd, pwd, passphrase, secret, token, credential(s), creds,
    auth, apikey, cookie, dsn, bearer, jwt (``token`` not after a tokenizer word: ``pad``,
    ``eos``, ``max``...), or ``key`` alone or after a word like ``api``, ``access``,
    ``secret``, ``private``, ``client``, ``ssh`` or a service's name (``openai``, ``wandb``,
    ``hf``, ``aws``...). So ``--password-file``, ``--tokenizer``, ``--max-tokens``,
    ``--key-size``, ``--sort-key`` and ``--auth-type`` are not secret."""
    words = name_words(name)
    if not words:
        return False
    last, prev = words[-1], (words[-2] if len(words) > 1 else None)
    if last == "token":
        return prev not in _TOKENIZER_WORDS
    if last == "key":
        return prev is None or prev in _KEY_QUALIFIERS
    return last in _SECRET_WORDS


def _var(name: str | None, suffix: str = "") -> str:
    base = "_".join(name_words(name or "")).upper()
    return "_".join(p for p in (base, suffix) if p) or "SECRET"


def _secret(var: str, value: str, on_secret: OnSecret) -> str:
    """``on_secret`` of ``value``, its surrounding quotes kept (a shell string's word)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[0] + on_secret(var, value[1:-1]) + value[0]
    return on_secret(var, value)


def _is_value(value: str) -> bool:
    return value.strip("'\"").lower() not in _NOT_VALUES


def _in_text(text: str, context: str | None, on_secret: OnSecret) -> str:
    """URL passwords and secret-named query parameters of ``text`` (``context``: the option or
    key the text is the value of, naming a URL password's variable)."""
    if "://" not in text:
        return text

    def password(m: re.Match[str]) -> str:
        var = _var(context, "PASSWORD") if context else "URL_PASSWORD"
        return f"{m.group('head')}:{on_secret(var, m.group('password'))}@"

    def query(m: re.Match[str]) -> str:
        name, value = m.group("name"), m.group("value")
        secret = is_secret_flag(name) and _is_value(value)
        return m.group("head") + (on_secret(_var(name), value) if secret else value)

    return _URL_QUERY.sub(query, _sub_url_passwords(text, password))


def _value(value: str, name: str, on_secret: OnSecret) -> str:
    """A value that is not a secret itself: a command string's words, else its URLs."""
    if any(c.isspace() for c in value):
        return _walk(["", value], on_secret)[1]  # `--cmd='python t.py --token X'`
    return _in_text(value, name, on_secret)


def _walk(argv: Sequence[str], on_secret: OnSecret, *, split: bool = True) -> list[str]:
    """``argv`` with every secret value replaced by what ``on_secret`` gives for it (``split``:
    a token holding whitespace is a shell string, walked word by word)."""
    tokens = [str(t) for t in argv]
    out = [_in_text(t, None, on_secret) for t in tokens[:1]]
    context: str | None = None  # the option whose value the next token is
    i = 1
    while i < len(tokens):
        token, ctx, context = tokens[i], context, None
        i += 1
        flag = _FLAG.fullmatch(token)
        if flag:
            name, value = flag.group("name"), flag.group("value")
            secret = len(name) > 1 and is_secret_flag(name)
            if value is not None:
                head = token[: len(token) - len(value)]
                out.append(head + (_secret(_var(name), value, on_secret) if secret and _is_value(value)
                                   else _value(value, name, on_secret)))
                continue
            out.append(token)
            if i < len(tokens) and not _FLAG.fullmatch(tokens[i]) and tokens[i] != "--":
                if secret and _is_value(tokens[i]):
                    out.append(_secret(_var(name), tokens[i], on_secret))
                    i += 1
                else:
                    context = name
            continue
        assign = _ASSIGN.fullmatch(token)
        if assign:
            key, value = assign.group("key"), assign.group("value")
            out.append(assign.group("head") + (_secret(_var(key), value, on_secret)
                                               if is_secret_flag(key) and _is_value(value)
                                               else _value(value, key, on_secret)))
            continue
        if split and any(c.isspace() for c in token):  # a shell string: its words (quotes kept) one by one
            spans = [m.span() for m in _SHELL_WORD.finditer(token)]
            words = _walk(["", *(token[a:b] for a, b in spans)], on_secret, split=False)[1:]
            for (a, b), word in reversed(list(zip(spans, words, strict=False))):
                token = token[:a] + word + token[b:]
            out.append(token)
            continue
        quote = token[:1]
        if quote in ("'", '"') and len(token) > 2 and token[-1] == quote and any(c.isspace() for c in token):
            out.append(quote + _walk(["", token[1:-1]], on_secret)[1] + quote)  # a quoted command: its words
            continue
        out.append(_in_text(token, ctx, on_secret))
    return out


@dataclass(frozen=True)
class RedactedArgv:
    argv: list[str]  # safe to store and show
    secrets: frozenset[str]  # the values replaced, in clear (for :func:`text_redactor`)

    def redact_text(self) -> Callable[[str], str]:
        return text_redactor(self.secrets)


def redact_argv(argv: Sequence[str]) -> RedactedArgv:
    """``argv`` with its secret values replaced by ``***`` (rules in the module docstring),
    and the set of values replaced. Never raises."""
    found: set[str] = set()

    def hide(_var: str, value: str) -> str:
        if value != REDACTED:
            found.add(value)
        return REDACTED

    return RedactedArgv(_walk(argv, hide), frozenset(found))


def text_redactor(secrets: Collection[str] = ()) -> Callable[[str], str]:
    """A function that replaces in text each of ``secrets`` (at least :data:`MIN_TEXT_SECRET`
    characters long) and every URL password by ``***``."""
    usable = sorted({s for s in secrets if len(s) >= MIN_TEXT_SECRET and s != REDACTED}, key=len, reverse=True)
    if not usable:
        return redact_url
    pattern = re.compile("|".join(map(re.escape, usable)))
    return lambda text: redact_url(pattern.sub(REDACTED, text))


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Flat params safe to store: the value of a key whose last part looks secret
    (:func:`is_secret_flag`: ``wandb.api_key``, ``hf_token``) becomes ``***`` unless it is
    empty, a bool or None; URL passwords in other string values are masked."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if is_secret_flag(str(key)) and value not in (None, "", [], {}) and not isinstance(value, bool):
            out[key] = REDACTED
        else:
            out[key] = redact_url(value) if isinstance(value, str) else value
    return out


# -- reruns ---------------------------------------------------------------------------------------


def secret_names(argv: Sequence[str]) -> list[str]:
    """The variable names of the values that are ``***`` in a stored command, in order."""
    names: list[str] = []

    def note(var: str, value: str) -> str:
        if value == REDACTED and var not in names:
            names.append(var)
        return value

    _walk(argv, note)
    return names


def _lookup(var: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(f"GATEBOOK_SECRET_{var}")
    if not value and is_secret_name(var):
        value = environ.get(var)
    return value or None


def fill_secrets(argv: Sequence[str], environ: Mapping[str, str], *, what: str) -> list[str]:
    """A stored command with its ``***`` values taken from ``environ`` (``GATEBOOK_SECRET_<NAME>``,
    else ``<NAME>`` when that name looks secret). A UsageError naming every variable still
    missing otherwise; ``what`` names the command (``the command of run X``)."""
    missing: list[str] = []

    def fill(var: str, value: str) -> str:
        if value != REDACTED:
            return value
        got = _lookup(var, environ)
        if got is None:
            if var not in missing:
                missing.append(var)
            return value
        return got

    filled = _walk(argv, fill)
    if missing:
        from gatebook.errors import UsageError

        names = ", ".join(f"GATEBOOK_SECRET_{v}" + (f" (or {v})" if is_secret_name(v) else "") for v in missing)
        raise UsageError(f"{what} was recorded with secret values redacted ({REDACTED}); set {names} "
                         f"to run it again", hint="their values are redacted again in the new run")
    return filled
