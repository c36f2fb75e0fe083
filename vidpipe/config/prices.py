"""The shape of a ``gemini_prices`` table in the settings (vidpipe.prompting.usage prices with it)."""

from __future__ import annotations


def check_prices(overrides: dict) -> None:
    """Raise ValueError naming the first malformed entry of a ``gemini_prices`` table."""
    for name, value in overrides.items():
        if not isinstance(value, dict) or not {"input", "output"} <= set(value):
            raise ValueError(
                f"{name!r} needs input and output prices (USD per 1M tokens), "
                "e.g. {input = 0.3, output = 2.5, cached = 0.03}"
            )
        for key, number in value.items():
            if key not in ("input", "output", "cached"):
                raise ValueError(f"{name!r}: unknown price {key!r} (input, output, cached)")
            if not isinstance(number, (int, float)) or number < 0:
                raise ValueError(f"{name!r}: {key} must be a number >= 0, not {number!r}")
