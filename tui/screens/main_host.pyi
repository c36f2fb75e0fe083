"""What MainScreen gives the behaviour mixed into it (main_actions, retag), for the type
checker only: the mixins derive from MainHost while type checking and from object at run time."""

from textual.screen import Screen

from tui.app import VidpipeApp
from tui.rows import AssetRow
from tui.snapshot import Snapshot
from tui.widgets.asset_table import AssetTable
from vidpipe.ops.daemon_registry import TeamStatus
from vidpipe.ops.daemon_state import DaemonStatus

class MainHost(Screen[None]):
    app: VidpipeApp
    rows: dict[str, AssetRow]  # key -> row, every tracked row of the manifest on screen
    manifest_id: int | None
    folder: str | None  # the manifest on screen, by folder
    snapshot: Snapshot | None
    daemon: DaemonStatus | TeamStatus | None
    @property
    def table(self) -> AssetTable: ...
    def current_row(self) -> AssetRow | None: ...
    def refresh_snapshot(self) -> None: ...
    def rebuild_table(self) -> None: ...
    def show_details(self) -> None: ...
