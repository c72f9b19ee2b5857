"""The command line: ``charrnn COMMAND``, one click group over the commands in
commands/ (each a thin layer over the library: parse, one call, print text or
JSON).  Every command that reports something has ``--json``: one JSON object
per line on stdout, human messages on stderr."""

import os

import click

from .commands.corpus import corpus
from .commands.evaluate import evaluate
from .commands.export import export
from .commands.runs import info, plot, runs
from .commands.sample import sample
from .commands.sweep import sweep
from .commands.train import train
from .commands.viz import viz
from .errors import CharrnnError, Conflict, Interrupted


class Group(click.Group):
    """Turns CharrnnError (bad input) into a one-line error and exit code 1; a
    Conflict of options is a usage error (exit code 2)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Conflict as e:
            raise click.UsageError(str(e)) from None
        except CharrnnError as e:
            raise click.ClickException(str(e)) from None
        except Interrupted as e:
            click.echo(f"\n{e}", err=True)
            ctx.exit(128 + e.signum)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)


EXAMPLES = """\b
Examples:
  charrnn corpus stdlib                   # Python's own sources, as a text
  charrnn train corpora/stdlib.txt --max-time 5m
  charrnn sample -n 500 -t 0.8            # from the newest run's best.npz
  charrnn runs                            # the runs, best first
  charrnn COMMAND --help                  # a command's options and examples
"""


@click.group(cls=Group, epilog=EXAMPLES)
@click.version_option(package_name="charrnn")
@click.pass_context
def main(ctx):
    """Character-level text generator: train a recurrent network (LSTM, GRU,
    vanilla RNN or MUT1-3) on any text file, then sample."""
    # Numba's threads (GNU OpenMP) wait for work by spinning, 300,000 rounds by
    # default.  When another program holds a core, a thread spinning at a step's
    # barrier steals the time its partner needs: measured, 2-thread training of
    # a 2x128 model fell from 66k to 21k chars/s.  10,000 rounds (microseconds)
    # still bridge the gaps between a sampling step's products, then sleep: 31k.
    # Read when the OpenMP library loads, at the first parallel kernel: here,
    # before any command runs one.  The command line's choice for its own
    # process; a library user sets it or not (docs/api.md: Threads).
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    from . import compile_notice
    from .lifeline import follow_parent

    compile_notice.tell(lambda line: click.echo(line, err=True), ctx.invoked_subcommand)

    follow_parent()  # a sweep's trial: dies with the sweep or worker that started it


for command in (train, sample, evaluate, runs, info, corpus, export, plot, viz, sweep):
    main.add_command(command)
