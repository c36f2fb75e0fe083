"""One error root for everything vidpipe raises on purpose.

Each subclass carries a message written for the person at the terminal: front ends show
``str(error)`` as it is, without a traceback.
"""


class VidpipeError(Exception):
    """Base of every error vidpipe raises deliberately."""


class ConfigError(VidpipeError):
    """vidpipe.toml or a VIDPIPE_* variable holds a value that cannot be used."""


class ProjectError(VidpipeError):
    """The project folder is missing, not initialised, or not usable."""


class ImageError(VidpipeError):
    """One file cannot be used as an image; the message says why, specifically."""


class UnsafeStoredPath(ImageError, ProjectError):
    """A file path read from the project database leads outside the project folder (the
    database travels with the folder and is input like any other file)."""


class ModelUnavailable(VidpipeError):
    """A model (weights, API key) a stage needs is not available; the message says how to fix it."""


class StageSkipped(VidpipeError):
    """Raised by a stage that cannot run at all; the engine records it as skipped with this reason."""


class RunStopped(VidpipeError):
    """The run stops before its end; work finished so far is kept."""


class RunCancelled(RunStopped):
    """A person asked for the run to stop."""


class RunInterrupted(RunStopped):
    """The process running it is shutting down; the run resumes on the next start."""


class DiskFull(RunInterrupted):
    """The disk holding the project is full (a file or the database could not be written).
    What was written before is intact; a run stops INTERRUPTED and resumes where it stopped
    once space is freed, instead of failing item after item."""


class EditError(VidpipeError, ValueError):
    """A person's edit that cannot be applied: unknown asset or field, or a value the field cannot
    hold. A ValueError too, since it is one: callers validating input may catch either."""


def describe_os_error(exc: OSError) -> str:
    """``[Errno 13] Permission denied: 'x'`` as a person would say it: "x: permission denied"."""
    what = (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)
    names = [name for name in (exc.filename, exc.filename2) if name is not None]
    if not names:
        return what
    return " → ".join(str(name) for name in names) + f": {what}"


class DatabaseUnreachable(VidpipeError):
    """The database server cannot be reached (restarting, failing over, the network down), or
    the connection dropped inside a transaction (which the server then rolled back). The work
    in hand stops; it is retried whole once the server answers again."""


class LeaseLost(RunStopped):
    """This process no longer holds the lease of the run it works on (another process took the
    run over, or the lease ran out): the database refused the run's write; nothing more of this
    process's work on the run is written."""
