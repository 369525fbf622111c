"""Doctor's result model: one finding per check.

A check is a small function: facts in, one `Finding` out (id, status, title,
evidence, fix command, link). Checks never raise; the runner turns an
exception into status `crashed`.
"""

from __future__ import annotations

from typing import Literal

from kbackend._record import Model

Status = Literal["ok", "warn", "error", "skip", "crashed"]
STATUSES = ("ok", "warn", "error", "skip", "crashed")


class Finding(Model):
    id: str
    status: Status
    title: str
    evidence: list[str] = []
    fix: str | None = None
    link: str | None = None
