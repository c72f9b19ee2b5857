"""What charrnn and PyTorch train and generate in bench/run.py: the model
sizes, the corpus, the training settings, and one run's options.

The model is the same on both sides: a one-hot (lookup) input, L stacked
recurrent layers of H units of one cell and a linear decoder over the
corpus's V characters (65 for tinyshakespeare), trained with cross-entropy,
global-norm clipping at CLIP and Adam (LR), the hidden state carried across
steps over B contiguous streams of T characters.

The comparison's modules import only the standard library at their top:
numpy, Numba, charrnn and torch load inside the functions that measure, so
that a worker process holds only its own contender, and the whole-command
worker, which only waits for its child, stays small (whole_command.child_peak).
"""

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared/corpora/tinyshakespeare.txt"
TASKS = ("train", "sample", "beam", "command")
PRECISIONS = ("float32", "bfloat16", "int8")  # of charrnn's weights in generation
TRAIN_PRECISIONS = ("float32", "bfloat16")  # of charrnn's products in training (bfloat16: AMX)
LR, CLIP, BEAM_WIDTH, TEMPERATURE = 2e-3, 5.0, 7, 1.0
VAL_FRAC = 0.1  # of the whole-command runs: the last tenth of the corpus


@dataclass(frozen=True)
class Config:
    """A model size and the batches it trains on."""

    name: str  # "LxH", as --configs spells it
    hidden: int  # H
    layers: int  # L
    batch: int  # B streams
    seq: int  # T characters per stream and step


CONFIGS = {
    c.name: c
    for c in (
        Config("2x128", hidden=128, layers=2, batch=50, seq=50),
        Config("2x512", hidden=512, layers=2, batch=50, seq=50),
        Config("3x256", hidden=256, layers=3, batch=64, seq=100),
    )
}


def parse_config(name):
    """The Config called ``name``: one of CONFIGS, or any other "LxH" at B50 T50
    (a small one such as 1x32 checks the benchmark itself in seconds)."""
    if name in CONFIGS:
        return CONFIGS[name]
    match = re.fullmatch(r"([1-9][0-9]*)x([1-9][0-9]*)", name)
    if match is None:
        raise ValueError(
            f"configuration {name!r} is not LxH (layers x hidden units); "
            f"the measured ones are {', '.join(CONFIGS)}"
        )
    return Config(name, hidden=int(match[2]), layers=int(match[1]), batch=50, seq=50)


@dataclass(frozen=True)
class Options:
    """One benchmark run as its command line chose it (measure.add_options)."""

    cells: tuple  # charrnn's cells, in the order given
    configs: tuple  # of Config
    tasks: tuple  # of TASKS
    precisions: tuple  # of PRECISIONS: charrnn generates once per precision
    corpus: str
    rounds: int = 3
    threads: int = 2  # charrnn's threads in every task
    seconds: float = 5.0  # target duration of a timed training run
    min_steps: int = 3  # fewest timed training steps
    sample_length: int = 2000
    beam_length: int = 200
    peak_size: int = 2048  # of the matmul that measures the machine's peak
    peak_repeats: int = 7
    command_steps: int = 0  # of the whole-command runs; 0: by configuration
    # of TRAIN_PRECISIONS: charrnn trains once per precision (bfloat16 only where
    # the CPU has AMX); raw files from before bfloat16 training measured float32 alone
    train_precisions: tuple = ("float32",)

    def to_json(self):
        return asdict(self)

    @classmethod
    def from_json(cls, fields):
        options = cls(**fields)
        return replace(
            options,
            cells=tuple(options.cells),
            tasks=tuple(options.tasks),
            precisions=tuple(options.precisions),
            train_precisions=tuple(options.train_precisions),
            configs=tuple(Config(**c) for c in options.configs),
        )


def missing_corpus(path):
    """The one-line error for a corpus that is not there, with how to get one."""
    return (
        f"{path}: corpus not found; make it with `charrnn corpus tinyshakespeare -o "
        f"{path}` (a download, checked) or pass --corpus FILE"
    )


def load_ids(corpus):
    """(chars, ids): the corpus encoded with its sorted character vocabulary."""
    import numpy as np

    text = Path(corpus).read_text(encoding="utf-8")
    chars = "".join(sorted(set(text)))
    lut = np.zeros(max(map(ord, chars)) + 1, np.uint8 if len(chars) <= 256 else np.uint32)
    lut[[ord(ch) for ch in chars]] = np.arange(len(chars))
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    return chars, lut[codes]


def stream_batch(ids, batch, seq, k):
    """Batch k of the corpus walked as ``batch`` contiguous streams (as
    charrnn.data.batches.StreamBatcher does), wrapping round after the last full one:
    (inputs, targets), each (seq, batch)."""
    import numpy as np

    columns = (len(ids) - 1) // batch
    k %= columns // seq
    positions = np.arange(k * seq, (k + 1) * seq + 1)[:, None] + np.arange(batch)[None, :] * columns
    chunk = ids[positions].astype(np.int64)
    return chunk[:-1], chunk[1:]
