"""``charrnn sample``: text from a model (api.Model.stream and beam), streamed as it comes."""

import click

from .options import (
    CheckpointPath,
    emit,
    json_option,
    output,
    precision_option,
    refuse_together,
    threads_option,
)

# Options that do nothing given another: (option, the others, why).
CONFLICTS = (
    (
        "beam",
        ("temperature", "top_k", "greedy"),
        "beam search finds the most probable text, it does not sample; give one of them",
    ),
    (
        "greedy",
        ("temperature", "top_k"),
        "--greedy takes the most likely character, it does not sample; give one of them",
    ),
)


@click.command(short_help="Generate text from a trained model.")
@click.argument("checkpoint", required=False, type=CheckpointPath())
@click.option("--length", "-n", default=2000, show_default=True, help="Characters to generate.")
@click.option(
    "--temperature",
    "-t",
    default=1.0,
    show_default=True,
    help="Below 1: safer, more repetitive; above 1: more surprising.",
)
@click.option(
    "--top-k",
    default=0,
    show_default=True,
    help="Sample only among the K most likely characters; 0: all.",
)
@click.option("--prime", default="", help="Text the model reads first; printed first.")
@click.option("--seed", type=int, help="Seed for reproducible samples [default: random].")
@click.option("--greedy", is_flag=True, help="Always take the most likely character.")
@click.option(
    "--beam", type=int, help="Beam search of this width (1 to 1,000): the most probable text."
)
@click.option("--stop", help="Stop after this string first appears in the output.")
@precision_option
@threads_option
@json_option("One JSON object: the text and the settings that shaped it.")
@click.pass_context
def sample(
    ctx,
    checkpoint,
    length,
    temperature,
    top_k,
    prime,
    seed,
    greedy,
    beam,
    stop,
    precision,
    threads,
    as_json,
):
    """Generate text from CHECKPOINT: a file, or a directory: a run directory's
    best.npz, of the newest run under it, or of a sweep's best trial (default:
    checkpoints/).

    Text goes to stdout as it is generated; messages go to stderr.

    \b
    Examples:
      charrnn sample --length 500 --temperature 0.8 --prime "ROMEO:"
      charrnn sample checkpoints/shakespeare/best.npz --beam 7 --length 200
    """
    import secrets

    from ..api import load
    from ..sample import seeded

    refuse_together(ctx, CONFLICTS)
    model = load(checkpoint)
    if checkpoint is None:
        click.echo(f"using {model.path}", err=True)
    precision = model.precision(precision)
    if seed is None:
        seed = secrets.randbelow(2**32)  # drawn here so that --json can report it
    found, pieces = generate(
        model, length, temperature, top_k, prime, seed, greedy, beam, stop, precision, threads
    )
    first = next(pieces)  # any error in the options shows before the prime is printed
    if as_json:
        text = first + "".join(pieces)
        sampled = not (greedy or found)
        seed_used = seeded(model.checkpoint, prime, sampled)
        emit(
            {
                "checkpoint": model.path,
                "text": text,
                "prime": prime,
                "characters": len(text),
                "length": length,
                "temperature": temperature if sampled else None,
                "top_k": top_k if sampled else None,
                "greedy": greedy,
                "beam": beam,
                "stop": stop,
                "seed": seed if seed_used else None,
                "precision": precision,
                "log_probability": found.log_probability if found else None,
            }
        )
        return
    output(prime + first, nl=False)
    for piece in pieces:
        output(piece, nl=False)
    output()


def generate(
    model, length, temperature, top_k, prime, seed, greedy, beam, stop, precision, threads
):
    """(the beam's result or None, the text in pieces as it is generated)."""
    if beam is not None:
        found = model.beam(
            length,
            width=beam,
            prime=prime,
            seed=seed,
            stop=stop,
            precision=precision,
            threads=threads,
        )
        return found, iter([found.text])
    return None, model.stream(
        length,
        temperature=temperature,
        top_k=top_k,
        greedy=greedy,
        prime=prime,
        seed=seed,
        stop=stop,
        precision=precision,
        threads=threads,
    )
