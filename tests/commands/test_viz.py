"""``charrnn viz``: the text's features, the streaming correlations, the
activations against the NumPy references, --find on a corpus with an obvious
state (a trained model tracks it with |r| >= 0.8), the outputs, and the HTML
page in a real headless Chromium."""

import json
import os
import random
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn import cells, viz, viz_show
from charrnn.cells import CELLS
from charrnn.checkpoint import Checkpoint
from charrnn.cli import main
from charrnn.data.corpus import Vocabulary
from charrnn.model import ModelConfig, init_params, views
from reference import step_of

FEATURE = {name: i for i, name in enumerate(viz.FEATURES)}


def invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_text_features_by_hand():
    text = 'ROMEO: x = f("a b", [1])  # hi\n\n    y\n'
    f = viz.text_features(text)
    at = {i: dict(zip(viz.FEATURES, row)) for i, row in enumerate(f)}
    quote_a = text.index('"a') + 1
    assert at[quote_a]["in_double_quotes"] == 1 and at[0]["in_double_quotes"] == 0
    assert at[text.index("[1") + 1]["bracket_depth"] == 2  # inside ( and [
    assert at[text.index("]")]["bracket_depth"] == 1
    assert at[text.index("hi")]["in_comment"] == 1 and at[text.index("x")]["in_comment"] == 0
    assert at[text.index("x")]["line_position"] == text.index("x") + 1
    assert at[0]["speaker_line"] == 1 and at[text.index("y")]["speaker_line"] == 0
    y = text.index("y")
    assert at[y]["indentation"] == 4 and at[y]["after_blank_line"] == 1
    assert at[text.index("hi")]["after_blank_line"] == 0
    assert at[text.index("ROMEO") + 1]["in_word"] == 1 and at[text.index(":")]["in_word"] == 0
    single = viz.text_features("a 'q' it's\n'")
    assert single[3, FEATURE["in_single_quotes"]] == 1
    assert single[5, FEATURE["in_single_quotes"]] == 0
    assert single[9, FEATURE["in_single_quotes"]] == 1  # an apostrophe opens one, to the line's end
    assert single[-1, FEATURE["in_single_quotes"]] == 1  # the line's end closed it; this opens
    code = 'x = "a\'b" + \'c"d\'\n"""doc\nstring""" y ("(")\n'
    f = viz.text_features(code)
    double, single = f[:, FEATURE["in_double_quotes"]], f[:, FEATURE["in_single_quotes"]]
    assert double[code.index("b")] == 1 and single[code.index("b")] == 0  # ' inside "..."
    assert single[code.index("d")] == 1 and double[code.index("d")] == 0  # " inside '...'
    assert double[code.index("string")] == 1 and double[code.index(" y")] == 0  # triple quotes
    assert f[code.index('("(') + 2, FEATURE["bracket_depth"]] == 1  # "(" in a string: not one
    assert viz.text_features('"a\nb\n\nc')[-1, FEATURE["in_double_quotes"]] == 0  # paragraph
    edge = 'f(a // 2)\nx = "a\\"b" # c\ny = 1; // note (\n  \nz\n'
    f = viz.text_features(edge)
    assert f[-2, FEATURE["bracket_depth"]] == 0  # a // 2 is no comment: its ) closes
    assert f[edge.index(" c") + 1, FEATURE["in_comment"]] == 1  # \" did not end the string
    assert f[edge.index("note"), FEATURE["in_comment"]] == 1  # after ; it is a comment
    assert f[edge.index("z"), FEATURE["after_blank_line"]] == 1  # a line of spaces is blank
    block = viz.text_features("a /* b\n c */ d")
    assert block[5, FEATURE["in_comment"]] == 1 and block[8, FEATURE["in_comment"]] == 1
    assert block[-1, FEATURE["in_comment"]] == 0


def test_streaming_correlations_equal_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((500, 7)), rng.standard_normal((500, 3))
    y[:, 1] += 2 * x[:, 4]
    sums = viz.Correlations(7, 3)
    for lo in range(0, 500, 128):
        sums.add(x[lo : lo + 128], y[lo : lo + 128])
    expected = np.corrcoef(x.T, y.T)[:7, 7:]
    np.testing.assert_allclose(sums.r(), expected, atol=1e-9)
    constant = viz.Correlations(2, 1)
    constant.add(np.ones((10, 2)), rng.standard_normal((10, 1)))
    assert np.isnan(constant.r()).all()


@pytest.mark.parametrize("cell", list(CELLS))
def test_activations_and_predictions_equal_the_reference(cell):
    chars = "abcdef\n"
    cfg = ModelConfig(vocab_size=len(chars), hidden=10, layers=2, cell=cell)
    params = init_params(cfg, np.random.default_rng(3)) * np.float32(2)
    ckpt = Checkpoint(model=cfg, vocab=Vocabulary(chars), params=params)
    rng = np.random.default_rng(4)
    ids = rng.integers(0, len(chars), 300)  # more than one chunk
    acts, probs = viz.run(ckpt, ids, keep=300)
    p = {k: v.astype(np.float64) for k, v in views(params, cfg).items()}
    module = cells.get(cell)
    shown, squash = module.STATES.index(module.SHOWN[0]), module.SHOWN[1] or (lambda v: v)
    state = np.zeros((cfg.layers, len(module.STATES), 1, cfg.hidden))
    for t, i in enumerate(ids):
        x = np.eye(len(chars))[[i]]
        for l in range(cfg.layers):
            state[l] = step_of(cell)(p, l, x, state[l])
            x = state[l, 0]
            want = squash(state[l, shown, 0])
            np.testing.assert_allclose(acts[t, l], want, atol=2e-5)
        logits = x[0] @ p["w_y"] + p["b_y"]
        np.testing.assert_allclose(probs[t], np.exp(logits) / np.exp(logits).sum(), atol=2e-5)


def quoted_corpus(path, seed=0):
    """Words in lower case outside double quotes, in upper case inside: the
    case of the next letter depends on a state the model must keep."""
    rng = random.Random(seed)
    words = []
    for _ in range(6000):
        n = rng.randint(3, 12)
        if rng.random() < 0.3:
            words.append('"' + "".join(rng.choice("ABCDEFGH ") for _ in range(n)) + '"')
        else:
            words.append("".join(rng.choice("abcdefgh ") for _ in range(n)))
    lines, line = [], ""
    for w in words:
        line += w + " "
        if len(line) > 60 and rng.random() < 0.3:
            lines.append(line)
            line = ""
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def quotes(tmp_path_factory):
    """(corpus, trained run, untrained run) on the quoted corpus."""
    root = tmp_path_factory.mktemp("viz")
    corpus = quoted_corpus(root / "quotes.txt")
    args = [
        "--hidden",
        "32",
        "--layers",
        "1",
        "--batch-size",
        "16",
        "--seq-length",
        "64",
        "--quiet",
        "--seed",
        "1",
    ]
    for name, steps in (("trained", 300), ("untrained", 1)):
        result = invoke(
            [
                "train",
                corpus,
                "--out",
                root / name,
                "--max-steps",
                steps,
                "--eval-every",
                min(steps, 100),
            ]
            + args
        )
        assert result.exit_code == 0, result.output
    return corpus, root / "trained" / "best.npz", root / "untrained" / "last.npz"


def find(checkpoint, corpus):
    result = invoke(["viz", checkpoint, corpus, "--scan", 20000, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return max(
        (f for f in report["findings"] if f["feature"] == "in_double_quotes"),
        key=lambda f: abs(f["correlation"]),
    )


def test_find_returns_a_unit_that_tracks_the_quotes(quotes):
    corpus, trained, untrained = quotes
    best = find(trained, corpus)
    assert abs(best["correlation"]) >= 0.8, best
    assert abs(find(untrained, corpus)["correlation"]) < abs(best["correlation"]) - 0.2
    # that unit, shown: its values inside quotes and outside are apart
    result = invoke(
        ["viz", trained, corpus, "--layer", best["layer"], "--unit", best["unit"], "-n", 3000]
    )
    rows = result.stdout.splitlines()[1:]
    assert len(rows) == 3000
    values = np.array([float(r.split()[-1]) for r in rows])
    text = corpus.read_text()[:3000]
    inside = viz.text_features(text)[:, FEATURE["in_double_quotes"]] == 1
    gap = values[inside].mean() - values[~inside].mean()
    assert abs(gap) > 0.3 and np.sign(gap) == np.sign(best["correlation"])


def test_table_and_terminal_colours(quotes, monkeypatch):
    corpus, trained, _ = quotes
    result = invoke(["viz", trained, corpus, "--scan", 5000, "-n", 80, "--top", 2])
    assert result.exit_code == 0, result.output
    table = [l for l in result.stdout.split("\n\n")[0].splitlines() if not l.startswith("(")]
    assert table[0].split() == ["feature", "layer", "unit", "correlation"]
    constant = re.search(r"not measured: (.*)\)", result.stdout).group(1).split(", ")
    assert {"speaker_line", "bracket_depth", "in_comment"} <= set(constant)  # none in the text
    assert len(table) == 1 + 2 * (len(viz.FEATURES) - len(constant))
    coloured = viz_show.terminal("ab\nc", [-1.0, 0.0, 0.5, 1.0])  # a value per character
    black = "\x1b[38;2;0;0;0m"
    assert f"\x1b[48;2;255;0;0m{black}a" in coloured  # -1 red
    assert f"\x1b[48;2;255;255;255m{black}b" in coloured  # 0 white
    assert f"\x1b[48;2;0;0;255m{black}c" in coloured and coloured.count("\n") == 1  # +1 blue


@pytest.mark.parametrize(
    "args,message",
    [
        (["--layer", 5, "--unit", 0], "--layer must be in 0..0"),
        (["--unit", 32], "--unit must be in 0..31"),
        (["--length", 0], "--length must be at least 1"),
    ],
)
def test_bad_options(quotes, args, message):
    corpus, trained, _ = quotes
    result = invoke(["viz", trained, corpus] + args)
    assert result.exit_code == 1 and message in result.output, result.output


def test_short_and_empty_files_and_conflicting_options(quotes, tmp_path):
    corpus, trained, _ = quotes
    result = invoke(["viz", trained, corpus, "--scan", 300, "--length", 1000, "--json"])
    assert result.exit_code == 0, result.output  # the shown part is scanned too
    assert json.loads(result.stdout)["characters"] == 1000
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for args, code, message in [
        ([empty], 1, "needs at least"),
        ([empty, "--unit", 0], 1, "empty"),
        ([corpus, "--unit", 1, "--find"], 2, "give one of them"),  # a usage error
        ([corpus, "--unit", 1, "--json"], 2, "--json"),
    ]:
        result = invoke(["viz", trained] + args)
        assert result.exit_code == code and message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_unknown_characters_are_named(quotes, tmp_path):
    _, trained, _ = quotes
    other = tmp_path / "other.txt"
    other.write_text("abc xyz")
    result = invoke(["viz", trained, other, "--unit", 0])
    assert result.exit_code == 1 and "'x'" in result.output


def browser():
    """A headless Chromium driven by Selenium, or the reason there is none."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        return None, (
            "no Chromium: .ci/run installs Debian's chromium and chromium-driver; "
            "here they are missing and could not be installed"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None, "Selenium is not installed (pip install -e '.[test]')"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options), None


def test_the_page_in_a_real_browser(quotes, tmp_path):
    corpus, trained, _ = quotes
    page = tmp_path / "page.html"
    result = invoke(["viz", trained, corpus, "--scan", 5000, "-n", 400, "--html", page])
    assert result.exit_code == 0, result.output
    source = page.read_text()
    assert not re.search(r"(src|href)=\"?https?:", source)  # self-contained: no fetches
    driver, reason = browser()
    if driver is None:
        pytest.skip(reason)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    try:
        driver.get(page.as_uri())
        spans = driver.find_elements(By.CSS_SELECTOR, "#text span")
        text = corpus.read_text()[:400]
        assert len(spans) == len(text) - text.count("\n")
        data = json.loads(re.search(r"const data = (.*?);\n", source).group(1))
        colours = {s.value_of_css_property("background-color") for s in spans[:200]}
        assert len(colours) > 20  # coloured by the unit, not one colour
        i = 57
        ActionChains(driver).move_to_element(spans[i]).perform()
        tip = driver.find_element(By.ID, "tip")
        assert tip.is_displayed()
        lines = tip.text.splitlines()
        index = int(spans[i].get_attribute("data-i"))
        assert lines[0].endswith(f"{data['values'][0][index]:.3f}") and lines[1] == "next:"
        assert len(lines) == 7  # the five most likely next characters
        top = data["predictions"][index][0]
        assert lines[2].split()[-1] == f"{top[1]:.3f}"
        before = spans[0].value_of_css_property("background-color")
        Select(driver.find_element(By.ID, "unit")).select_by_index(1)
        after = [s.value_of_css_property("background-color") for s in spans[:50]]
        assert after != [before] * 50 and len(data["values"]) >= 3  # one unit per feature
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        driver.save_screenshot(str(tmp_path / "page.png"))
        assert os.path.getsize(tmp_path / "page.png") > 10_000
    finally:
        driver.quit()


def test_streams_cover_the_text_once_and_keep_the_first_stream():
    chars = "abcdef\n"
    cfg = ModelConfig(vocab_size=len(chars), hidden=8, layers=2)
    ckpt = Checkpoint(
        model=cfg, vocab=Vocabulary(chars), params=init_params(cfg, np.random.default_rng(5))
    )
    ids = np.random.default_rng(6).integers(0, len(chars), 1003)
    seen = []
    acts4, probs4 = viz.run(
        ckpt, ids, keep=100, streams=4, on_chunk=lambda positions, a: seen.extend(positions)
    )
    assert sorted(seen) == list(range(1000))  # 4 streams of 250; the last 3 left out
    acts1, probs1 = viz.run(ckpt, ids, keep=100)
    np.testing.assert_allclose(acts4, acts1, atol=1e-5)  # the first stream starts at 0 too
    np.testing.assert_allclose(probs4, probs1, atol=1e-5)
