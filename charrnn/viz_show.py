"""How ``charrnn viz`` shows a unit: colours on a terminal, plain lines, or
one self-contained HTML page (viz.py computes what is shown)."""

import html
import json

import numpy as np

from .errors import CharrnnError
from .files import escape_surrogates, write_atomically


def write_page(path, shown, title):
    """Write the HTML page of the View ``shown`` to ``path``."""
    values = [shown.activations[:, layer, unit] for layer, unit, _ in shown.units]
    text = page(
        shown.text,
        [label for _, _, label in shown.units],
        values,
        shown.probabilities,
        shown.vocabulary,
        title,
    )
    try:
        write_atomically(path, lambda f: f.write(escape_surrogates(text).encode("utf-8")))
    except OSError as e:
        raise CharrnnError(f"cannot write {path} ({e.strerror})") from None


# Red (-1) through white (0) to blue (+1), as in the char-rnn visualizations.
def colour(value):
    v = max(-1.0, min(1.0, float(value)))
    if v < 0:
        return 255, int(255 * (1 + v)), int(255 * (1 + v))
    return int(255 * (1 - v)), int(255 * (1 - v)), 255


def terminal(text, values):
    """The text with each character on a background of its unit's colour (24-bit ANSI)."""
    out = []
    for ch, v in zip(text, values):
        if ch == "\n":
            out.append("\x1b[0m\n")
            continue
        r, g, b = colour(v)
        out.append(f"\x1b[48;2;{r};{g};{b}m\x1b[38;2;0;0;0m{ch}")
    return "".join(out) + "\x1b[0m"


def plain(text, values):
    """One line per character: the character (escaped) and the unit's value."""
    return "\n".join(f"{json.dumps(ch)[1:-1]:>6} {v:+.3f}" for ch, v in zip(text, values))


def page(text, units, values, probs, vocab, title):
    """One self-contained HTML page: the text coloured by a unit (a menu picks
    among ``units``), and on hover the unit's value and the model's five most
    likely next characters.  ``values`` (len(units), N)."""
    top5 = np.argsort(-probs, axis=1)[:, :5]
    predictions = [
        [[vocab[j], round(float(probs[i, j]), 4)] for j in top5[i]] for i in range(len(text))
    ]
    spans = "".join(
        "<br>"
        if ch == "\n"
        else f'<span data-i="{i}" style="background:rgb{colour(values[0][i])}">'
        f"{html.escape(ch) if ch != ' ' else '&nbsp;'}</span>"
        for i, ch in enumerate(text)
    )
    options = "".join(
        f'<option value="{k}">{html.escape(label)}</option>' for k, label in enumerate(units)
    )
    data = json.dumps(
        {
            "values": [[round(float(v), 3) for v in row] for row in values],
            "predictions": predictions,
            "units": units,
        },
        ensure_ascii=False,
    )
    return PAGE.format(
        title=html.escape(title), options=options, spans=spans, data=data.replace("</", "<\\/")
    )


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
#text {{ font-family: monospace; font-size: 14px; line-height: 1.5; white-space: pre-wrap;
         tab-size: 4; }}
#text span {{ color: black; }}
#tip {{ position: fixed; display: none; background: #222; color: #eee; padding: 6px 9px;
        font: 13px monospace; border-radius: 4px; pointer-events: none; white-space: pre; }}
</style></head>
<body>
<h1>{title}</h1>
<p>Each character is coloured by the unit's value after the model read it: red -1,
white 0, blue +1. Hover over a character for the value and the model's five most
likely next characters.</p>
<label>Unit: <select id="unit">{options}</select></label>
<div id="text">{spans}</div>
<div id="tip"></div>
<script>
const data = {data};
const tip = document.getElementById("tip");
const select = document.getElementById("unit");
function colour(v) {{
  v = Math.max(-1, Math.min(1, v));
  const a = Math.floor(255 * (1 - Math.abs(v)));
  return v < 0 ? `rgb(255, ${{a}}, ${{a}})` : `rgb(${{a}}, ${{a}}, 255)`;
}}
function show(char) {{
  return char === "\\n" ? "\\\\n" : char === " " ? "' '" : char;
}}
select.addEventListener("change", () => {{
  const values = data.values[select.value];
  for (const span of document.querySelectorAll("#text span"))
    span.style.background = colour(values[span.dataset.i]);
}});
document.getElementById("text").addEventListener("mouseover", (event) => {{
  const i = event.target.dataset.i;
  if (i === undefined) return;
  const lines = [`${{data.units[select.value]}}: ${{data.values[select.value][i].toFixed(3)}}`,
                 "next:"];
  for (const [char, p] of data.predictions[i]) lines.push(`  ${{show(char)}}  ${{p.toFixed(3)}}`);
  tip.textContent = lines.join("\\n");
  tip.style.display = "block";
  tip.style.left = (event.clientX + 12) + "px";
  tip.style.top = (event.clientY + 12) + "px";
}});
document.getElementById("text").addEventListener("mouseout", () => {{
  tip.style.display = "none";
}});
</script>
</body></html>
"""
