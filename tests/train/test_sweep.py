"""charrnn sweep with the real engines: Optuna's study in the sweep directory,
trials as real ``charrnn train`` processes on this machine or on a real Dask
cluster (a scheduler and two worker processes the tests start, each worker in
a directory of its own, so nothing reaches the sweep through a shared path).
Killed sweeps, Ctrl-C, killed workers and failing trials."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from charrnn.cli import main
from charrnn.errors import CharrnnError
from charrnn.extras import install_command
from charrnn.sweep import space
from charrnn.sweep.search import SweepConfig
from charrnn.sweep.start import sweep as run_sweep

pytest.importorskip("optuna")

SMALL = [
    "--layers",
    "1",
    "--batch-size",
    "4",
    "--seq-length",
    "16",
    "--threads",
    "1",
    "--val-frac",
    "0.1",
]


def charrnn(*args):
    return [sys.executable, "-m", "charrnn"] + [str(a) for a in args]


def sweep(corpus, out, *args, timeout=600, small=SMALL):
    """Run a sweep to its end: (exit code, JSON objects of stdout, stderr)."""
    done = subprocess.run(
        charrnn("sweep", corpus, "--out", out, "--json", *small, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    objects = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, objects, done.stderr


def summary(out):
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def fails(args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


def processes_of(*markers):
    """PIDs of the live (not zombie) processes whose command line holds every one
    of ``markers``."""
    found = []
    for pid in sorted(os.listdir("/proc")):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if all(m in cmdline for m in markers) and state != "Z":
            found.append(int(pid))
    return found


def wait_until(condition, timeout, what):
    """What ``condition()`` returns once it is true."""
    deadline = time.time() + timeout
    while not (value := condition()):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


# -- the search space ---------------------------------------------------------------


def test_param_specs():
    assert space.parse("hidden=128,256,512") == space.Param("hidden", values=(128, 256, 512))
    assert space.parse("layers=1:3") == space.Param("layers", low=1, high=3)
    assert space.parse("lr=1e-3:1e-2:log") == space.Param("lr", low=1e-3, high=1e-2, log=True)
    assert space.parse("dropout=0:0.3") == space.Param("dropout", low=0.0, high=0.3)
    assert space.parse("seq-length=32:128:32").step == 32
    assert space.parse("cell=lstm,gru").values == ("lstm", "gru")
    assert space.parse("--batch-size=25,50").name == "batch_size"
    assert space.train_args({"hidden": 256, "lr": 0.003, "cell": "gru"}) == [
        "--hidden",
        "256",
        "--lr",
        "0.003",
        "--cell",
        "gru",
    ]


@pytest.mark.parametrize(
    "spec, says",
    [
        ("hidden", "write NAME=VALUES"),
        ("epochs=1,2", "cannot be searched"),
        ("val-frac=0.1,0.2", "cannot be searched"),
        ("hidden=256", "fix it with --hidden 256"),
        ("hidden=1.5,2", "not an integer"),
        ("lr=abc:1", "not a number"),
        ("layers=3:1", "low end must be below"),
        ("lr=0:1e-2:log", "log scale needs a positive low end"),
        ("dropout=0:1", "--dropout must be in [0, 1)"),
        ("cell=lstm,transformer", "--cell must be one of"),
        ("cell=lstm:gru", "takes names"),
        ("hidden=64,64", "given twice"),
        ("lr=1:2:3:4", "a range is low:high"),
    ],
)
def test_bad_param_specs_are_named(spec, says):
    with pytest.raises(CharrnnError, match="--param") as error:
        space.parse(spec)
    assert says in str(error.value)


def test_bad_sweeps_are_one_line_errors(tmp_path, corpus_file):
    base = ["sweep", corpus_file, "--out", tmp_path / "s"]
    assert "nothing to search" in fails(base)
    assert "fix it with --hidden 64" in fails(base + ["--param", "hidden=64"])
    assert "--param hidden is given twice" in fails(
        base + ["--param", "hidden=8,16", "--param", "hidden=32,64"]
    )
    assert "both fixed and searched" in fails(base + ["--param", "hidden=8,16", "--hidden", "8"])
    assert "not more" in fails(
        base + ["--param", "hidden=8,16", "--trial-time", "3s", "--trial-steps", "10"]
    )
    assert "--trials must be at least 1" in fails(
        base + ["--param", "hidden=8,16", "--trials", "0"]
    )
    assert "--trial-steps must be at least 1, not 0" in fails(
        base + ["--param", "hidden=8,16", "--trial-steps", "0"]
    )
    assert "--seed must be between 0 and 4294967295, not -1" in fails(
        base + ["--param", "hidden=8,16", "--seed", "-1"]
    )
    with pytest.raises(CharrnnError, match="--trial-time must be positive, not 0 s"):
        run_sweep(str(corpus_file), params=["hidden=8,16"], trial_time=0, out=str(base[3]))
    assert "no sweep there" in fails(["sweep", "--resume", tmp_path])
    assert "name a CORPUS" in fails(["sweep", "--param", "hidden=8,16"])
    assert not (tmp_path / "s").exists()  # refused before anything was made
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    assert (
        "binary"
        in fails(["sweep", binary, "--param", "hidden=8,16", "--out", tmp_path / "b"]).lower()
    )


def test_config_reports_on_the_budgets_grid():
    cfg = SweepConfig(
        corpus="c",
        corpus_sha256="x",
        trials=4,
        params=[{"name": "hidden"}],
        trial_time=180.0,
        reports=6,
    )
    assert cfg.axis == "seconds" and cfg.interval == 30
    args = cfg.train_args({"hidden": 64})
    assert args[args.index("--max-time") + 1] == "180.0s"
    assert args[args.index("--eval-every") + 1] == "30.0s"
    assert args[args.index("--hidden") + 1] == "64" and "--seed" in args
    steps = SweepConfig(
        corpus="c",
        corpus_sha256="x",
        trials=4,
        params=[],
        trial_steps=400,
        reports=4,
        fixed={"batch_size": 10, "seq_length": 20},
    )
    assert steps.axis == "chars" and steps.interval == 400 * 200 / 4
    args = steps.train_args({})
    assert args[args.index("--max-steps") + 1] == "400"
    assert args[args.index("--eval-every") + 1] == "100"
    chars = SweepConfig(
        corpus="c",
        corpus_sha256="x",
        trials=4,
        params=[],
        trial_chars=6400,
        reports=4,
        fixed={"seq_length": 20},
    )
    assert chars.axis == "chars" and chars.interval == 1600
    args = chars.train_args({"batch_size": 20})  # 400 characters a step: 4 steps a report
    assert args[args.index("--max-chars") + 1] == "6400"
    assert args[args.index("--eval-every") + 1] == "4"


def test_a_character_budget_compares_trials_of_any_batch_at_the_same_characters(
    tmp_path, corpus_file
):
    from charrnn.sweep.search import load_config
    from charrnn.sweep.study import open_study

    out = tmp_path / "sweep"
    code, objects, stderr = sweep(
        corpus_file,
        out,
        "--trials",
        2,
        "--trial-chars",
        "3072",
        "--reports",
        3,
        "--hidden",
        8,
        "--param",
        "batch-size=4,8",
        "--jobs",
        2,
        "--pruner",
        "none",
        small=SMALL[:2] + SMALL[4:],
    )  # without --batch-size
    assert code == 0, stderr
    for t in objects[-1]["trials"]:
        assert t["state"] == "complete"
        assert t["steps"] == 3072 // (16 * t["params"]["batch_size"])
    study = open_study(str(out), load_config(str(out)), print)
    for frozen in study.get_trials():
        assert set(frozen.intermediate_values) == {1024, 2048, 3072}


def test_without_the_extra_sweep_names_it(tmp_path, corpus_file):
    # an optuna that cannot be imported, first on the path: as if not installed
    (tmp_path / "optuna.py").write_text("raise ImportError('no optuna here')\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)  # and the charrnn being tested, if on it
    done = subprocess.run(
        charrnn("sweep", corpus_file, "--param", "hidden=8,16"),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert install_command("sweep") in done.stderr
    assert "Traceback" not in done.stderr


# -- validation on a time grid (what trials are compared on) ------------------------


def test_eval_every_can_be_a_time(tmp_path, corpus_file):
    done = subprocess.run(
        charrnn(
            "train",
            corpus_file,
            "--out",
            tmp_path / "r",
            "--hidden",
            16,
            *SMALL,
            "--max-time",
            "3s",
            "--eval-every",
            "1s",
            "--json",
            "--quiet",
            "--epochs",
            100000,
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    validations = [o for o in objects if o["event"] == "validation"]
    assert len(validations) >= 3
    for k, v in enumerate(validations[:3], 1):
        assert k <= v["elapsed_seconds"] < k + 0.9  # at each second of training
    chars = [v["chars"] for v in validations]
    assert chars == sorted(chars) and chars[0] > 0
    assert objects[-1]["event"] == "end" and objects[-1]["stopped"] == "time"
    assert "--eval-every" in fails(["train", corpus_file, "--eval-every", "5x"])


# -- on this machine -----------------------------------------------------------------


def test_a_local_sweep(tmp_path, corpus_file):
    out = tmp_path / "sweep"
    code, objects, stderr = sweep(
        corpus_file,
        out,
        "--trials",
        3,
        "--trial-time",
        "2s",
        "--reports",
        2,
        "--param",
        "hidden=8,16",
        "--param",
        "lr=1e-3:3e-2:log",
        "--jobs",
        2,
    )
    assert code == 0, stderr
    trials = [o for o in objects if o["event"] == "trial"]
    end = objects[-1]
    assert len(trials) == 3 and end["event"] == "end" and len(end["trials"]) == 3
    assert {t["state"] for t in end["trials"]} <= {"complete", "pruned"}
    complete = [t for t in end["trials"] if t["state"] == "complete"]
    assert end["best"]["best_val_loss"] == min(t["best_val_loss"] for t in complete)
    for t in end["trials"]:
        assert t["params"]["hidden"] in (8, 16) and 1e-3 <= t["params"]["lr"] <= 3e-2
        assert os.path.isfile(os.path.join(t["run_dir"], "best.npz"))
    assert summary(out)["best"] == end["best"]
    assert "2 at a time" in stderr and "best: trial" in stderr
    table = (out / "summary.txt").read_text()
    assert table.splitlines()[0].split()[:3] == ["trial", "state", "best"]
    assert "hidden" in table and "lr" in table

    listed = CliRunner().invoke(main, ["runs", str(out), "--json"])
    assert sorted(r["run"] for r in json.loads(listed.output)) == [
        f"trials/{n:04d}" for n in range(3)
    ]
    sampled = CliRunner().invoke(main, ["sample", str(out), "-n", 20, "--seed", 1])
    assert sampled.exit_code == 0, sampled.output
    assert f"using {end['best']['best_checkpoint']}" in sampled.stderr
    pytest.importorskip("plotext")
    plotted = CliRunner().invoke(main, ["plot", str(out), "--width", 60, "--height", 12])
    assert plotted.exit_code == 0, plotted.output
    assert all(f"{n:04d} val" in plotted.output for n in range(3))
    # a second sweep into the same directory is refused
    assert "holds a sweep already" in fails(
        ["sweep", corpus_file, "--out", out, "--param", "hidden=8,16"]
    )


def test_trials_that_lag_are_pruned_on_the_budgets_time_grid(tmp_path, corpus_file):
    """A learning rate far too small lags the others at every point of the budget:
    the median pruner stops it early.  Every trial reports at the same seconds."""
    import optuna
    from charrnn.sweep.search import load_config
    from charrnn.sweep.study import open_study

    out = tmp_path / "sweep"
    code, objects, stderr = sweep(
        corpus_file,
        out,
        "--trials",
        6,
        "--trial-time",
        "6s",
        "--reports",
        6,
        "--hidden",
        16,
        "--jobs",
        2,
        "--param",
        "lr=0.000001,0.01",
    )
    assert code == 0, stderr
    trials = objects[-1]["trials"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    # (a good trial a hair worse than the median at some point may be pruned too)
    # stopped before its budget ran out (a good trial pruned at the last report need not be)
    assert any(t["params"]["lr"] == 1e-6 and t["train_seconds"] < 5.5 for t in pruned), trials
    assert "lags the others" in stderr
    study = open_study(str(out), load_config(str(out)), print)
    grid = set(range(1, 7))  # seconds: the points of 6 s / 6 reports
    for frozen in study.get_trials():
        points = set(frozen.intermediate_values)
        assert points and points <= grid, points
        if frozen.state == optuna.trial.TrialState.COMPLETE:
            assert points == grid


def test_failed_trials_are_recorded_and_the_sweep_goes_on(tmp_path, corpus_file):
    # plain SGD at an enormous rate with no clipping diverges; the usual rate does not
    out = tmp_path / "sweep"
    code, objects, stderr = sweep(
        corpus_file,
        out,
        "--trials",
        4,
        "--trial-time",
        "1s",
        "--reports",
        1,
        "--optimizer",
        "sgd",
        "--grad-clip",
        0,
        "--param",
        "lr=0.1,1000000",
        "--hidden",
        8,
        "--jobs",
        2,
    )
    assert code == 0, stderr
    trials = objects[-1]["trials"]
    assert len(trials) == 4
    failed = [t for t in trials if t["state"] == "failed"]
    assert failed and all(t["params"]["lr"] == 1e6 for t in failed)
    assert all("diverged" in t["error"] for t in failed)
    assert all(t["state"] == "complete" for t in trials if t["params"]["lr"] == 0.1)
    assert "failed: training diverged" in stderr
    assert "diverged" in (out / "summary.txt").read_text()

    out = tmp_path / "all-failed"
    code, objects, stderr = sweep(
        corpus_file,
        out,
        "--trials",
        2,
        "--trial-time",
        "1s",
        "--optimizer",
        "sgd",
        "--grad-clip",
        0,
        "--param",
        "lr=1000000,2000000",
        "--hidden",
        8,
        "--jobs",
        2,
    )
    assert code == 1 and "no trial of the sweep" in stderr.strip().splitlines()[-1]
    assert objects[-1]["best"] is None and len(objects[-1]["trials"]) == 2


def test_a_stop_that_comes_as_a_trial_ends_never_fails_it(tmp_path, corpus_file):
    """A prune decided as a trial finishes: the stop's SIGTERM comes after train
    has written its end object, when its default handlers are back, and train
    dies of it.  The trial ran its budget: it is complete, not failed."""
    from charrnn.sweep import trial

    seen = {"validations": 0, "lines": 0}

    def on_validation(obj):
        seen["validations"] += 1

    def stop_requested():  # asked after each line (the poll is long): true after the end
        seen["lines"] += 1
        return seen["lines"] > seen["validations"]

    args = [*SMALL, "--hidden", 8, "--max-steps", 4, "--eval-every", 2, "--seed", 1]
    outcome = trial.run(
        str(corpus_file),
        str(tmp_path / "t"),
        [str(a) for a in args],
        on_validation,
        stop_requested,
        poll_seconds=600,
    )
    assert seen["validations"] == 2 and outcome.stop_requested
    assert outcome.state == "complete", outcome
    assert outcome.end["stopped"] == "steps" and outcome.best_val_loss is not None


def sweep_made_by_hand(tmp_path, corpus_file, complete):
    """A sweep directory (sweep.json, study.journal) whose study has ``complete``
    trials told complete, by Optuna itself (no training); (directory, config)."""
    from charrnn.sweep import search
    from charrnn.sweep.start import new_config
    from charrnn.sweep.study import open_study

    budget = dict(trial_time=None, trial_steps=4, trial_chars=None, reports=1, pruner=None)
    cfg = new_config(str(corpus_file), ["hidden=8,16"], {}, trials=complete, **budget)
    out = str(tmp_path / "sweep")
    search.create(out, cfg)
    study = open_study(out, cfg, print)
    for n in range(complete):
        asked = study.ask()
        asked.suggest_categorical("hidden", [8, 16])
        study.tell(asked, 2.0 - n / 10)
    return out, cfg


def test_a_damaged_journal_line_is_named_and_the_journal_kept(tmp_path, corpus_file):
    out, _ = sweep_made_by_hand(tmp_path, corpus_file, 2)
    journal = os.path.join(out, "study.journal")
    with open(journal, "rb") as f:
        lines = f.read().split(b"\n")
    for damage in (b'{"op_code": 4, "worker_id": "x", "tri', b"[1, 2]"):
        damaged = b"\n".join(lines[:2] + [damage] + lines[3:])
        with open(journal, "wb") as f:
            f.write(damaged)
        message = fails(["sweep", "--resume", out])
        assert f"{journal}: line 3 is damaged" in message
        with open(journal, "rb") as f:
            assert f.read() == damaged  # refused, not repaired: nothing is lost


def test_an_unfinished_last_journal_line_is_set_aside(tmp_path, corpus_file):
    """A sweep killed in the middle of a write leaves a line with no newline:
    left there, the study's next write would extend it into a damaged line."""
    from charrnn.sweep.study import open_study

    out, cfg = sweep_made_by_hand(tmp_path, corpus_file, 2)
    journal = os.path.join(out, "study.journal")
    with open(journal, "rb") as f:
        whole = f.read().count(b"\n")  # lines
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 4, "worker_id": "x", "tri')
    resumed = CliRunner().invoke(main, ["sweep", "--resume", out])
    assert resumed.exit_code == 0, resumed.output
    assert (
        f"(line {whole + 1}) is an unfinished write of a killed sweep: set aside in"
        in resumed.output
    )
    with open(os.path.join(out, "study.journal.unfinished"), "rb") as f:
        assert f.read() == b'{"op_code": 4, "worker_id": "x", "tri\n'
    study = open_study(out, cfg, print)
    study.tell(study.ask(), 1.0)  # a write after it
    assert len(open_study(out, cfg, print).get_trials()) == 3


def start_sweep(corpus, out, *args):
    return subprocess.Popen(
        charrnn("sweep", corpus, "--out", out, *SMALL, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def trial_running(out, number):
    return processes_of(os.path.join(str(out), "trials", f"{number:04d}"))


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_stopped_sweep_resumes(tmp_path, corpus_file, how):
    """Killed (SIGKILL) or stopped (Ctrl-C): its running trial's process does not
    outlive it, the trial is cut off (never counted as done) and runs again on
    --resume, and the finished ones are not rerun."""
    out = tmp_path / "sweep"
    args = [
        "--trials",
        3,
        "--trial-time",
        "3s",
        "--reports",
        3,
        "--jobs",
        1,
        "--param",
        "hidden=8,12,16",
        "--pruner",
        "none",
    ]
    process = start_sweep(corpus_file, out, *args)
    try:
        wait_until(lambda: trial_running(out, 1), 300, "the second trial")
        process.send_signal(getattr(signal, how))
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    wait_until(lambda: not trial_running(out, 1), 10, "the trial's process to end")
    if how == "SIGINT":
        assert process.returncode == 130
        assert f"continue with charrnn sweep --resume {out}" in stderr
        cut = [t for t in summary(out)["trials"] if t["trial"] == 1]
        assert cut[0]["state"] == "cut off"
    else:
        assert process.returncode == -signal.SIGKILL

    resumed = subprocess.run(
        charrnn("sweep", "--resume", out, "--json"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "trial 1 was cut off when the sweep stopped: queued to run again" in resumed.stderr
    trials = json.loads(resumed.stdout.splitlines()[-1])["trials"]
    by_number = {t["trial"]: t for t in trials}
    assert by_number[1]["state"] == "cut off"
    reruns = [t for t in trials if t["rerun_of"] == 1]
    assert len(reruns) == 1 and reruns[0]["params"] == by_number[1]["params"]
    done = [t for t in trials if t["state"] == "complete"]
    assert len(done) == 3 and by_number[0]["state"] == "complete"
    assert "trial 0 started" not in resumed.stderr  # finished trials are not rerun
    # more trials for a finished sweep: only --trials may change on --resume
    assert "was fixed when the sweep started" in fails(
        ["sweep", "--resume", out, "--param", "hidden=8,16"]
    )


# -- on a Dask cluster ---------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real Dask cluster on localhost: `dask scheduler` and two `dask worker`
    processes (with their nannies), each worker in its own directory."""
    pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("cluster")
    address = f"tcp://127.0.0.1:{free_port()}"
    logs = []

    def start(name, *args):
        directory = root / name
        directory.mkdir()
        log = open(directory / "log.txt", "w")
        logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *map(str, args)],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    processes = []
    workers = [root / "worker-a", root / "worker-b"]
    try:  # whatever fails to start, the processes started are stopped
        processes.append(
            start(
                "scheduler",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--no-dashboard",
            )
        )
        for directory in workers:
            processes.append(
                start(
                    directory.name,
                    "worker",
                    address,
                    "--nthreads",
                    1,
                    "--no-dashboard",
                    "--local-directory",
                    directory,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for p in processes:
            os.killpg(p.pid, signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for log in logs:
            log.close()


def test_a_sweep_on_a_dask_cluster(tmp_path, corpus_file, cluster):
    address, workers = cluster
    out = tmp_path / "sweep"
    code, objects, stderr = sweep(
        corpus_file,
        out,
        "--scheduler",
        address,
        "--trials",
        3,
        "--trial-time",
        "2s",
        "--reports",
        2,
        "--param",
        "hidden=8,16",
        "--pruner",
        "halving",
    )
    assert code == 0, stderr
    assert f"on the Dask cluster at {address} (2 workers, 2 threads)" in stderr
    trials = objects[-1]["trials"]
    assert len(trials) == 3 and all(t["state"] in ("complete", "pruned") for t in trials)
    for t in trials:
        # trained in a worker's own directory; the result and checkpoint came back
        assert t["where"] and "tcp://127.0.0.1" in t["where"]
        assert os.path.isfile(os.path.join(t["run_dir"], "best.npz"))
        assert not os.path.exists(os.path.join(t["run_dir"], "last.npz"))
    ran_on = set()
    for directory in workers:
        cached = [f for _, _, names in os.walk(directory) for f in names if f == "play.txt"]
        ran_on.add(bool(cached))  # the corpus came as data, written where the worker lives
        trial_dirs = [d for _, dirs, _ in os.walk(directory) for d in dirs if d.startswith("trial")]
        assert not trial_dirs  # each worker's trial directories are cleaned up
    assert True in ran_on
    sampled = CliRunner().invoke(main, ["sample", str(out), "-n", 10, "--seed", 2])
    assert sampled.exit_code == 0, sampled.output


def test_a_killed_worker_loses_only_its_trials_progress(tmp_path, corpus_file, cluster):
    address, workers = cluster
    out = tmp_path / "sweep"
    process = start_sweep(
        corpus_file,
        out,
        "--scheduler",
        address,
        "--trials",
        3,
        "--trial-time",
        "4s",
        "--reports",
        2,
        "--param",
        "hidden=8,12,16",
        "--pruner",
        "none",
        "--json",
    )
    try:
        # a training process under the first worker's directory
        marker = os.path.join(str(workers[0]), "")
        wait_until(lambda: processes_of(marker), 300, "a trial on the first worker")
        trainer = processes_of(marker)[0]
        with open(f"/proc/{trainer}/stat") as f:
            worker_pid = int(f.read().rsplit(")", 1)[1].split()[1])
        os.kill(worker_pid, signal.SIGKILL)
        # the worker's training process dies with it
        wait_until(
            lambda: trainer not in processes_of("charrnn"),
            10,
            "the killed worker's training process to end",
        )
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "started again on another worker (its worker was lost)" in stderr
    trials = json.loads(stdout.splitlines()[-1])["trials"]
    assert sorted(t["trial"] for t in trials) == [0, 1, 2]  # every trial accounted for
    assert all(t["state"] == "complete" for t in trials)


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path, corpus_file):
    pytest.importorskip("distributed")
    message = fails(
        [
            "sweep",
            corpus_file,
            "--out",
            tmp_path / "s",
            "--param",
            "hidden=8,16",
            "--scheduler",
            f"tcp://127.0.0.1:{free_port()}",
        ]
    )
    assert "cannot reach the Dask scheduler" in message


def test_ctrl_c_stops_the_trials_on_the_cluster_and_the_sweep_resumes(
    tmp_path, corpus_file, cluster
):
    address, workers = cluster
    out = tmp_path / "sweep"
    args = [
        "--trials",
        2,
        "--trial-time",
        "8s",
        "--reports",
        2,
        "--param",
        "hidden=8,16",
        "--pruner",
        "none",
    ]
    process = start_sweep(corpus_file, out, "--scheduler", address, *args)
    markers = [os.path.join(str(w), "") for w in workers]
    try:
        wait_until(lambda: any(processes_of(m) for m in markers), 300, "a trial on a worker")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert f"continue with charrnn sweep --resume {out}" in stderr
    # the workers stopped their trials' training processes
    wait_until(
        lambda: not any(processes_of(m) for m in markers),
        30,
        "the workers' training processes to end",
    )
    assert {t["state"] for t in summary(out)["trials"]} == {"cut off"}
    resumed = subprocess.run(
        charrnn("sweep", "--resume", out, "--scheduler", address, "--json"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    trials = json.loads(resumed.stdout.splitlines()[-1])["trials"]
    assert sorted(t["state"] for t in trials) == ["complete", "complete", "cut off", "cut off"]


# -- workers that die under a sweep ---------------------------------------------------


def parent_of(pid):
    """The PID of process ``pid``'s parent; None if it has ended."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def trial_process(workers, number):
    """The PID of trial ``number``'s training process on one of ``workers``
    (their directories), or None."""
    for directory in workers:
        # its run directory: trialNNNN-... in its worker's own directory
        found = processes_of(os.path.join(str(directory), ""), f"trial{number:04d}-")
        if found:
            return found[0]
    return None


def worker_pids(client):
    """{worker address: PID} of the cluster's live workers."""
    return client.run(os.getpid, on_error="ignore")  # (not those dying or starting)


def corpus_holders(client):
    """The addresses of the workers that hold the sweep's corpus: the one key
    of the cluster that is not a trial's."""
    held = {k: v for k, v in client.who_has().items() if v and "-trial-" not in str(k)}
    return set(next(iter(held.values()))) if len(held) == 1 else None


def test_a_worker_that_dies_with_the_corpus_or_without_it_costs_no_trial(
    tmp_path, corpus_file, cluster
):
    """One trial at a time.  The worker that holds the only copy of the corpus
    is killed while its trial runs: the corpus is made again elsewhere and the
    trial runs again.  Then a worker that holds no copy is killed while the
    next trial runs.  Every trial completes; the sweep exits 0."""
    from distributed import Client

    address, workers = cluster
    out = tmp_path / "sweep"
    args = ["--trials", 2, "--trial-time", "3s", "--reports", 1, "--param", "hidden=8,12"]
    process = start_sweep(
        corpus_file, out, "--scheduler", address, "--jobs", 1, "--pruner", "none", "--json", *args
    )
    killed = []
    try:
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=120)

            def holder_running_trial_0():
                pids, trainer = worker_pids(client), trial_process(workers, 0)
                holders = corpus_holders(client)
                if trainer is None or not holders or len(holders) != 1:
                    return None
                pid = pids.get(next(iter(holders)))
                return pid if pid == parent_of(trainer) else None

            killed.append(wait_until(holder_running_trial_0, 300, "trial 0 on its only worker"))
            os.kill(killed[-1], signal.SIGKILL)

            def worker_without_the_corpus():
                trainer = trial_process(workers, 1)
                if process.poll() is not None or trainer is None:
                    return None
                holders = corpus_holders(client) or set()
                others = [p for a, p in worker_pids(client).items() if a not in holders]
                return next((p for p in others if p != parent_of(trainer)), None)

            victim = wait_until(
                lambda: worker_without_the_corpus() or process.poll() is not None,
                300,
                "trial 1 running, and a worker without the corpus",
            )
            if victim is not True:  # (True: the sweep ended first)
                killed.append(victim)
                os.kill(victim, signal.SIGKILL)
            stdout, stderr = process.communicate(timeout=300)
            client.wait_for_workers(2, timeout=120)  # the nannies restart them: as found
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert len(killed) == 2
    trials = json.loads(stdout.splitlines()[-1])["trials"]
    assert sorted((t["trial"], t["state"]) for t in trials) == [(0, "complete"), (1, "complete")]
    assert "trial 0 was lost with its worker" in stderr and "(rerun 1 of at most 2)" in stderr
    assert "trial 1 was lost" not in stderr  # its worker lived


def test_a_trial_lost_with_its_worker_again_and_again_fails_and_reruns_on_resume(
    tmp_path, corpus_file, cluster
):
    """Killed under it on each of its 1 + MAX_RERUNS tries, a trial fails with
    that reason (not its options'); --resume runs it again."""
    import threading

    from charrnn.sweep import MAX_RERUNS

    address, workers = cluster
    out = str(tmp_path / "sweep")
    options = {"layers": 1, "batch_size": 4, "seq_length": 16, "threads": 1, "val_frac": 0.1}
    given = dict(params=["hidden=8,12"], options=options, trial_time=4.0, reports=1)
    messages, result = [], {}

    def work():
        result["sweep"] = run_sweep(
            str(corpus_file), trials=1, out=out, scheduler=address, log=messages.append, **given
        )

    thread = threading.Thread(target=work)
    thread.start()
    try:
        for _ in range(MAX_RERUNS + 1):
            wait_until(
                lambda: trial_process(workers, 0) or not thread.is_alive(),
                300,
                "trial 0 on a worker",
            )
            trainer = trial_process(workers, 0)
            if trainer is None:  # the sweep ended
                break
            os.kill(parent_of(trainer), signal.SIGKILL)
            wait_until(lambda: trainer not in processes_of("charrnn"), 30, "its process to end")
    finally:
        thread.join(timeout=300)
    (row,) = result["sweep"].trials
    assert row["state"] == "failed" and row["error"].startswith(
        f"lost with its worker {MAX_RERUNS + 1} times"
    ), row
    assert result["sweep"].best is None

    resumed = run_sweep(resume=out, scheduler=address, log=messages.append)
    assert "trial 0 failed because its workers were lost: queued to run again" in messages
    by_number = {t["trial"]: t for t in resumed.trials}
    assert by_number[0]["state"] == "failed"  # what happened stays in the record
    assert by_number[1]["rerun_of"] == 0 and by_number[1]["state"] == "complete"
    assert by_number[1]["params"] == by_number[0]["params"]
    again = run_sweep(resume=out, scheduler=address, log=messages.append)  # done: rerun once
    assert len(again.trials) == 2


# -- as a library call ---------------------------------------------------------------


def test_a_sweep_is_one_library_call_on_any_thread(tmp_path, corpus_file):
    """charrnn.sweep.start.sweep on a thread that is not main (no signal handlers):
    its trials run, on_event gets what sweep --json prints, the result has the rows."""
    import threading

    events, result = [], {}

    def work():
        result["sweep"] = run_sweep(
            str(corpus_file),
            params=["hidden=8,12"],
            trials=2,
            trial_steps=4,
            reports=1,
            out=str(tmp_path / "sweep"),
            jobs=2,
            log=lambda message: None,
            options={"layers": 1, "batch_size": 4, "seq_length": 16, "threads": 1, "val_frac": 0.1},
            on_event=events.append,
        )

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=300)
    done = result["sweep"]
    assert [e["event"] for e in events] == ["trial", "trial", "end"]
    assert events[-1]["stopped"] is None and events[-1]["trials"] == done.trials
    assert done.best is not None and done.best == events[-1]["best"]
    assert done.searched == ["hidden"] and "hidden" in done.table()
    with pytest.raises(CharrnnError, match="--param was fixed when the sweep started"):
        run_sweep(resume=done.directory, params=["hidden=8,16"])
