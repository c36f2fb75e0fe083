"""The five pipeline stages, in order."""

from __future__ import annotations

from vidpipe.config import Settings
from vidpipe.stages.base import Stage


def default_stages(settings: Settings) -> list[Stage]:
    # Imported here so that importing vidpipe.stages stays cheap; each stage imports its heavy
    # library (torch, tensorflow, google-genai) only when it runs.
    from vidpipe.stages.contact_sheet import ContactSheetStage
    from vidpipe.stages.detection import DetectionStage
    from vidpipe.stages.faces import FaceStage
    from vidpipe.stages.prompts import PromptStage
    from vidpipe.stages.tags import TagStage

    return [ContactSheetStage(), DetectionStage(), FaceStage(), PromptStage(), TagStage()]
