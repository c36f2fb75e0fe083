"""Renumbering a manifest's tags on purpose (``vidpipe retag``, the TUI's "Retag" command).

Tags never move by themselves (vidpipe.pipeline.tags). A person who wants the numbering closed
up again asks for a retag: every numbered tag is given again in the seed's order (the parent's
``sort_order``, then detection confidence), per type, from 01. The active assets come first;
removed and failed ones keep a number after them, so they still come back with a tag of their
own. Tags a person chose (``HERO``) are kept.

The old tags are rewritten wherever they stand in the manifest's text (names, descriptions,
prompts, user tags, duplicate marks), in one pass with the whole mapping, so that a swap
(CHAR_01 <-> CHAR_02) does not turn into CHAR_01 twice. Everything is written as one change of
the edit history: one undo takes the whole retag back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vidpipe.errors import VidpipeError
from vidpipe.pipeline.tags import (
    active_assets,
    manifest_assets,
    seed_order,
    tag_prefix,
    used_numbers,
)
from vidpipe.store.edits import last_writer, step_change, write_change
from vidpipe.store.models import (
    TAG_PREFIX,
    Asset,
    Author,
    FieldEdit,
    Manifest,
    Run,
    RunStatus,
    db,
)
from vidpipe.store.numbering import (
    lock_numbering,
    numbered,
    record_high_water,
    split_numbered,
    tag_scope,
)

#: Text fields a retag rewrites (user_tags is a list of such texts).
TEXT_FIELDS = ("name", "description", "reverse_prompt", "visual_description", "user_tags")
CHANGE_KIND = "retag"


@dataclass(frozen=True)
class TagMove:
    """One tagged asset's old and new tag (equal when it keeps its tag)."""

    asset_id: int
    name: str
    old: str
    new: str
    gone: bool  # removed or failed: numbered after the active assets

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class TextRewrite:
    asset_id: int
    field: str
    old: Any
    new: Any


@dataclass
class RetagPlan:
    manifest_id: int
    manifest: str
    moves: list[TagMove] = field(default_factory=list)
    texts: list[TextRewrite] = field(default_factory=list)

    @property
    def changed(self) -> list[TagMove]:
        return [move for move in self.moves if move.changed]

    @property
    def mapping(self) -> dict[str, str]:
        return {move.old: move.new for move in self.changed}


def rewrite_tags(text: str, mapping: dict[str, str]) -> str:
    """``text`` with every old tag of ``mapping`` replaced by its new one, in one pass (a swap
    stays a swap), whole tags only (CHAR_1 is not the start of CHAR_10)."""
    if not mapping or not text:
        return text
    names = "|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True))
    pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{names})(?![A-Za-z0-9_])")
    return pattern.sub(lambda match: mapping[match.group(0)], text)


def _rewritten(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [rewrite_tags(item, mapping) if isinstance(item, str) else item for item in value]
    return rewrite_tags(value, mapping) if isinstance(value, str) else value


def _renumbered(asset: Asset) -> bool:
    """A tag retag gives again: a numbered tag of one of the type prefixes."""
    parsed = split_numbered(asset.manifest_tag)
    return parsed is not None and parsed[0] in TAG_PREFIX.values()


def plan_retag(manifest: Manifest) -> RetagPlan:
    """What a retag of ``manifest`` would do now, without writing anything."""
    rows = manifest_assets(manifest)
    by_id = {a.id: a for a in rows}
    active = active_assets(rows)
    active_ids = {a.id for a in active}
    gone = [a for a in rows if a.id not in active_ids]
    # Numbers held by a tag a person chose (CHAR_07 typed by hand is renumbered like any
    # other; HERO holds no number) are not in the way of anyone.
    counters: dict[str, int] = {}
    plan = RetagPlan(manifest.id, manifest.name)
    for group, is_gone in ((active, False), (gone, True)):
        for asset in seed_order([a for a in group if _renumbered(a)], by_id):
            prefix = tag_prefix(asset.asset_type)
            counters[prefix] = counters.get(prefix, 0) + 1
            plan.moves.append(
                TagMove(
                    asset.id,
                    asset.name,
                    asset.manifest_tag,
                    numbered(prefix, counters[prefix]),
                    is_gone,
                )
            )
    mapping = plan.mapping
    if mapping:
        for asset in rows:
            for name in TEXT_FIELDS:
                old = getattr(asset, name)
                new = _rewritten(old, mapping)
                if new != old:
                    plan.texts.append(TextRewrite(asset.id, name, old, new))
    return plan


def plan_retags(manifests: list[Manifest]) -> list[RetagPlan]:
    return [plan_retag(manifest) for manifest in manifests]


def apply_retag(
    manifests: list[Manifest],
    expected: list[RetagPlan] | None = None,
) -> tuple[list[RetagPlan], str | None]:
    """Retag ``manifests`` as one recorded change; returns (the plans applied, the change id,
    None when nothing changed). With ``expected`` (the plans a person saw), refuses if a
    manifest changed since, rather than apply something else than what was shown."""
    with db.atomic():
        lock_numbering()
        _refuse_while_running(manifests)
        plans = plan_retags(manifests)
        if expected is not None and [(p.moves, p.texts) for p in plans] != [
            (p.moves, p.texts) for p in expected
        ]:
            raise VidpipeError(
                "the tags or texts changed since the preview; look at the new "
                "preview and retag again"
            )
        edits: list[tuple[int, str, Any, Any, Author]] = []
        for plan in plans:
            edits += [
                (move.asset_id, "manifest_tag", move.old, move.new, Author.USER)
                for move in plan.changed
            ]
            for text in plan.texts:
                # The text stays its writer's (an AI prompt may still be replaced by a new AI
                # answer; a person's text stays protected): only the tag names in it changed.
                author = last_writer(text.asset_id, text.field) or Author.SYSTEM
                edits.append((text.asset_id, text.field, text.old, text.new, author))
        if not edits:
            return plans, None
        change = write_change(CHANGE_KIND, edits)
        for manifest in manifests:
            _reset_high_waters(manifest)
    return plans, change


def _refuse_while_running(manifests: list[Manifest]) -> None:
    """A job running on a manifest is writing prompts that name the tags it read: a retag now
    would leave its answers naming the old ones."""
    running = list(
        Manifest.select(Manifest.name)
        .join(Run)
        .where(Manifest.id.in_([m.id for m in manifests]), Run.status == RunStatus.RUNNING)
        .distinct()
    )
    if running:
        names = ", ".join(sorted(m.name for m in running))
        raise VidpipeError(
            f"a job is running on {names}: retag once it has finished (or "
            "cancel it); its prompts name the tags it started with"
        )


def _reset_high_waters(manifest: Manifest) -> None:
    """Closing the holes is the point of a retag: the next new asset follows the new numbers."""
    used = used_numbers(manifest_assets(manifest))
    for prefix in set(TAG_PREFIX.values()):
        record_high_water(tag_scope(manifest.id), prefix, max(used.get(prefix, {0})), lower=True)


def last_retag(manifests: list[Manifest]) -> str | None:
    """The change id of the newest retag of these manifests that is not undone."""
    row = (
        FieldEdit.select(FieldEdit.change)
        .join(Asset)
        .where(
            Asset.manifest.in_([m.id for m in manifests]),
            FieldEdit.change.startswith(f"{CHANGE_KIND}-"),
            FieldEdit.undone == False,  # noqa: E712
        )
        .order_by(FieldEdit.id.desc())
        .first()
    )
    return row.change if row else None


def undo_retag(manifests: list[Manifest]) -> list[FieldEdit]:
    """Undo the newest retag of these manifests (every tag and text it changed, in every
    manifest it covered); returns its tag edits, as they were before the undo."""
    change = last_retag(manifests)
    if change is None:
        raise VidpipeError("no retag to undo")
    with db.atomic():
        lock_numbering()
        edits = step_change(change, undoing=True)
    return [edit for edit in edits if edit.field == "manifest_tag"]


def preview_lines(plans: list[RetagPlan]) -> list[str]:
    """old → new for every tagged asset, per manifest: what the CLI prints and the TUI shows."""
    lines = []
    for plan in plans:
        lines.append(
            f"manifest {plan.manifest}: {len(plan.changed)} of {len(plan.moves)} "
            f"tag(s) change, {len(plan.texts)} text field(s) rewritten"
        )
        for move in plan.moves:
            note = "" if move.changed else "  (unchanged)"
            if move.gone:
                note += "  (removed or failed)"
            lines.append(f"  {move.old:>10} → {move.new:<10} {move.name}{note}")
    return lines
