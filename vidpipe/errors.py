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


class ModelUnavailable(VidpipeError):
    """A model (weights, API key) a stage needs is not available; the message says how to fix it."""


class StageSkipped(VidpipeError):
    """Raised by a stage that cannot run at all; the engine records it as skipped with this reason."""


class RunCancelled(VidpipeError):
    """A person asked for the run to stop; work finished so far is kept."""


class EditError(VidpipeError, ValueError):
    """A person's edit that cannot be applied: unknown asset or field, or a value the field cannot
    hold. A ValueError too, since it is one: callers validating input may catch either."""
