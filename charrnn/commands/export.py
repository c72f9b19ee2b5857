"""``charrnn export``: a model's weights as safetensors (export.py)."""

import click

from ..errors import CharrnnError
from .options import CheckpointPath, force_option, need_extra, refuse_to_replace


@click.command(short_help="Write a model's weights as safetensors, for PyTorch.")
@click.argument("checkpoint", type=CheckpointPath())
@click.argument("out", type=click.Path(dir_okay=False))
@force_option("Replace OUT if it exists.")
def export(checkpoint, out, force):
    """Write CHECKPOINT's weights (a file, or a run directory: its best.npz)
    to OUT as safetensors: under PyTorch's names, shapes and gate order for
    the LSTM (nn.LSTM) and the RNN (nn.RNN), under charrnn's own names for the
    GRU and the MUTs, whose equations PyTorch does not have.  The vocabulary
    and configuration go in the file's metadata.

    \b
    Example:
      charrnn export checkpoints/shakespeare/best.npz shakespeare.safetensors
    """
    from ..checkpoint import load
    from ..export import write

    refuse_to_replace(out, force)
    need_extra("safetensors", "export", "export")
    ckpt = load(checkpoint)
    try:
        metadata = write(ckpt, out)
    except OSError as e:
        raise CharrnnError(f"cannot write {out} ({e.strerror})") from None
    module = metadata["pytorch_module"]
    if module == "none":
        click.echo(
            f"wrote {out}: the {ckpt.model.cell.upper()} under charrnn's own names "
            "(PyTorch has no module with its equations; see the README)",
            err=True,
        )
    else:
        click.echo(f"wrote {out}: nn.{module} as 'rnn' and nn.Linear as 'decoder'", err=True)
