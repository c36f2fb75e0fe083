"""The pipeline stages, in order."""

from __future__ import annotations

from vidpipe.config.settings import Settings
from vidpipe.pipeline.stages.base import Stage


def default_stages(settings: Settings) -> list[Stage]:
    # Imported here so that importing vidpipe.pipeline.stages stays cheap; each stage imports its heavy
    # library (torch, tensorflow, google-genai) only when it runs.
    from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
    from vidpipe.pipeline.stages.detection import DetectionStage
    from vidpipe.pipeline.stages.faces import FaceStage
    from vidpipe.pipeline.stages.prompts import PromptStage
    from vidpipe.pipeline.stages.characters import CharacterStage
    from vidpipe.pipeline.stages.tags import TagStage

    return [
        ContactSheetStage(),
        DetectionStage(),
        FaceStage(),
        PromptStage(),
        TagStage(),
        CharacterStage(),
    ]
