"""`TURNIX_LOG=debug|info`: turn on the SDK's logging without touching the app's code.

Like `OPENAI_LOG`: read when a client is constructed. It sets the level of the
`turnix_async` logger and, unless the application already has logging handlers,
adds one stderr handler; never a second one, however many clients are made.
"""

from __future__ import annotations

import logging
import os

__all__ = ["LOG_ENV", "configure_from_env"]

LOG_ENV = "TURNIX_LOG"
HANDLER_NAME = "turnix_async.TURNIX_LOG"  # how the handler added here is recognised

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


def configure_from_env() -> None:
    """Apply `TURNIX_LOG` (unset or empty: do nothing).

    Raises:
        ValueError: a value other than `debug` or `info` (any case).
    """
    value = os.environ.get(LOG_ENV)
    if not value:
        return
    level = _LEVELS.get(value.strip().lower())
    if level is None:
        raise ValueError(f"the {LOG_ENV} environment variable must be debug or info, not {value!r}")
    logger = logging.getLogger("turnix_async")
    logger.setLevel(level)
    if logger.hasHandlers():  # ours from before, or the application's: they print the records
        return
    handler = logging.StreamHandler()  # stderr
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
