"""The progress bar of a training run (stderr)."""

from tqdm import tqdm


class Progress:
    """The progress bar (stderr) of what the run will do: with --max-time its
    total and time left follow the time budget, over resumes (never beyond it,
    and sooner when the steps will run out first); otherwise the steps of
    --max-steps, --max-chars or all --epochs."""

    def __init__(self, cfg, step, total_steps, seconds, quiet):
        self.budget = cfg.max_time
        self.first_step, self.total_steps = step, total_steps
        if self.budget is None:
            self.bar = tqdm(
                total=total_steps, initial=step, disable=quiet, unit="step", dynamic_ncols=True
            )
        else:
            self.bar = tqdm(
                total=self.budget,
                initial=seconds,
                disable=quiet,
                unit="s",
                dynamic_ncols=True,
                bar_format="{percentage:3.0f}%|{bar}| {desc}",
            )

    def update(self, step, done, seconds, elapsed, text):
        """``done``: of the budget; ``seconds``: the run's training time;
        ``elapsed``: this process's."""
        if self.budget is None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(text, refresh=False)
            return
        steps_left = (self.total_steps - step) * elapsed / max(step - self.first_step, 1)
        left = min(self.budget - seconds, steps_left)
        self.bar.set_description_str(
            f"{tqdm.format_interval(seconds)} of "
            f"{tqdm.format_interval(self.budget)}, "
            f"{tqdm.format_interval(max(left, 0))} left, {text}",
            refresh=False,
        )
        self.bar.update(done * self.budget - self.bar.n)

    def close(self):
        self.bar.close()
