"""The CPUs this process may use, and how busy other processes keep them.

A choice of threads (kernels/threads.py) rests on what other programs did on
our CPUs lately: /proc/stat's busy ticks of those CPUs less /proc/self/stat's
ticks of this process, over a window of at least MIN_WINDOW seconds.  No
Numba here: charrnn/__init__ starts the meter when charrnn is imported.
"""

import os
import time

MIN_WINDOW = 0.2  # seconds of CPU accounting a choice is based on, at the least
# A thread more only with this much of a CPU free for it: a second thread
# beside a partly busy core waits at every barrier.
SPARE_FOR_A_THREAD = 0.7
# One --threads for every command that computes (train, sample, eval, viz).
THREADS_HELP = "CPU threads; the results are the same for any number."
THREADS_DEFAULT = "one a free CPU, at most 2, weighed again as the load changes"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def usable_cpus():
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def _busy_ticks(cpus):
    """CPU ticks spent busy (not idle, not waiting for I/O) on ``cpus`` since
    boot, from /proc/stat; time given to niced processes counts as free
    unless this process is niced itself (a niced process yields to us)."""
    niced_counts = os.getpriority(os.PRIO_PROCESS, 0) > 0
    wanted, busy = {f"cpu{c}" for c in cpus}, 0
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name in wanted:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
                busy += user + system + irq + softirq + steal + (nice if niced_counts else 0)
    return busy


def _own_ticks():
    """CPU ticks this process (all its threads) has used, from /proc/self/stat."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


class LoadMeter:
    """The CPUs' worth of time that other processes used on this process's
    CPUs between two readings: the busy ticks of those CPUs less this
    process's own.  None where /proc cannot be read (not Linux)."""

    def __init__(self):
        self.cpus = usable_cpus()
        self.last = self._reading()
        self.chosen = None  # free_threads' last answer

    def _reading(self):
        try:
            return time.monotonic(), _busy_ticks(self.cpus), _own_ticks()
        except (OSError, ValueError, IndexError):
            return None

    def others(self, min_window=MIN_WINDOW):
        """Other processes' CPUs since the last reading (waiting until
        ``min_window`` seconds have passed), and start a new window."""
        if self.last is None:
            return None
        waited = time.monotonic() - self.last[0]
        if waited < min_window:
            time.sleep(min_window - waited)
        now = self._reading()
        if now is None:
            return None
        (t0, busy0, own0), (t1, busy1, own1) = self.last, now
        self.last = now
        elapsed_ticks = max((t1 - t0) * CLOCK_TICKS, 1e-9)
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / elapsed_ticks

    def free_threads(self, most=None):
        """Threads to run now: one a free CPU, at most ``most`` (default: the
        CPUs).  Asked again within MIN_WINDOW (a script sampling in a loop),
        the last answer, with no wait."""
        most = most or len(self.cpus)
        if self.chosen and self.last and time.monotonic() - self.last[0] < MIN_WINDOW:
            return min(self.chosen, most)
        others = self.others()
        if others is None:
            return most
        free = len(self.cpus) - others
        self.chosen = max(1, min(most, int(free + 1 - SPARE_FOR_A_THREAD)))
        return self.chosen


# Started when charrnn is imported: the first choice of a command weighs the
# load while the command started up (imports, loading), with no wait of its own.
METER = LoadMeter()
