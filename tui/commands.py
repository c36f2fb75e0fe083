"""Rare actions in the command palette (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.widgets.asset_table import COLUMNS


def main_commands(screen) -> list[tuple[str, str, object]]:
    """(title, help, callback) for the main screen."""
    commands = [
        (
            "Process manifest: missing work",
            "Run every stage on what is not done yet",
            partial(screen.action_process, "missing"),
        ),
        (
            "Process manifest: redo all",
            "Redo every stage for every asset (asks first)",
            partial(screen.action_process, "all"),
        ),
        (
            "Reprocess selected, overwriting edits",
            "AI output replaces person edits (they stay in the history)",
            partial(screen.action_reprocess, True),
        ),
        (
            "Cancel running job",
            "Stop the job at its next item; finished work is kept",
            screen.action_cancel_job,
        ),
        (
            "Show errors of this manifest",
            "Unreadable files and failed stages (E)",
            screen.action_show_errors,
        ),
        (
            "Show errors of the whole project",
            "Every manifest's unreadable files and failed stages",
            screen.action_show_project_errors,
        ),
        (
            "Start daemon",
            "Start vidpipe-daemon for this project in the background",
            screen.action_start_daemon,
        ),
        ("Export manifest", "Write .vidpipe/exports/manifest.json", screen.action_export),
        ("Show contact sheet", "The manifest's contact sheet pages", screen.action_contact_sheet),
        (
            "Characters",
            "Every person of the project: rename, name, describe, pick the primary",
            screen.action_characters,
        ),
        ("Toggle preview", "Show or hide the image preview", screen.action_toggle_preview),
        (
            "Adopt AI suggestions",
            "Take the newest waiting suggestion per field",
            screen.action_adopt,
        ),
        (
            "Merge face groups",
            "Marked faces and the one under the cursor are one person",
            screen.action_merge_faces,
        ),
        (
            "Split face from its group",
            "The face under the cursor is someone else",
            screen.action_split_face,
        ),
        ("Redo edit", "Re-apply the last undone edit of the asset", screen.action_redo),
        (
            "Retag manifest",
            "Renumber tags in manifest order, closing holes (shows old → new first; one undo)",
            screen.action_retag,
        ),
        (
            "Sort in manifest order",
            "Each image, then its crops by confidence (tag order)",
            partial(screen.sort_by, "sort_order"),
        ),
    ]
    for column in COLUMNS:
        commands.append(
            (
                f"Sort by {column.label.lower() or column.key}",
                f"Sort the grid by {column.key}",
                partial(screen.sort_by, column.key),
            )
        )
    for title, help_text, action in getattr(screen, "extra_commands", lambda: [])():
        commands.append((title, help_text, action))
    return commands


class VidpipeCommands(Provider):
    def _commands(self):
        from tui.screens.main import MainScreen

        screen = getattr(self.app, "main_screen", None)
        return main_commands(screen) if isinstance(screen, MainScreen) else []

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
