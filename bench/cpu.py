"""CPU time by process group while a path runs, from ``/proc`` (Linux).

On a shared machine a rate moves by 10-30% between runs of the same code; the CPU each request
costs its processes moves much less, so it tells a change from noise. Groups: the API processes
(``omni serve`` and its uvicorn workers), the dispatcher (an ``omni worker``, apart or started by
``omni serve``) and PostgreSQL (every ``postgres`` process: backends, WAL writer, checkpointer).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
API, DISPATCHER, POSTGRES = "API", "dispatcher", "PostgreSQL"


def _read(pid: str) -> tuple[int, int, int, str, list[str]] | None:
    """``(ppid, CPU ticks, its reaped children's CPU ticks, command name, argv)``, or None once
    the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its last ')'.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields from the state (field 3): ppid is field 4, utime and stime are fields 14 and 15,
    # cutime and cstime (children that exited and were waited for) 16 and 17.
    own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
    return int(fields[1]), own, reaped, name, argv


def cpu_seconds(roots: Iterable[int], *, postgres: bool) -> collections.Counter[str]:
    """CPU seconds so far of the process trees under ``roots`` (the API, except for a process
    running ``worker``: the dispatcher) and, with ``postgres``, of PostgreSQL's processes;
    empty without ``/proc``."""
    seen: collections.Counter[str] = collections.Counter()
    if not os.path.isdir("/proc"):
        return seen
    table = {
        int(pid): found
        for pid in os.listdir("/proc")
        if pid.isdigit() and (found := _read(pid)) is not None
    }
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (ppid, *_) in table.items():
        children[ppid].append(pid)
    stack = [(root, False) for root in roots]
    while stack:
        pid, under_worker = stack.pop()
        if pid not in table:
            continue
        _, ticks, _, _, argv = table[pid]
        under_worker = under_worker or "worker" in argv
        seen[DISPATCHER if under_worker else API] += ticks
        stack.extend((child, under_worker) for child in children[pid])
    # A backend that exits (a pool's overflow connection closed) takes its CPU out of the
    # sum: the postmaster, which waits for it, then counts it in its children's time.
    for _, ticks, reaped, name, _ in table.values():
        if postgres and name == "postgres":
            seen[POSTGRES] += ticks + reaped
    return collections.Counter({group: ticks / TICKS for group, ticks in seen.items()})


def per_request(
    before: collections.Counter[str], after: collections.Counter[str], requests: float
) -> str:
    """``API 1.52, dispatcher 0.25, PostgreSQL 0.95 ms`` of CPU a request between two readings."""
    if not after or requests <= 0:
        return ""
    parts = [
        f"{group} {(after[group] - before[group]) * 1000 / requests:.2f}"
        for group in (API, DISPATCHER, POSTGRES)
        if group in after
    ]
    return ", ".join(parts) + " ms"
