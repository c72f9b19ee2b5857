"""Trials on this machine: each a ``charrnn train`` process, started and
watched by a thread of the sweep, as many at once as there are slots."""

import os
import queue
import threading

from ..kernels.threads import default_threads
from . import trial


def default_jobs(threads):
    """Trials at once on this machine: one per ``threads`` of its CPUs."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // (threads or default_threads()))


class LocalTrials:
    def __init__(self, corpus, jobs):
        self.corpus, self.jobs = corpus, jobs
        self.events = queue.Queue()  # ("validation", number, obj) and ("done", number, result)
        self._stops = {}

    def describe(self):
        return f"on this machine, {self.jobs} at a time"

    def slots(self):
        return self.jobs

    def submit(self, number, run_dir, args):
        stop = self._stops[number] = threading.Event()

        def work():
            try:
                outcome = trial.run(
                    self.corpus,
                    run_dir,
                    args,
                    lambda obj: self.events.put(("validation", number, obj)),
                    stop.is_set,
                )
            except Exception as e:  # noqa: BLE001 -- any failure is the trial's, reported
                outcome = trial.Outcome("failed", error=f"{type(e).__name__}: {e}")
            self.events.put(
                ("done", number, {"outcome": outcome, "files": {}, "where": "this machine"})
            )

        threading.Thread(target=work, name=f"trial-{number}", daemon=True).start()

    def next_event(self, timeout):
        """The next ("validation" | "done", number, payload), or None after ``timeout`` s."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self, number):
        if number in self._stops:
            self._stops[number].set()

    def stop_all(self):
        for event in self._stops.values():
            event.set()

    def close(self):
        self.stop_all()
