#!/usr/bin/env bash
# The light install a reviewer gets from `pip install vidpipe` (no extras), checked in a fresh
# venv: init, process (the vision stages skip, naming vidpipe[vision]), status, export, and
# vidpipe-tui's first screen (Textual's headless pilot), with no torch, tensorflow,
# ultralytics, deepface, google-genai, psycopg2 or redis installed. Prints the venv's size.
# Slow (a fresh pip install), so `make check-light` runs it, not `make test`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/vidpipe-light-XXXXXX)"
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$repo"
bin="$work/venv/bin"
for heavy in torch tensorflow ultralytics deepface google.genai openai psycopg2 redis; do
    if "$bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('${heavy%%.*}') is None)"; then
        echo "FAIL: $heavy is installed in the light venv" >&2
        exit 1
    fi
done
project="$work/project"
"$bin/vidpipe" init "$project" >/dev/null
"$bin/python" -c "
from PIL import Image
for i in range(3):
    Image.new('RGB', (320, 240), (60 * i, 120, 200)).save('$project/img%d.jpg' % i)"
processed="$("$bin/vidpipe" process "$project")"
grep -q "pip install 'vidpipe\[vision\]'" <<<"$processed"
"$bin/vidpipe" status "$project" >/dev/null
"$bin/vidpipe" export "$project" -o "$work/export.json" >/dev/null
"$bin/python" - "$project" <<'PY'
import asyncio
import sys

from tui.app import VidpipeApp


async def main() -> None:
    app = VidpipeApp(sys.argv[1], keymap={}, watch_folder=False)
    async with app.run_test(size=(160, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.main_screen.table.row_count == 3:
                break
        assert app.main_screen.table.row_count == 3, "the TUI did not show the 3 assets"
    heavy = sorted(m for m in ("torch", "tensorflow", "ultralytics", "deepface") if m in sys.modules)
    assert not heavy, heavy


asyncio.run(main())
PY
echo "light install OK: $(du -sh "$work/venv" | cut -f1) (vidpipe, vidpipe-tui, vidpipe-daemon; no ML stack)"
