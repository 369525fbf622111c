"""The `Check` type: one named doctor check, a pure function from facts to a finding.

>>> from kbackend.doctor.model import Finding
>>> c = Check("demo", "A demo check", lambda facts: Finding(id="demo", status="ok", title="fine"))
>>> c.id, c.needs
('demo', ())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kbackend._record import record

if TYPE_CHECKING:  # pragma: no cover
    from kbackend.doctor.facts import Facts
    from kbackend.doctor.model import Finding


@record
class Check:
    """A doctor check.

    `func(facts)` returns one `Finding` whose id is `id`; it should not raise (the
    runner turns an exception into status `crashed`). `needs` names the facts the
    check reads, so a run restricted with `--check` skips the probes nobody asked
    for: "backends" (every installed backend probed in a child), "backend" (only
    the configured one), "gpu", "config".
    """

    id: str
    title: str
    func: Callable[[Facts], Finding]
    needs: tuple[str, ...] = ()
