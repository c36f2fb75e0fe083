"""Stage 6: characters. For the characters with an image in this manifest: how sharp each image
is, which one is primary, and the canonical description.

The groups themselves were made by the face stage (project-wide, vidpipe.pipeline.characters
.regroup). This stage reads images and may ask the vision model, so it runs last, once the
prompts (the offline summary's material) and tags are written. Idempotent: sharpness is measured
once per crop file, a description only when its images changed (``Character.description_key``).
"""

from __future__ import annotations

from vidpipe.errors import ImageError
from vidpipe.pipeline.characters.describe import describe, due, request_for
from vidpipe.pipeline.characters.regroup import REGROUP_LOCK_KEY, refresh_primaries
from vidpipe.pipeline.characters.roles import sharpness
from vidpipe.pipeline.characters.views import live_images
from vidpipe.pipeline.stages.base import Stage, StageContext, StageName
from vidpipe.prompting.backend_choice import identity, unavailable_reason
from vidpipe.store.database import serialize_writers
from vidpipe.store.models import Asset, AssetState, Character, db


class CharacterStage(Stage):
    name = StageName.CHARACTERS

    def run(self, ctx: StageContext, progress) -> str:
        ids = sorted(
            {
                a.character_id
                for a in Asset.select(Asset.character).where(
                    Asset.manifest == ctx.manifest,
                    Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR]),
                )
                if a.character_id
            }
        )
        images = live_images(ids)
        unmeasured = [
            a for members in images.values() for a in members if a.sharpness is None or ctx.force
        ]
        progress.start(len(unmeasured) + len(ids))
        for asset in unmeasured:
            ctx.check_cancelled()
            progress.item(asset.name)
            try:
                value = sharpness(
                    ctx.project.absolute(asset.file_path),
                    ctx.settings.max_image_pixels,
                    within=ctx.project.root,
                )
            except (OSError, ImageError, ValueError) as exc:
                progress.error(asset, f"{asset.name}: cannot measure sharpness: {exc}")
                value = 0.0
            Asset.update(sharpness=value).where(Asset.id == asset.id).execute()
            asset.sharpness = value
            progress.advance(1)
        with db.atomic():
            serialize_writers(REGROUP_LOCK_KEY)
            refresh_primaries(ids)
        ctx.check_cancelled()
        # The backend the prompts use (Gemini, or the team's own server): images never go to
        # another one.
        backend = identity(ctx.settings)
        offline_reason = unavailable_reason(ctx.settings)
        online = offline_reason is None and bool(backend.model)
        origin = backend.origin if online else "offline"
        requests = []
        for character in list(Character.select().where(Character.id.in_(ids or [0]))):
            request = request_for(
                character,
                images.get(character.id, []),
                origin,
                backend.cache_model if online else "",
            )
            # Offline, a model's description (even of older images) beats a summary.
            if not online and character.description_origin not in (None, "offline"):
                continue
            if due(request) or (ctx.force and request.images):
                requests.append(request)
        written, errors = describe(requests, ctx.project, ctx.settings, ctx.run.id, online)
        for message in errors:
            progress.message(message)
        progress.advance(len(ids))
        failed = f", {len(errors)} failed ({errors[0]})" if errors else ""
        how = "" if online else f" (offline summaries: {offline_reason or 'no openai_model'})"
        return (
            f"{len(ids)} character(s), {len(unmeasured)} image(s) measured, "
            f"{written} description(s) written{how}{failed}"
        )
