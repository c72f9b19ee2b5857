"""``charrnn corpus``: the named corpora, downloaded and checked, or built here."""

import os

import click

from ..data.datasets import NAMES
from .options import (
    emit,
    force_option,
    json_option,
    output,
    refuse_to_replace,
    refuse_together,
)

# Options that exclude each other or do nothing given another: (option, the others, why).
CONFLICTS = (
    (
        "list_",
        ("name", "out", "size", "url", "source", "force"),
        "--list only lists the corpora; give one of them",
    ),
    (
        "url",
        ("source",),
        "--url is for the downloaded corpora, --source for the built ones; give one of them",
    ),
)


@click.command(short_help="Download or build a named corpus.")
@click.argument("name", required=False, type=click.Choice(NAMES), metavar="NAME")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    help="Where to write it [default: corpora/NAME.txt].",
)
@click.option(
    "--size", default=1_000_000, show_default=True, help="Built corpora (stdlib, c): size in bytes."
)
@click.option(
    "--url",
    help="Downloaded corpora: fetch from this mirror (or file:// path) "
    "instead; the pinned SHA-256 is still checked.",
)
@click.option(
    "--source",
    type=click.Path(exists=True, file_okay=False),
    help="Built corpora: build from the files under this directory instead.",
)
@force_option("Replace the file --out names if it exists.")
@click.option("--list", "list_", is_flag=True, help="List the named corpora.")
@json_option("Report as JSON.")
@click.pass_context
def corpus(ctx, name, out, size, url, source, force, list_, as_json):
    """Build the named corpus NAME (see --list): downloaded from a pinned URL and
    checked against its SHA-256, or built from files on this machine (offline).

    \b
    Examples:
      charrnn corpus --list
      charrnn corpus stdlib && charrnn train corpora/stdlib.txt --max-time 2m
      charrnn corpus warpeace
    """
    from ..data.datasets import build, listing

    refuse_together(ctx, CONFLICTS)
    if list_:
        rows = listing()
        if as_json:
            emit(rows)
        else:
            width = max(len(r["name"]) for r in rows)
            for r in rows:
                size_text = f"{r['bytes']:,} bytes" if r["bytes"] else "--size bytes"
                output(
                    f"{r['name'].ljust(width)}  {r['kind']:8}  {size_text:>16}  "
                    f"{r['description']}; from {r['origin']}"
                )
        return
    if name is None:
        raise click.UsageError(f"name a corpus ({', '.join(NAMES)}) or use --list")
    refuse_to_replace(out, force)
    out = out or os.path.join("corpora", f"{name}.txt")
    report = build(name, out, size, url=url, source=source)
    if as_json:
        emit(report)
    click.echo(f"wrote {out} ({report['bytes']:,} bytes, sha256 {report['sha256'][:12]})", err=True)
