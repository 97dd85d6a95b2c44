"""Secrets out of what is recorded: command lines (the ``mage.command`` tag) and URIs (tags, messages).

A value is replaced by ``***`` when it is the password of a URI (``scheme://user:password@host``), a
credential-like query parameter (``?token=...``), the value of a ``KEY=VALUE`` token or ``--flag VALUE`` /
``--flag=VALUE`` whose name has a word such as password, token, secret or key (``--set mlflow.password=x``,
``AWS_SECRET_ACCESS_KEY=x``, ``--api-key x``). Words are split on ``.``, ``_``, ``-``, so ``tokenizer.*`` and
``eval.top_k`` stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MASK = "***"
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "token",
        "secret",
        "key",
        "apikey",
        "credential",
        "credentials",
        "auth",
    }
)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")  # a config key or env var name, not a URI
_QUERY = re.compile(r"(?P<k>[?&;](?P<name>[A-Za-z0-9_.-]+)=)(?P<v>[^&;#\s]*)")


def is_secret_name(name: str) -> bool:
    """Whether ``name`` (``mlflow.password``, ``AWS_SECRET_ACCESS_KEY``, ``--api-key``) names a credential."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.lower()) if w]
    return any(w in SECRET_WORDS for w in words)


def redact_uri(text: str) -> str:
    """``text`` with URI passwords and credential-like query values masked (user names are kept)."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _QUERY.sub(lambda m: m["k"] + (MASK if is_secret_name(m["name"]) else m["v"]), text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with every secret value masked; everything else as given."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
        else:
            red, mask_next = _redact_arg(arg)
            out.append(red)
    return out


def _redact_arg(arg: str) -> tuple[str, bool]:
    """(``arg`` redacted, whether the next argument is the value of a secret flag)."""
    if arg.startswith("--set="):
        return "--set=" + _redact_arg(arg[len("--set=") :])[0], False
    name, eq, value = arg.partition("=")
    if arg.startswith("-"):
        if is_secret_name(name):  # --password=x, or --password x (the next argument)
            return (f"{name}={MASK}", False) if eq else (arg, True)
        return redact_uri(arg), False
    if eq and _KEY.match(name) and is_secret_name(name):  # KEY=VALUE: a --set value, an env assignment
        return f"{name}={MASK}", False
    return redact_uri(arg), False
