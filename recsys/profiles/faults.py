"""Fault injection: tests kill the process at a named point to prove writes are all-or-nothing."""

from __future__ import annotations

import os
import signal

FAULT_ENV = "MOVIEREC_FAULT"


def fault_point(name: str) -> None:
    """Kill this process outright (SIGKILL: no cleanup runs) when `$MOVIEREC_FAULT` names `name`."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and name in (part.strip() for part in wanted.split(",")):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
