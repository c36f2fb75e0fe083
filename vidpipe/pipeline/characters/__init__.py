"""Characters: one person across the whole project (a face group with a stable handle).

Read them with :func:`list_characters` inside an open project session.
"""

from vidpipe.pipeline.characters.views import (
    CharacterImage,
    CharacterView,
    Role,
    as_json,
    get_character,
    list_characters,
)

__all__ = ["CharacterImage", "CharacterView", "Role", "as_json", "get_character", "list_characters"]
