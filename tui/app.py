"""vidpipe-tui: the Textual application.

The app opens the project, watches the database (``PRAGMA data_version``) and the folder
(watchdog) from two background threads that only post messages, and turns every failure of a
worker into a notification: nothing raised by the core or the daemon closes the app.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.binding import Binding

from vidpipe.errors import DatabaseUnreachable
from vidpipe.printable import printable
from vidpipe.errors import VidpipeError, describe_os_error
from vidpipe.store.project import find_project
from tui import messages as msg
from tui.commands import VidpipeCommands
from tui.drafts import DraftStore
from tui.keymap import load_keymap
from tui.writer import Writer

if TYPE_CHECKING:
    from tui.folderwatch import InputFileWatcher
    from vidpipe.config.settings import Settings
    from vidpipe.store.session import ProjectSession

log = logging.getLogger("vidpipe.tui")

POLL_INTERVAL_S = 0.15
DAEMON_CHECK_S = 1.0


class VidpipeApp(App):
    CSS_PATH = Path(__file__).parent / "vidpipe.tcss"  # absolute: subclasses may live anywhere
    TITLE = "vidpipe"
    COMMANDS = App.COMMANDS | {VidpipeCommands}
    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        project_root: Path | str,
        watch_folder: bool = True,
        poll_interval: float = POLL_INTERVAL_S,
        keymap: dict[str, str] | None = None,
        preview_quality: str | None = None,
        writer: Writer | None = None,
    ):
        super().__init__()
        #: low / high / off, or None: from the environment (tui.preview_quality)
        self.preview_quality = preview_quality
        # Found now (a folder that is not a project is an error before the terminal is taken);
        # opened after the first paint: reading the settings and opening the database cost more
        # than drawing the screen (see _open_session).
        self.project = find_project(Path(project_root))
        self.session: ProjectSession | None = None
        self.settings: Settings | None = None
        #: who types here (drafts, edits and review marks carry it): tui.writer
        self.drafts = DraftStore(self.project, writer)
        self.sub_title = printable(self.project.root, one_line=True)
        self.watch_folder = watch_folder
        self.poll_interval = poll_interval
        self._keymap_override = keymap
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._folder_watcher: InputFileWatcher | None = None
        self.main_screen = None
        #: why the project could not be opened (the app then exits with status 2)
        self.failure: str | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def get_default_screen(self):
        from tui.screens.main import MainScreen

        self.main_screen = MainScreen()
        return self.main_screen

    def on_mount(self) -> None:
        keymap, problem = (
            (self._keymap_override, None) if self._keymap_override is not None else load_keymap()
        )
        if keymap:
            self.set_keymap(keymap)
        if problem:
            self.notify(problem, title="Keymap", severity="warning", timeout=15)
        # The project opens once the first screen is out; the grid, the database poller and
        # the folder watcher start when it is open.
        self.call_after_refresh(self._open_session)

    @work(thread=True, exit_on_error=False, group="session")
    def _open_session(self) -> None:
        from vidpipe.store.models import db
        from vidpipe.store.session import open_project

        try:
            session = open_project(self.project.root)
        except (VidpipeError, OSError) as exc:
            # Said by tui.main once the terminal is back, on one line as before the paint.
            self.failure = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
            self.call_from_thread(self.exit, None, 2)
            return
        finally:
            db.close()  # this thread's connection; each worker opens its own
        self.call_from_thread(self._session_opened, session)

    def _session_opened(self, session: ProjectSession) -> None:
        self.session, self.settings = session, session.settings
        if self._stop.is_set():  # quit before the project was open
            session.close()
            return
        self.drafts.open_session()
        self._announce_drafts()
        if self.main_screen is not None:
            self.main_screen.post_message(msg.SessionOpened())
        self.call_after_refresh(self._start_watching)

    @work(thread=True, exit_on_error=False, group="drafts")
    def _announce_drafts(self) -> None:
        """This person's drafts (and $EDITOR text) left by an ended session, by asset name."""
        from vidpipe.store.models import Asset, db

        ids, problems = self.drafts.check_all()
        for problem in problems:
            self.call_from_thread(
                self.notify, problem, title="Draft ignored", severity="warning", timeout=10
            )
        if not ids:
            return
        with db.connection_context():
            names = [
                f"{tag or '—'} {name}"
                for tag, name in Asset.select(Asset.manifest_tag, Asset.name)
                .where(Asset.id.in_(sorted(ids)))
                .order_by(Asset.manifest_tag, Asset.name)
                .tuples()
            ]
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            self.call_from_thread(
                self.notify,
                f"Your unsaved text from an earlier session: {shown}. Open the "
                "asset with e to restore it.",
                title="Drafts",
                timeout=10,
            )

    def _start_watching(self) -> None:
        if self._stop.is_set() or self._poller is not None:
            return
        self._poller = threading.Thread(
            target=self._poll_database, name="vidpipe-tui-poll", daemon=True
        )
        self._poller.start()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity="information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification, from any screen or worker, is plain text: messages quote file
        names, asset names and errors from the project, never markup, never raw escapes."""
        super().notify(
            printable(message),
            title=printable(title, one_line=True),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def on_notice(self, message: msg.Notice) -> None:
        self.notify(message.text, title=message.title, severity=message.severity)

    def _start_folder_watch(self) -> None:
        """In the poller thread: importing watchdog and watching every folder takes a while."""
        from tui.folderwatch import InputFileWatcher

        def seen(appeared: bool, relative: str) -> None:
            screen = self.main_screen
            if screen is not None:
                screen.post_message(
                    msg.FilesChanged([relative] if appeared else [], [] if appeared else [relative])
                )

        try:
            watcher = InputFileWatcher(self.project, seen)
            watcher.start()
            self._folder_watcher = watcher
        except OSError as exc:  # e.g. the inotify watch limit
            self.post_message(
                msg.Notice(
                    f"Cannot watch the folder ({exc}); new files appear once ingested.",
                    severity="warning",
                )
            )

    def on_unmount(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=2)
        if self._folder_watcher is not None:
            self._folder_watcher.stop()
        if self.session is not None:
            self.session.close()
        self.drafts.close_session()

    # -- the database watcher thread -------------------------------------------------------------
    def _poll_database(self) -> None:
        from vidpipe.store.models import db
        from tui.dbwatch import DataVersionWatcher

        if self.watch_folder:
            self._start_folder_watch()
        watcher = DataVersionWatcher(self.session.database)
        check_daemons = self._daemon_check()
        next_daemon_check = 0.0
        problem: str | None = None  # what is shown while the database does not answer
        try:
            with db.connection_context():
                while not self._stop.is_set():
                    try:
                        if watcher.changed() and self.main_screen is not None:
                            self.main_screen.post_message(msg.DatabaseChanged())
                        now = self._monotonic()
                        if now >= next_daemon_check and self.main_screen is not None:
                            next_daemon_check = now + DAEMON_CHECK_S
                            self.main_screen.post_message(msg.DaemonChecked(check_daemons()))
                    except Exception as exc:  # a locked or vanished file, a server away
                        # Said once when it starts and once when it ends: the poll retries
                        # every few hundred ms, the screen and the log must not.
                        text = (
                            str(exc)
                            if isinstance(exc, DatabaseUnreachable)
                            else f"database poll failed: {exc}"
                        )
                        if problem is None:
                            log.warning("%s; retrying", text)
                            self._post_to_screen(msg.DatabaseReachability(text))
                        problem = text
                    else:
                        if problem is not None:
                            problem = None
                            log.info("the database answers again")
                            self._post_to_screen(msg.DatabaseReachability(None))
                            next_daemon_check = 0.0
                    self._stop.wait(self.poll_interval)
        finally:
            watcher.close()

    def _post_to_screen(self, message) -> None:
        if self.main_screen is not None:
            self.main_screen.post_message(message)

    def _daemon_check(self):
        """How the daemons are asked about: with a shared (Redis) queue several may serve the
        project from several machines and each heartbeats in the database; otherwise the one
        daemon holds the project's lock file."""
        from vidpipe.config.queues import shared_queue
        from vidpipe.ops import daemon_registry
        from vidpipe.ops.daemon_state import daemon_status

        if shared_queue(self.settings.queue_url):
            return daemon_registry.team_status
        return lambda: daemon_status(self.project)

    @staticmethod
    def _monotonic() -> float:
        import time

        return time.monotonic()

    # -- actions ---------------------------------------------------------------------------------
    def action_command_palette(self) -> None:
        """Not over a question or an editor: an action chosen there would act behind it, and
        the question would stay, answering for something else."""
        from textual.screen import ModalScreen

        if isinstance(self.screen, ModalScreen):
            self.bell()
            return
        super().action_command_palette()

    def action_help(self) -> None:
        from tui.screens.characters import CharactersScreen
        from tui.screens.editor import AssetEditorScreen, LongText
        from tui.screens.help import HelpScreen
        from tui.screens.main import MainScreen
        from tui.widgets.asset_table import AssetTable

        sections = [
            ("Everywhere", list(self.BINDINGS)),
            ("Asset grid and jobs", list(MainScreen.BINDINGS) + list(AssetTable.BINDINGS)),
            ("Editor", list(AssetEditorScreen.BINDINGS) + list(LongText.BINDINGS)),
            ("Characters (K)", list(CharactersScreen.BINDINGS)),
        ]
        self.push_screen(HelpScreen(sections, dict(self._keymap)))
