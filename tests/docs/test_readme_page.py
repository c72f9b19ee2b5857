"""README.md is a landing page: at most 250 lines of at most 100 characters, a
table of contents that lists every section, and every command of the CLI (read
from the click group: a new command fails here until the README names it) in a
heading or in the tour table."""

import re
from pathlib import Path

import click

from charrnn.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
MAX_LINES, MAX_WIDTH = 250, 100


def anchor(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def named_commands(text):
    """The commands a README names in a heading (## `charrnn NAME ...`) or a row of
    a table that starts with one (| `charrnn NAME ...` |)."""
    return set(re.findall(r"^(?:#+ |\| )`charrnn ([a-z-]+)", text, re.MULTILINE))


def unnamed_commands(text, group):
    return sorted(set(group.commands) - named_commands(text))


def test_short_and_narrow():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES
    wide = [(n, len(line)) for n, line in enumerate(lines, 1) if len(line) > MAX_WIDTH]
    assert not wide, f"lines over {MAX_WIDTH} characters (line, width): {wide}"


def test_the_contents_list_every_section():
    text = README.read_text()
    sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- \[(.+?)\]\(#(.+?)\)$", contents, re.MULTILINE)
    assert [(title, anchor(title)) for title in sections if title != "Contents"] == listed


def test_every_command_is_in_a_heading_or_the_tour():
    assert unnamed_commands(README.read_text(), main) == []


def test_a_new_command_is_missed():
    group = click.Group(commands=dict(main.commands))
    group.add_command(click.Command("completion"))
    assert unnamed_commands(README.read_text(), group) == ["completion"]
