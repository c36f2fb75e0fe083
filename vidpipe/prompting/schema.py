"""The structured answer asked of the model, validated on arrival."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["MAX_DESCRIPTION_CHARS", "MAX_PROMPT_CHARS", "ReversePrompt", "ValidationError"]

#: Far above what is asked (40-80 words; two to four sentences). An answer beyond is not a
#: prompt, and text that long stalls every view that shows it.
MAX_PROMPT_CHARS = 4_000
MAX_DESCRIPTION_CHARS = 8_000


class ReversePrompt(BaseModel):
    """What the model returns for one image (also sent as ``response_schema``)."""

    model_config = ConfigDict(extra="ignore")

    reverse_prompt: str = Field(
        description="A text-to-image prompt that would recreate this reference: subject, "
        "appearance, clothing or materials, pose, setting, lighting, camera, style."
    )
    visual_description: str = Field(
        description="Two to four plain sentences describing what is visible, for a person "
        "reviewing the manifest."
    )
    quality_score: float = Field(
        ge=0,
        le=10,
        description="How usable the image is as a generation reference, 0 (unusable: blurred, "
        "cut off, tiny) to 10 (sharp, well lit, subject fully visible).",
    )

    @field_validator("reverse_prompt", "visual_description")
    @classmethod
    def _not_blank(cls, value: str, info) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        limit = MAX_PROMPT_CHARS if info.field_name == "reverse_prompt" else MAX_DESCRIPTION_CHARS
        if len(value) > limit:
            raise ValueError(f"is {len(value):,} characters long, over the {limit:,} vidpipe keeps")
        return value
