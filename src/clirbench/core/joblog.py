"""A job's log file: where its messages, progress bars and tracebacks go.

Workflow scripts redirect standard error to the rule's `log:` file before they import the
library (so an import error is logged too), then call `start_logging` to send the library's
`logging` messages there as well. The console then sees nothing of the job until it ends;
a long loop tells it how it moves through `clirbench.core.console_progress`, which writes
to the original standard error (`sys.__stderr__`).
"""

from __future__ import annotations

import logging
import sys


def start_logging() -> None:
    """Log INFO and above, with times, to standard error (the job's log file)."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )
