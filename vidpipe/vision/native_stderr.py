"""TensorFlow's start-up lines ("All log messages before absl::InitializeLog() is called ...",
"Could not find cuda drivers ...") come from C++ straight to file descriptor 2, past
TF_CPP_MIN_LOG_LEVEL and Python's logging. While a model stack loads, descriptor 2 points at a
temporary file instead; what was written there goes to the debug log (``vidpipe-daemon
--verbose`` and its log file show it), not to the terminal of ``make demo`` or the daemon."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger(__name__)


@contextmanager
def native_stderr_to_log(what: str) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            written = capture.read().decode(errors="replace").strip()
            if written:
                log.debug("%s wrote while loading:\n%s", what, written)
