"""Hold a process to a fixed share of one CPU, as a PaaS dyno or a container
limit does, so a scale-out benchmark on one small machine can give each
worker a CPU of its own instead of all of them sharing the machine's cores
with Postgres, `web` and the fakes.

Uses the kernel's CFS quota: a cgroup per process under the cgroup v2 tree
(`cpu.max`) or the v1 `cpu` controller (`cpu.cfs_quota_us`). Needs write
access to /sys/fs/cgroup (root in a container usually has it); `CpuShares`
raises `CpuShareUnavailable` saying why otherwise. The cgroups are removed on
exit (a cgroup can only be removed once its processes have left it).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

PERIOD_US = 100_000
V2_ROOT = Path("/sys/fs/cgroup")
V1_CPU = Path("/sys/fs/cgroup/cpu")


class CpuShareUnavailable(RuntimeError):
    pass


class CpuShares:
    """`limit(pid, cpus)`: `pid` may use `cpus` (e.g. 0.4) of one CPU from now on."""

    def __init__(self) -> None:
        if (V2_ROOT / "cgroup.controllers").exists():
            self._root, self._v2 = V2_ROOT, True
            if "cpu" not in (V2_ROOT / "cgroup.subtree_control").read_text().split():
                raise CpuShareUnavailable("cgroup v2 without the cpu controller enabled for children")
        elif (V1_CPU / "cpu.cfs_quota_us").exists():
            self._root, self._v2 = V1_CPU, False
        else:
            raise CpuShareUnavailable("no cgroup cpu controller at /sys/fs/cgroup")
        if not os.access(self._root, os.W_OK):
            raise CpuShareUnavailable(f"{self._root} is not writable (run as root, or give this user a delegated cgroup)")
        self._made: list[Path] = []

    def limit(self, pid: int, cpus: float) -> None:
        group = self._root / f"travel-planner-bench-{uuid.uuid4().hex[:8]}"
        group.mkdir()
        self._made.append(group)
        quota = max(1000, int(cpus * PERIOD_US))
        if self._v2:
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        (group / "cgroup.procs").write_text(str(pid))  # the process and all its threads

    def close(self) -> None:
        for group in reversed(self._made):
            with contextlib.suppress(OSError):  # a process still inside: it keeps the group until it exits
                for pid in (group / "cgroup.procs").read_text().split():
                    (self._root / "cgroup.procs").write_text(pid)
                group.rmdir()
        self._made.clear()

    def __enter__(self) -> CpuShares:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


__all__ = ["CpuShareUnavailable", "CpuShares"]
