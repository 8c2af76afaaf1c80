"""The store's exceptions, and how a batch's problems become one message."""

from __future__ import annotations

from collections.abc import Sequence

# A message lists at most this many problems: every one for a rate call (500 items at most),
# enough to fix an imported document without drowning the reader.
MAX_LISTED = 500


class ProfileError(ValueError):
    """A profile request could not be carried out; the message says what and how to fix it."""


class ProfileNotFound(ProfileError):
    """The named profile does not exist in this namespace."""


class StoreError(ProfileError):
    """The database itself failed: read-only, corrupt, busy, unreachable or from a newer version."""


def batch_error(problems: Sequence[str], *, action: str = "stored") -> ProfileError:
    """One error listing every problem (up to MAX_LISTED), saying that nothing was `action`."""
    shown = [f"- {p}" for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        shown.append(f"- ... and {len(problems) - MAX_LISTED} more")
    count = f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
    header = f"nothing was {action}: {count} to fix, then send it again"
    return ProfileError("\n".join([header, *shown]))
