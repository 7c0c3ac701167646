"""CPU time used by the local database servers, so a benchmark can say what the machine allowed.

A command's own CPU (getrusage of its children) leaves out the servers' work, which shares the
same cores. Read from /proc (Linux):

- PostgreSQL: one process per connection. The postmaster's own and waited-for children's time
  (utime + stime + cutime + cstime) plus every live ``postgres`` child's utime + stime: a
  connection that ends between two readings moves from the second sum to the first.
- MariaDB / MySQL: one process whose utime + stime covers all its threads.

Every PostgreSQL cluster and MariaDB server on the machine is counted: run benchmarks on a quiet
machine (another cluster's work would be taken as this run's).
"""

from __future__ import annotations

import os
from pathlib import Path

SERVER_COMMANDS = frozenset({"postgres", "mariadbd", "mysqld"})
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid_dir: Path) -> tuple[str, int, list[int]] | None:
    """(command name, parent pid, [utime, stime, cutime, cstime] in ticks) of one process."""
    try:
        text = (pid_dir / "stat").read_text()
    except OSError:  # gone meanwhile
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5): ppid is field 4, utime..cstime are fields 14-17.
    return name, int(fields[1]), [int(value) for value in fields[11:15]]


def servers_cpu_seconds() -> float:
    """The CPU seconds every database server process on the machine has used so far."""
    processes = {}
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            stat = _stat(pid_dir)
            if stat is not None and stat[0] in SERVER_COMMANDS:
                processes[int(pid_dir.name)] = stat
    ticks = 0
    for _name, parent, (utime, stime, cutime, cstime) in processes.values():
        ticks += utime + stime
        if parent not in processes:  # a server's root process: its ended children's time too
            ticks += cutime + cstime
    return ticks / _TICKS
