"""Options written after a system spec's argument: `hf:PATH?chat&dtype=float32`, `openai:M@URL?api=chat`.

A bare word is a flag (`?chat` means chat=""); `key=value` pairs are URL-decoded. Unknown
options are an error that lists the known ones, so a typo never silently changes a system.
"""
from __future__ import annotations

from urllib.parse import parse_qsl


def split_options(argument: str, known: dict[str, str], system: str) -> tuple[str, dict[str, str]]:
    """(argument without options, {option: value}); ValueError naming `system` for unknown options.

    known: option name -> one-line help (for the error message).
    """
    base, sep, query = argument.partition("?")
    options: dict[str, str] = {}
    if sep:
        for part in query.split("&"):
            if not part:
                continue
            if "=" not in part:
                options[part] = ""
                continue
            options.update(parse_qsl(part, keep_blank_values=True))
    unknown = sorted(set(options) - set(known))
    if unknown:
        helps = "; ".join(f"{k}: {v}" for k, v in known.items())
        raise ValueError(f"system {system!r}: unknown option(s) {', '.join(unknown)} (known: {helps})")
    return base, options


def flag(options: dict[str, str], name: str) -> bool:
    """True for `?name`, `?name=1|true|yes|on`; False when absent or `?name=0|false|no|off`."""
    if name not in options:
        return False
    value = options[name].strip().lower()
    if value in ("", "1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"option {name} takes no value or one of 1/0, true/false, yes/no; not {options[name]!r}")
