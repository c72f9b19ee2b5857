"""How much memory this process may still take, and the refusal of work that
would need more: a training run's activations, a beam search's beams.

The figure is the smaller of what the kernel says is available without
swapping (MemAvailable in /proc/meminfo) and the limit of the process's
control group (cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``), the
limit a container runs under.  Where neither can be read (not Linux), nothing
is refused.
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
    """The memory limits of this process's control groups, in bytes (v2 and v1,
    at the process's own group and at the root of the mount, as a container
    sees it); "max" or an absent file is no limit."""
    files = [
        os.path.join(CGROUP_ROOT, "memory.max"),
        os.path.join(CGROUP_ROOT, "memory", "memory.limit_in_bytes"),
    ]
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:  # "0::/path" (v2), "4:memory:/path" (v1)
                _, controllers, path = line.rstrip("\n").split(":", 2)
                path = path.lstrip("/")
                if controllers == "":
                    files.append(os.path.join(CGROUP_ROOT, path, "memory.max"))
                elif "memory" in controllers.split(","):
                    files.append(os.path.join(CGROUP_ROOT, "memory", path, "memory.limit_in_bytes"))
    except (OSError, ValueError):
        pass
    limits = []
    for name in files:
        try:
            with open(name) as f:
                limits.append(int(f.read().strip()))
        except (OSError, ValueError):  # absent, or "max"
            pass
    return limits


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
