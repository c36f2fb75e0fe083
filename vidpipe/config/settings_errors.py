"""Turning pydantic's validation errors into the messages a person reads: one line per refused
value, naming the setting, where it came from (a file, a variable) and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pydantic import ValidationError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

#: Never shown back, whatever the error.
SECRET_FIELDS = frozenset({"gemini_api_key", "openai_api_key"})


def describe_errors(exc: ValidationError, origin: Callable[[str], str]) -> str:
    """One line per refused value: the setting, where it came from, the value, and why."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name:  # a rule across settings (the contact-sheet page size)
            lines.append(_reason(error))
            continue
        where = origin(name)
        shown = "" if name in SECRET_FIELDS else f" {_short_repr(error.get('input'))}"
        lines.append(f"setting {name!r}{' ' + where if where else ''}:{shown} {_reason(error)}")
    return "\n".join(lines)


def _short_repr(value: Any) -> str:
    text = repr(
        value
    )  # repr escapes control characters: nothing from a file reaches the terminal raw
    return text if len(text) <= 80 else text[:77] + "..."


def _reason(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"is out of range (must be at least {ctx['ge']})"
    if kind == "greater_than":
        return f"is out of range (must be more than {ctx['gt']})"
    if kind == "less_than_equal":
        return f"is out of range (must be at most {ctx['le']})"
    if kind == "less_than":
        return f"is out of range (must be less than {ctx['lt']})"
    if kind == "finite_number":
        return "must be a finite number, not nan or inf"
    if kind == "int_from_float":
        return "must be a whole number"
    if kind in ("int_parsing", "int_type"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind in ("string_type",):
        return "must be text (in quotes in vidpipe.toml)"
    if kind == "string_pattern_mismatch":
        return f"is not an accepted value (expected {ctx.get('pattern', '')})"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"is not one of {ctx.get('expected', '')}"
    if kind == "extra_forbidden":
        return "is not a setting"
    return error["msg"]
