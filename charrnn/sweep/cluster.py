"""Trials on a Dask distributed cluster (``dask scheduler`` and ``dask worker``,
started by the user), one task per trial; each worker thread runs one trial.

Nothing is shared through a filesystem: the corpus goes to the workers as
data, each trial trains into a directory of its worker's own, and its result
and best checkpoint come back with the task's result.  Validation objects
come back as they happen, as events of the task's worker (Worker.log_event),
so the sweep can prune; a stop request is a Dask Event the task polls.

The corpus is a task of its own whose spec is its bytes, not scattered data:
the scheduler keeps the spec, so a worker that dies holding the only copy
costs nothing, the scheduler makes it again where a trial needs it.
(Scattered data dies with its last holder, and the scheduler's Active Memory
Manager keeps a single copy of data that no running task needs, whatever the
scatter's broadcast.)

A worker killed in the middle of a trial takes only that attempt with it:
its training process dies with it (lifeline), the scheduler says which tasks
it was running (its remove-worker event), and the trial runs again from its
start on another worker, at most MAX_RERUNS times; lost once more, it fails
with that reason (and ``--resume`` runs it again).  A task whose sweep has
gone (its future released or cancelled) stops its training process too.
"""

import hashlib
import os
import collections
import queue
import shutil
import socket
import tempfile
import time
import warnings

from ..errors import CharrnnError
from . import MAX_RERUNS, trial

RETURNED = ("best.npz", trial.LOG_NAME)  # what comes back into the sweep directory
POLL_SECONDS = 1.0  # a stop request is seen this soon (each poll asks the scheduler)
CLUSTER_TOPIC = "all"  # the scheduler's events about its workers ("remove-worker")


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
        worker.log_event(
            topic, {"trial": number, "key": key, "attempt": attempt, "validation": obj}
        )

    worker.log_event(topic, {"trial": number, "key": key, "attempt": attempt})  # which runs

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
    """The trials of a sweep on a Dask cluster.  Events come from the client's
    threads into ``_arrived``; the sweep's thread turns them into the trials'
    events in ``next_event``, so that only that thread resubmits or cancels."""

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
        self.topic = f"charrnn-sweep-{sweep_id}"
        self._arrived = queue.Queue()  # ("worker" | "cluster" | "finished", message or future)
        self._ready = collections.deque()  # the trials' events, for next_event
        self.client.subscribe_topic(self.topic, lambda e: self._arrived.put(("worker", e[1])))
        self.client.subscribe_topic(CLUSTER_TOPIC, lambda e: self._arrived.put(("cluster", e[1])))
        with open(corpus, "rb") as f:
            data = f.read()
        with warnings.catch_warnings():
            # one copy of the corpus in the graph, on purpose (see the module's docstring)
            warnings.filterwarnings("ignore", message="Sending large graph")
            self.corpus = self.client.submit(bytes, data, key=f"{self.topic}-corpus", pure=False)
        self.corpus_name = os.path.basename(corpus)
        self.futures = {}  # trial number -> the future of its task, until it ends
        self._numbers = {}  # task key -> trial number, of the tasks in self.futures
        self._args = {}  # trial number -> its train arguments (to submit it again)
        self._submissions = collections.Counter()  # trial number -> its tasks submitted
        self._lost = {}  # trial number -> {(task key, worker address)} it was lost with
        self._attempts = {}  # trial number -> the attempt that last said it runs

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
        self._args[number] = args
        self._attempts[number] = None
        self._submit(number)

    def _submit(self, number):
        """A task for trial ``number``: its first, or one after its worker was lost
        and the scheduler gave up on the task (KilledWorker)."""
        self._submissions[number] += 1
        suffix = "" if self._submissions[number] == 1 else f"-{self._submissions[number]}"
        future = self.client.submit(
            run_remote,
            self.corpus,
            self.corpus_name,
            number,
            self._args[number],
            self.topic,
            self._stop_name(number),
            key=f"{self.topic}-trial-{number}{suffix}",
            pure=False,
        )
        self.futures[number] = future
        self._numbers[future.key] = number
        future.add_done_callback(lambda f: self._arrived.put(("finished", f)))

    def next_event(self, timeout):
        """The next event of the trials, or None if none came in ``timeout``
        seconds: ("attempt", number, {"attempt", "again"}), ("validation",
        number, obj), ("lost", number, {"worker", "reruns"}) when its worker
        died and it runs again, ("done", number, result)."""
        deadline = time.monotonic() + timeout
        while not self._ready:
            try:
                source, item = self._arrived.get(timeout=max(0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if source == "worker":
                self._ready.extend(self._from_worker(item))
            elif source == "cluster":
                self._ready.extend(self._from_cluster(item))
            else:
                self._ready.extend(self._finished(item))
        return self._ready.popleft()

    def _from_worker(self, msg):
        number = self._numbers.get(msg.get("key"))
        if number is None:  # a task replaced or given up on, still ending
            return []
        events = []
        if self._attempts.get(number) != msg["attempt"]:
            again = self._attempts.get(number) is not None  # a rerun after its worker died
            self._attempts[number] = msg["attempt"]
            events.append(("attempt", number, {"attempt": msg["attempt"], "again": again}))
        if "validation" in msg:
            events.append(("validation", number, msg["validation"]))
        return events

    def _from_cluster(self, msg):
        """A worker removed (dead, or retired) loses the trials it was running."""
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker":
            return []
        events = []
        for key in msg.get("processing-tasks", ()):
            if key in self._numbers:
                events += self._lost_with(self._numbers[key], key, msg.get("worker"))
        return events

    def _lost_with(self, number, key, worker, resubmit=False):
        """Trial ``number``'s task ``key`` was lost with ``worker``: it runs again
        (the scheduler reruns the task; ``resubmit``: it gave up on it), or, lost
        more than MAX_RERUNS times, fails."""
        lost = self._lost.setdefault(number, set())
        new = (key, worker) not in lost  # the scheduler's event and KilledWorker both tell
        lost.add((key, worker))
        if len(lost) > MAX_RERUNS:
            self._forget(number, cancel=True)
            times = f"{len(lost)} time" + ("s" if len(lost) > 1 else "")
            error = f"lost with its worker {times} (the last {worker}); --resume runs it again"
            result = {
                "outcome": trial.Outcome("failed", error=error),
                "files": {},
                "where": None,
                "lost": sorted(w for _, w in lost),  # its workers, for --resume to see
            }
            return [("done", number, result)]
        if resubmit:
            self._forget(number, cancel=False)
            self._submit(number)
        return [("lost", number, {"worker": worker, "reruns": len(lost)})] if new else []

    def _forget(self, number, cancel):
        future = self.futures.pop(number, None)
        if future is not None:
            self._numbers.pop(future.key, None)
            if cancel:
                self.client.cancel([future])
            future.release()

    def _finished(self, future):
        number = self._numbers.get(future.key)
        if number is None:  # replaced or given up on: its end is no news
            return []
        if future.status == "error":
            error = future.exception()
            if isinstance(error, self._distributed.KilledWorker):
                worker = getattr(error.last_worker, "address", None)
                return self._lost_with(number, future.key, worker, resubmit=True)
        result = self._result(future)
        self._forget(number, cancel=False)
        return [("done", number, result)]

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

    def stop(self, number):
        self._distributed.Event(self._stop_name(number), client=self.client).set()

    def stop_all(self):
        for number in self.futures:
            self.stop(number)

    def close(self, wait_seconds=0):
        """Stop the trials still running (waiting up to ``wait_seconds`` for them
        to end), then let go of the cluster."""
        self.stop_all()
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and not all(f.done() for f in self.futures.values()):
            time.sleep(0.2)
        self.client.cancel([f for f in self.futures.values() if not f.done()])
        for topic in (self.topic, CLUSTER_TOPIC):
            try:
                self.client.unsubscribe_topic(topic)
            except (KeyError, ValueError):
                pass
        self.client.close()
