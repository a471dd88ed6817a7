"""Waiver expiry, decided in exactly one place.

A waiver is valid up to and including its ``expires_at`` date and expired from the next
day: waived on ``expires_at - 1 day`` and on ``expires_at``, failing (plus a waiver-expired
finding) on ``expires_at + 1 day``. The facts builder, the outcome logic and the reports all
call :func:`waiver_expired`; nothing else compares waiver dates.
"""

from __future__ import annotations

import datetime as dt


def waiver_expired(expires_at: dt.date, as_of: dt.date) -> bool:
    return as_of > expires_at
