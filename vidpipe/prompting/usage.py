"""What a model's response cost: its token counts and their price.

Every response carries ``usage_metadata``: prompt tokens (image + text, cached ones included),
candidate tokens (the answer), thought tokens (thinking, billed as output) and cached tokens.
Prices are US dollars per million tokens, per model, from Google's published paid-tier price
list; ``gemini_prices`` in the settings overrides or adds models. The Batch API bills half.
Models behind an OpenAI-compatible server start from an empty table (a local model is free);
``openai_prices`` prices a paid one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

BATCH_DISCOUNT = 0.5  # the Batch API bills half the interactive price


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float  # thinking tokens are billed as output
    cached: float


#: Published paid-tier prices (Gemini API, prompts up to 200k tokens), USD per 1M tokens.
DEFAULT_PRICES: dict[str, Price] = {
    "gemini-2.5-flash": Price(input=0.30, output=2.50, cached=0.03),
    "gemini-2.5-flash-lite": Price(input=0.10, output=0.40, cached=0.01),
    "gemini-2.5-pro": Price(input=1.25, output=10.00, cached=0.125),
    "gemini-2.0-flash": Price(input=0.10, output=0.40, cached=0.025),
    "gemini-2.0-flash-lite": Price(input=0.075, output=0.30, cached=0.01875),
}


#: More tokens than any one response holds (Gemini's largest context is a few million): a
#: count beyond is not a count, and would overflow the database's 64-bit integers.
MAX_TOKENS = 100_000_000


def _tokens(value) -> int:
    """A reported token count, or 0 where it is not one (negative, absurdly large, not a
    whole number): it would show as a negative or astronomical cost."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        if value is not None:
            log.warning("ignored a token count of %.40r from the model's response", value)
        return 0
    return value


@dataclass(frozen=True)
class Usage:
    """Token counts of one response (``input_tokens`` includes ``cached_tokens``)."""

    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_tokens: int = 0

    def __post_init__(self) -> None:
        # The counts come from the model's server: each is checked where it is built.
        for name in ("input_tokens", "output_tokens", "thinking_tokens", "cached_tokens"):
            object.__setattr__(self, name, _tokens(getattr(self, name)))

    @classmethod
    def from_metadata(cls, metadata) -> "Usage | None":
        """From the SDK's ``GenerateContentResponseUsageMetadata``; None when absent."""
        if metadata is None:
            return None
        return cls(
            input_tokens=metadata.prompt_token_count,
            output_tokens=metadata.candidates_token_count,
            thinking_tokens=metadata.thoughts_token_count,
            cached_tokens=metadata.cached_content_token_count,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.thinking_tokens


def price_for(
    model: str, overrides: dict | None = None, table: dict[str, Price] | None = None
) -> Price | None:
    """The price of ``model`` (longest known prefix: "gemini-2.5-flash-preview-05-20" is
    priced as gemini-2.5-flash); None when neither ``table`` (Gemini's published prices by
    default) nor ``overrides`` know it."""
    table = dict(DEFAULT_PRICES if table is None else table)
    for name, value in (overrides or {}).items():
        table[name] = (
            value
            if isinstance(value, Price)
            else Price(
                input=float(value["input"]),
                output=float(value["output"]),
                cached=float(value.get("cached", value["input"])),
            )
        )
    name = model.removeprefix("models/")
    matches = [known for known in table if name == known or name.startswith(known + "-")]
    return table[max(matches, key=len)] if matches else None


def cost_usd(usage: Usage, price: Price | None, batch: bool = False) -> float | None:
    if price is None:
        return None
    fresh_input = max(usage.input_tokens - usage.cached_tokens, 0)
    dollars = (
        fresh_input * price.input
        + usage.cached_tokens * price.cached
        + (usage.output_tokens + usage.thinking_tokens) * price.output
    ) / 1_000_000
    return dollars * (BATCH_DISCOUNT if batch else 1.0)
