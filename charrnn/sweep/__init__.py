"""``charrnn sweep``: searches of train options on Optuna, with trials on this
machine or on a Dask cluster (the optional extra ``charrnn[sweep]``).

start.py   a sweep in one call: new or resumed, run to its end
space.py   what is searched (--param NAME=VALUES)
trial.py   one trial: a charrnn train process, watched and stoppable
local.py   trials on this machine;  cluster.py  on a Dask cluster
search.py  the loop: trials started, pruned, recorded;  report.py  the summary table
study.py   the Optuna study in its journal file: checked, opened, trials rerun
"""

PRUNERS = ("median", "halving", "none")
MAX_RERUNS = 2  # a trial lost with its worker runs again at most this often, then fails
