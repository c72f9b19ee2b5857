"""Trials on a Dask distributed cluster (``dask scheduler`` and ``dask worker``,
started by the user), one task per trial; each worker thread runs one trial.

Nothing is shared through a filesystem: the corpus goes to the workers as
data, each trial trains into a directory of its worker's own, and its result
and best checkpoint come back with the task's result.  Validation objects
come back as they happen, as events of the task's worker (Worker.log_event),
so the sweep can prune; a stop request is a Dask Event the task polls.

A worker killed in the middle of a trial takes only that attempt with it:
its training process dies with it (lifeline), and the scheduler reruns the
task on another worker.  A task whose sweep has gone (its future released or
cancelled) stops its training process too.
"""

import hashlib
import os
import queue
import shutil
import socket
import tempfile
import time

from ..errors import CharrnnError
from . import trial

RETURNED = ("best.npz", trial.LOG_NAME)  # what comes back into the sweep directory
POLL_SECONDS = 1.0  # a stop request is seen this soon (each poll asks the scheduler)


def run_remote(corpus_bytes, corpus_name, number, args, topic, stop_name):
    """The task of trial ``number`` on a worker."""
    import distributed
    from distributed.worker import thread_state

    worker = distributed.get_worker()
    key = thread_state.key
    root = os.path.join(worker.local_directory, "charrnn-sweep")
    corpus = _cached_corpus(root, corpus_bytes, corpus_name)
    out = tempfile.mkdtemp(prefix=f"trial{number:04d}-", dir=root)
    stop = distributed.Event(stop_name)
    attempt = os.path.basename(out)

    def on_validation(obj):
        worker.log_event(topic, {"trial": number, "attempt": attempt, "validation": obj})

    worker.log_event(topic, {"trial": number, "attempt": attempt})  # which attempt runs

    def stop_requested():
        task = worker.state.tasks.get(key)
        if task is None or task.state in ("cancelled", "released", "forgotten"):
            return True  # the sweep has gone, or given up on this trial
        return stop.is_set()

    try:
        outcome = trial.run(corpus, out, args, on_validation, stop_requested, POLL_SECONDS)
        returned = {}
        for name in RETURNED:
            path = os.path.join(out, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    returned[name] = f.read()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "outcome": outcome,
        "files": returned,
        "where": f"{socket.gethostname()} ({worker.address})",
    }


def _cached_corpus(root, data, name):
    """The corpus as a file on this worker, written once per worker and content."""
    directory = os.path.join(root, "corpora", hashlib.sha256(data).hexdigest()[:16])
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path


class DaskTrials:
    def __init__(self, address, corpus, sweep_id, jobs):
        import distributed

        self._distributed = distributed
        try:
            self.client = distributed.Client(address, timeout="15s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise CharrnnError(
                f"--scheduler {address}: cannot reach the Dask scheduler ({e}); "
                "start one with `dask scheduler` and workers with "
                "`dask worker ADDRESS`"
            ) from None
        self.address, self.jobs, self.sweep_id = address, jobs, sweep_id
        self.events = queue.Queue()
        self.topic = f"charrnn-sweep-{sweep_id}"
        self.client.subscribe_topic(self.topic, self._on_event)
        with open(corpus, "rb") as f:
            data = f.read()
        # on every worker: a worker that dies takes no trial's only copy with it
        self.corpus = self.client.scatter(data, broadcast=True, hash=False)
        self.corpus_name = os.path.basename(corpus)
        self.futures = {}
        self._attempts = {}

    def describe(self):
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        threads = sum(w["nthreads"] for w in workers.values())
        return (
            f"on the Dask cluster at {self.address} ({len(workers)} workers, "
            f"{threads} threads)" + (f", {self.jobs} at a time" if self.jobs else "")
        )

    def slots(self):
        if self.jobs:
            return self.jobs
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return sum(w["nthreads"] for w in workers.values())

    def _stop_name(self, number):
        return f"{self.topic}-stop-{number}"

    def submit(self, number, run_dir, args):
        self._attempts[number] = None
        future = self.client.submit(
            run_remote,
            self.corpus,
            self.corpus_name,
            number,
            args,
            self.topic,
            self._stop_name(number),
            key=f"{self.topic}-trial-{number}",
            pure=False,
        )
        self.futures[number] = future
        future.add_done_callback(lambda f: self.events.put(("done", number, self._result(f))))

    def _result(self, future):
        if future.status == "finished":
            try:
                return future.result()
            except Exception as e:  # noqa: BLE001 -- lost in transit: the trial's failure
                error = e
        elif future.status == "cancelled":
            return {
                "outcome": trial.Outcome("stopped", error="cancelled", stop_requested=True),
                "files": {},
                "where": None,
            }
        else:
            error = future.exception()
        message = f"{type(error).__name__}: {error}"
        if isinstance(error, ImportError):
            raise_later = CharrnnError(
                f"the Dask workers cannot run charrnn ({message}); install "
                "charrnn with its [sweep] extra on every worker"
            )
            return {"fatal": raise_later}
        return {"outcome": trial.Outcome("failed", error=message), "files": {}, "where": None}

    def _on_event(self, event):
        _, msg = event
        number = msg.get("trial")
        if number not in self.futures:
            return
        if self._attempts.get(number) != msg["attempt"]:
            again = self._attempts.get(number) is not None  # a rerun after its worker died
            self._attempts[number] = msg["attempt"]
            self.events.put(("attempt", number, {"attempt": msg["attempt"], "again": again}))
        if "validation" in msg:
            self.events.put(("validation", number, msg["validation"]))

    def stop(self, number):
        self._distributed.Event(self._stop_name(number), client=self.client).set()

    def stop_all(self):
        for number, future in self.futures.items():
            if not future.done():
                self.stop(number)

    def close(self, wait_seconds=0):
        """Stop the trials still running (waiting up to ``wait_seconds`` for them
        to end), then let go of the cluster."""
        self.stop_all()
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and not all(f.done() for f in self.futures.values()):
            time.sleep(0.2)
        self.client.cancel([f for f in self.futures.values() if not f.done()])
        try:
            self.client.unsubscribe_topic(self.topic)
        except (KeyError, ValueError):
            pass
        self.client.close()
