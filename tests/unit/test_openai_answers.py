"""Reading an OpenAI-compatible server's answer: the JSON inside whatever a chat model wraps it
in, and the token counts of ``usage`` (reasoning apart from the answer, nonsense dropped)."""

from __future__ import annotations

from types import SimpleNamespace as Namespace

from vidpipe.prompting.openai_backend import json_text, schema_instructions, usage_of
from vidpipe.prompting.schema import ReversePrompt

ANSWER = (
    '{"reverse_prompt": "CHAR_01, a knight", "visual_description": "A knight.", "quality_score": 7}'
)


def test_the_json_is_found_inside_thoughts_fences_and_words():
    for wrapped in (
        ANSWER,
        f"```json\n{ANSWER}\n```",
        f"Sure! Here it is:\n{ANSWER}\nDone.",
        f"<think>The user wants {{json}} about a knight.</think>\n{ANSWER}",
    ):
        assert ReversePrompt.model_validate_json(json_text(wrapped)).quality_score == 7
    assert json_text("no json at all") == "no json at all"  # left for the validator to refuse


def test_usage_counts_reasoning_apart_and_drops_what_is_not_a_count():
    usage = usage_of(
        Namespace(
            usage=Namespace(
                prompt_tokens=300,
                completion_tokens=120,
                completion_tokens_details=Namespace(reasoning_tokens=80),
                prompt_tokens_details=Namespace(cached_tokens=100),
            )
        )
    )
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.thinking_tokens,
        usage.cached_tokens,
    ) == (300, 40, 80, 100)
    bogus = usage_of(Namespace(usage=Namespace(prompt_tokens="many", completion_tokens=10**30)))
    assert bogus.total_tokens == 0
    assert usage_of(Namespace(usage=None)) is None


def test_plain_instructions_carry_the_schema():
    text = schema_instructions(ReversePrompt)
    assert "one JSON object" in text
    assert all(name in text for name in ("reverse_prompt", "visual_description", "quality_score"))
