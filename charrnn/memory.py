"""How much memory this process may still take, and the refusal of work that
would need more: a training run's activations, a beam search's beams.

The figure is the smaller of what the kernel says is available without
swapping (MemAvailable in /proc/meminfo) and the limit of the process's
control group (cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``, the
limit a container runs under) less what the group already uses.  Where
neither can be read (not Linux), nothing is refused.
"""

import os

from .errors import CharrnnError

CGROUP_ROOT = "/sys/fs/cgroup"


def available_bytes():
    """The memory this process may still allocate, in bytes, or None when unknown."""
    figures = [meminfo_available(), *cgroup_limits()]
    known = [f for f in figures if f is not None]
    return min(known) if known else None


def meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cgroup_limits():
    """What the memory limits of this process's control groups leave, in bytes:
    each limit less its group's usage (v2 and v1, at the process's own group and
    at the root of the mount, as a container sees it); "max" or an absent file
    is no limit."""
    groups = [  # (limit file, usage file)
        (os.path.join(CGROUP_ROOT, "memory.max"), os.path.join(CGROUP_ROOT, "memory.current")),
        (
            os.path.join(CGROUP_ROOT, "memory", "memory.limit_in_bytes"),
            os.path.join(CGROUP_ROOT, "memory", "memory.usage_in_bytes"),
        ),
    ]
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:  # "0::/path" (v2), "4:memory:/path" (v1)
                _, controllers, path = line.rstrip("\n").split(":", 2)
                path = path.lstrip("/")
                if controllers == "":
                    group = os.path.join(CGROUP_ROOT, path)
                    groups.append((f"{group}/memory.max", f"{group}/memory.current"))
                elif "memory" in controllers.split(","):
                    group = os.path.join(CGROUP_ROOT, "memory", path)
                    groups.append(
                        (f"{group}/memory.limit_in_bytes", f"{group}/memory.usage_in_bytes")
                    )
    except (OSError, ValueError):
        pass
    left = []
    for limit_file, usage_file in groups:
        limit = read_bytes(limit_file)
        if limit is not None:
            left.append(max(0, limit - (read_bytes(usage_file) or 0)))
    return left


def read_bytes(name):
    """The number in a cgroup file, or None (absent, unreadable, or "max")."""
    try:
        with open(name) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def check_memory(needed, what, hint):
    """Refuse ``what`` (a phrase: "this run's activations") when it ``needed``
    more bytes than this process may still take; ``hint`` says what to lower."""
    available = available_bytes()
    if available is not None and needed > available:
        raise CharrnnError(
            f"{what} would take {gigabytes(needed)} of memory, more than the "
            f"{gigabytes(available)} available here; {hint}"
        )


def gigabytes(n):
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"
