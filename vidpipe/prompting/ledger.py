"""The project's record of what the vision model billed: one PromptUsage row per response (its
``model`` the backend's cache name: "gemini-2.5-flash", "openai:qwen2.5-vl"), summed per run,
per asset or for the whole project. A model with no price (a local one) adds tokens, no cost."""

from __future__ import annotations

from peewee import fn

from vidpipe.store.models import PromptUsage
from vidpipe.prompting.usage import Price, Usage, cost_usd

USAGE_FIELDS = ("requests", "input_tokens", "output_tokens", "thinking_tokens", "cost_usd")


def record(
    run_id: int | None,
    asset_id: int | None,
    model: str,
    usage: Usage,
    price: Price | None,
    batch: bool = False,
) -> None:
    PromptUsage.create(
        run=run_id,
        asset=asset_id,
        model=model,
        batch=batch,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        thinking_tokens=usage.thinking_tokens,
        cached_tokens=usage.cached_tokens,
        cost_usd=cost_usd(usage, price, batch),
    )


def totals(run_id: int | None = None, asset_id: int | None = None) -> dict:
    """``{requests, input_tokens, output_tokens, thinking_tokens, cost_usd}`` of one run, one
    asset, or (neither given) the whole project. Responses of a model with no known price add
    their tokens but no cost."""
    query = PromptUsage.select(
        fn.COUNT(PromptUsage.id),
        fn.SUM(PromptUsage.input_tokens),
        fn.SUM(PromptUsage.output_tokens),
        fn.SUM(PromptUsage.thinking_tokens),
        fn.SUM(PromptUsage.cost_usd),
    )
    if run_id is not None:
        query = query.where(PromptUsage.run == run_id)
    if asset_id is not None:
        query = query.where(PromptUsage.asset == asset_id)
    row = query.tuples().first() or (0, 0, 0, 0, 0)
    requests, tokens_in, tokens_out, thinking, cost = row
    return {
        "requests": requests or 0,
        "input_tokens": tokens_in or 0,
        "output_tokens": tokens_out or 0,
        "thinking_tokens": thinking or 0,
        "cost_usd": round(cost or 0.0, 6),
    }


def describe(usage: dict) -> str:
    """'12 requests, 7.9k in / 1.8k out / 0 thinking tokens, $0.0069' for people."""
    if not usage.get("requests"):
        return "no model requests"
    return (
        f"{usage['requests']} request(s), {_short(usage['input_tokens'])} in / "
        f"{_short(usage['output_tokens'])} out / {_short(usage['thinking_tokens'])} thinking "
        f"tokens, ${usage['cost_usd']:.4f}"
    )


def _short(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    if count >= 1000:
        return f"{count / 1000:.1f}k"
    return str(count)
