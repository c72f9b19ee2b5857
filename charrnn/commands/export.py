"""``charrnn export``: a model's weights as safetensors (export.py)."""

import click

from ..errors import CharrnnError
from .options import need_extra


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def export(checkpoint, out):
    """Write CHECKPOINT's weights to OUT as safetensors: under PyTorch's names,
    shapes and gate order for the LSTM (nn.LSTM) and the RNN (nn.RNN), under
    charrnn's own names for the GRU and the MUTs, whose equations PyTorch does
    not have.  The vocabulary and configuration go in the file's metadata.

    \b
    Example:
      charrnn export checkpoints/shakespeare/best.npz shakespeare.safetensors
    """
    from ..checkpoint import load
    from ..export import write

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
