"""Looking inside a model: what ``charrnn viz`` computes.

A unit's activation at a character is its value after the model has read
that character: tanh(c) for an LSTM unit (the cell state squashed as the
output gate sees it, as in the char-rnn visualizations), h for the cells
that have no c.  ``find`` runs the model over a long stretch of text once,
streaming: for every unit and every feature of the text (features below) it
accumulates the sums that Pearson's correlation needs, so memory does not
grow with the length.  The text's features are computed from the text alone.
"""

import re
from dataclasses import dataclass

import numpy as np

from . import cells
from .data.corpus import read_blocks
from .errors import CharrnnError
from .kernels.threads import WORK_BLOCKS
from .model import forward, views, zero_state

CHUNK = 256  # characters per forward call
MIN_FIND = 200  # characters: fewer, and every correlation is noise
SPEAKER = re.compile(r"[A-Z][A-Za-z' ]{0,30}:")  # "ROMEO:", "First Citizen:" at a line's start
FEATURES = {
    "line_position": "position in the line",
    "in_double_quotes": 'inside double quotes "..."',
    "in_single_quotes": "inside single quotes '...' (within a line)",
    "bracket_depth": "depth of ( [ {",
    "indentation": "indentation of the line (leading spaces and tabs)",
    "in_word": "inside a word (letters, digits, _)",
    "after_blank_line": "on the first line after a blank line",
    "in_comment": "inside a comment: # or // to the line's end, /* */",
    "speaker_line": "on a line that starts with a speaker's name (NAME:)",
}


def text_features(text):
    """(N, len(FEATURES)) float32: each feature's value at each character, as
    it stands once that character has been read.

    Quotes as code and prose use them: a triple quote (\"\"\" or \'\'\') opens
    or closes a string across lines; a single quote's string ends at the
    line's end (an apostrophe opens one: a known blind spot); a double
    quote's string may span lines (dialogue) but not a blank line.  Quotes
    inside the other kind of string or a comment do not count, nor do
    brackets inside strings.
    """
    out = np.zeros((len(text), len(FEATURES)), np.float32)
    scan = TextScan(text)
    for i, ch in enumerate(text):
        out[i] = scan.newline(i) if ch == "\n" else scan.character(i, ch)
    return out


class TextScan:
    """text_features' reading of a text, a character at a time: what the
    features depend on, as it stands after the character read last."""

    def __init__(self, text):
        self.text = text
        self.column = self.depth = self.indent = 0
        # the open string's quote character, or ""; triple: of a triple quote
        self.double = self.single = self.triple = ""
        self.leading = True  # still in the line's leading whitespace
        self.previous_blank = False  # this line follows a blank line
        self.line_has_text = False
        self.operand = False  # the line's last non-space character ends an operand: a // b
        self.line_comment = self.block_comment = False
        self.speaker = bool(SPEAKER.match(text))
        self.prev = ""
        self.skip = 0  # the rest of a triple quote, already counted
        self.escaped = False  # the previous character was a backslash inside a string

    def newline(self, i):
        """Read the newline text[i]; the features there."""
        blank = not self.line_has_text  # the line that ends here was empty or blank
        if blank:
            self.double = ""
        self.previous_blank = blank
        self.column, self.single, self.indent, self.leading = 0, "", 0, True
        self.line_comment = self.line_has_text = self.operand = self.escaped = False
        self.speaker = bool(SPEAKER.match(self.text, i + 1))
        self.prev = "\n"
        return (
            0,
            bool(self.double or self.triple == '"'),
            self.triple == "'",
            self.depth,
            0,
            0,
            0,
            self.block_comment,
            0,
        )

    def character(self, i, ch):
        """Read text[i], ``ch``, not a newline; the features there."""
        self.column += 1
        self.strings_and_comments(i, ch)
        if self.leading and ch in " \t":
            self.indent += 1
        else:
            self.leading = False
        if not ch.isspace():
            self.line_has_text = True
            if ch != "/":  # what stands before a // decides: operand (a // b) or not
                self.operand = ch.isalnum() or ch in "_)]}\"'"
        features = (
            self.column,
            bool(self.double or self.triple == '"' or self.skip and ch == '"'),
            bool(self.single or self.triple == "'" or self.skip and ch == "'"),
            self.depth,
            self.indent,
            ch.isalnum() or ch == "_",
            self.previous_blank,
            self.line_comment or self.block_comment or (ch == "/" and self.prev == "*"),
            self.speaker,
        )
        self.prev = ch
        return features

    def strings_and_comments(self, i, ch):
        """Where ``ch`` opens or closes a string or a comment."""
        in_string = bool(self.double or self.single or self.triple)
        if self.skip:
            self.skip -= 1
        elif self.escaped:
            self.escaped = False
        elif in_string and ch == "\\":
            self.escaped = True
        elif not (in_string or self.line_comment or self.block_comment):
            self.code(i, ch)
        elif self.block_comment:
            if ch == "/" and self.prev == "*":
                self.block_comment = False
        elif self.triple:
            if ch == self.triple and self.text.startswith(ch * 3, i):
                self.triple, self.skip = "", 2
        elif self.double and ch == '"':
            self.double = ""
        elif self.single and ch == "'":
            self.single = ""

    def code(self, i, ch):
        """A character outside strings and comments: one may open, or a bracket."""
        if ch == "#" or (
            ch == "/"
            and self.prev == "/"
            and not self.operand
            and not self.text.startswith("=", i + 1)
        ):
            self.line_comment = True
        elif ch == "*" and self.prev == "/":
            self.block_comment = True
        elif ch in "\"'":
            if self.text.startswith(ch * 3, i):
                self.triple, self.skip = ch, 2
            elif ch == '"':
                self.double = ch
            else:
                self.single = ch
        elif ch in "([{":
            self.depth += 1
        elif ch in ")]}":
            self.depth = max(self.depth - 1, 0)


@dataclass
class Finding:
    feature: str
    layer: int
    unit: int
    correlation: float


class Correlations:
    """Running sums for Pearson's r between every unit and every feature."""

    def __init__(self, units, features):
        self.n = 0
        self.sx = np.zeros(units)
        self.sxx = np.zeros(units)
        self.sy = np.zeros(features)
        self.syy = np.zeros(features)
        self.sxy = np.zeros((units, features))

    def add(self, x, y):
        x, y = x.astype(np.float64), y.astype(np.float64)
        self.n += len(x)
        self.sx += x.sum(0)
        self.sxx += (x * x).sum(0)
        self.sy += y.sum(0)
        self.syy += (y * y).sum(0)
        self.sxy += x.T @ y

    def r(self):
        """(units, features) correlations; NaN where a unit or a feature is constant."""
        n = self.n
        cov = self.sxy - np.outer(self.sx, self.sy) / n
        vx = self.sxx - self.sx**2 / n
        vy = self.syy - self.sy**2 / n
        with np.errstate(invalid="ignore", divide="ignore"):
            r = cov / np.sqrt(np.outer(vx, vy))
        r[~np.isfinite(r)] = np.nan
        return np.clip(r, -1, 1)


def unit_state(cell):
    """Which of a layer's state sequences is shown, and how: (index, squash)."""
    module = cells.get(cell)
    name, squash = module.SHOWN
    return module.STATES.index(name), squash


def run(ckpt, ids, keep=0, on_chunk=None, streams=1):
    """Run the model over ``ids`` cut into ``streams`` contiguous streams read
    side by side, each from a zero state (the state carried within a stream;
    fewer than ``streams`` characters at the end are left out).  Calls
    on_chunk(positions (n,), activations (n, L*H)) for every chunk; returns,
    for the first ``keep`` characters (which must lie in the first stream),
    (activations (keep, L, H), probabilities of the next character (keep, V))."""
    m = ckpt.model
    p = views(ckpt.params, m)
    index, squash = unit_state(m.cell)
    ids = np.asarray(ids, np.int32)
    columns = len(ids) // streams
    if keep > columns:
        raise ValueError("the kept characters must lie in the first stream")
    starts = np.arange(streams) * columns
    state = zero_state(m, streams)
    kept_acts = np.zeros((keep, m.layers, m.hidden), np.float32)
    kept_top = np.zeros((keep, m.hidden), np.float32)
    for lo in range(0, columns, CHUNK):
        T = min(CHUNK, columns - lo)
        positions = lo + np.arange(T)[:, None] + starts[None, :]  # (T, streams)
        block = ids[positions]
        acts = np.zeros((T, streams, m.layers, m.hidden), np.float32)
        top = np.zeros((T, m.hidden), np.float32)

        def on_layer(l, sequences):
            values = sequences[index][1 : T + 1]
            acts[:, :, l] = squash(values) if squash else values
            if l == m.layers - 1:
                top[:] = sequences[0][1 : T + 1, 0]

        targets = ids[np.minimum(positions + 1, len(ids) - 1)]
        _, state, _ = forward(
            ckpt.params, m, block, targets, state, blocks=WORK_BLOCKS, on_layer=on_layer
        )
        if on_chunk:
            on_chunk(positions.reshape(-1), acts.reshape(T * streams, -1))
        if lo < keep:
            n = min(keep - lo, T)
            kept_acts[lo : lo + n], kept_top[lo : lo + n] = acts[:n, 0], top[:n]
    logits = kept_top @ p["w_y"] + p["b_y"]
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return kept_acts, probs


STREAMS = 32  # --find reads the text as up to this many streams side by side: batched, fast


def find(ckpt, text, top=3, keep=0):
    """(the ``top`` units of each feature by |correlation| over ``text``, best
    first, as [Finding]; the features constant in it; and ``run``'s kept
    activations and probabilities for its first ``keep`` characters)."""
    m = ckpt.model
    features = text_features(text)
    sums = Correlations(m.layers * m.hidden, len(FEATURES))
    ids = ckpt.vocab.encode(text)
    # each stream at least as long as what is shown, and a few chunks long
    streams = max(1, min(STREAMS, len(ids) // max(keep, 4 * CHUNK)))
    acts, probs = run(
        ckpt,
        ids,
        keep,
        streams=streams,
        on_chunk=lambda positions, a: sums.add(a, features[positions]),
    )
    r = sums.r()
    findings, constant = [], []
    for f, name in enumerate(FEATURES):
        column = r[:, f]
        if np.isnan(column).all():
            constant.append(name)
            continue
        order = np.argsort(-np.nan_to_num(np.abs(column), nan=-1.0))[:top]
        findings += [
            Finding(name, int(u // m.hidden), int(u % m.hidden), float(column[u])) for u in order
        ]
    return findings, constant, acts, probs


@dataclass
class View:
    """What ``charrnn viz`` shows of a text."""

    text: str  # the characters shown
    units: list  # [(layer, unit, label)]: the unit asked for, or each feature's best
    activations: np.ndarray  # (len(text), L, H): every unit's value after each character
    probabilities: np.ndarray  # (len(text), V): the next character's, after each
    vocabulary: str  # the model's characters, in the order of the V columns
    findings: list = None  # without a unit: the top units of each feature, [Finding]
    constant: list = None  # without a unit: the features constant in the text scanned
    scanned: int = 0  # without a unit: the characters the correlations cover


def read_text(path, length, encoding="utf-8"):
    """The first ``length`` characters of the text file ``path``, carriage returns dropped."""
    text = ""
    for block in read_blocks(path, encoding):
        text += block[: length - len(text)]
        if len(text) >= length:
            break
    return text.replace("\r", "")


def view_file(
    ckpt, path, *, layer=None, unit=None, length=2000, scan=100_000, top=3, encoding="utf-8"
):
    """``view`` of the start of the text file ``path``."""
    text = read_text(path, length if unit is not None else max(length, scan), encoding)
    return view(ckpt, text, layer=layer, unit=unit, length=length, scan=scan, top=top, what=path)


def view(ckpt, text, *, layer=None, unit=None, length=2000, scan=100_000, top=3, what="the text"):
    """The View of ``unit`` of ``layer`` (default: the last) over the first
    ``length`` characters of ``text`` (``what``, for messages); without a unit,
    of the ``top`` units of each feature (find), measured over its first
    ``scan`` characters (those shown among them)."""
    check_view(ckpt.model, layer, unit, length, scan, top)
    if unit is None and len(text) < MIN_FIND:
        raise CharrnnError(
            f"{what}: {len(text):,} characters; --find needs at least "
            f"{MIN_FIND:,} for correlations that mean something: give a longer "
            "text, or show one unit with --unit"
        )
    if not text:
        raise CharrnnError(f"{what}: the file is empty")
    ckpt.vocab.encode(text, what=what)  # unknown characters: one message naming them
    shown = text[:length]
    if unit is not None:
        layer = ckpt.model.layers - 1 if layer is None else layer
        acts, probs = run(ckpt, ckpt.vocab.encode(shown), keep=len(shown))
        return View(
            shown, [(layer, unit, f"layer {layer} unit {unit}")], acts, probs, ckpt.vocab.chars
        )
    scanned = text[: max(scan, len(shown))]
    findings, constant, acts, probs = find(ckpt, scanned, top, len(shown))
    units = [
        (f.layer, f.unit, f"layer {f.layer} unit {f.unit}: {f.feature} (r = {f.correlation:+.2f})")
        for f in best_per_feature(findings)
    ]
    if not units:
        raise CharrnnError(
            f"{what}: no feature varies in its first {len(text):,} characters; give a "
            "more varied text (or a larger --scan), or show one unit with --unit"
        )
    return View(shown, units, acts, probs, ckpt.vocab.chars, findings, constant, len(scanned))


def check_view(m, layer, unit, length, scan, top):
    """Refuse what ``view`` cannot show of the model ``m``, naming the option."""
    for name, value in (("--length", length), ("--scan", scan), ("--top", top)):
        if value < 1:
            raise CharrnnError(f"{name} must be at least 1, not {value}")
    if unit is not None or layer is not None:
        layer = m.layers - 1 if layer is None else layer
        if not 0 <= layer < m.layers:
            raise CharrnnError(
                f"--layer must be in 0..{m.layers - 1}: the model has {m.layers} layers"
            )
        if unit is None:
            raise CharrnnError(
                f"--layer {layer} picks the layer of a unit: give --unit too (0..{m.hidden - 1}), "
                "or leave --layer out to find the units that track features"
            )
        if not 0 <= unit < m.hidden:
            raise CharrnnError(f"--unit must be in 0..{m.hidden - 1} (the layer's units)")


def correlation_table(findings):
    lines = [f"{'feature':<18} {'layer':>5} {'unit':>5} {'correlation':>11}"]
    lines += [f"{f.feature:<18} {f.layer:>5} {f.unit:>5} {f.correlation:>+11.3f}" for f in findings]
    return "\n".join(lines)


def best_per_feature(findings):
    """The best Finding of each feature, best |correlation| first."""
    best = {}
    for f in findings:
        if f.feature not in best or abs(f.correlation) > abs(best[f.feature].correlation):
            best[f.feature] = f
    return sorted(best.values(), key=lambda f: -abs(f.correlation))
