"""charrnn against a PyTorch reference of the same model: speed and memory.

Measures (bench/measure.py: every contender in worker processes, alternated
in rounds) and then reports (bench/report.py: medians, spread and ratios),
in one go.  Training has four contenders: charrnn in float32 and, where the
CPU has AMX tiles, in bfloat16; PyTorch in float32 and in bfloat16 autocast.
The model, the corpus and the training settings are in bench/settings.py;
the cells are charrnn.cells.CELLS, and the PyTorch module that plays each
cell that has one is in bench/torch_side.py (PEERS).
PyTorch is only a benchmark dependency: pip install torch==2.13.0.  The
corpus is ../shared/corpora/tinyshakespeare.txt unless --corpus names
another (`charrnn corpus tinyshakespeare -o FILE` makes one).

    python bench/run.py                       # 3 rounds, LSTM, all configurations (~20 min)
    python bench/run.py --rounds 5 --configs 2x128,2x512
    python bench/run.py --tasks train --rounds 5   # training's four contenders, all configs
    python bench/run.py --tasks train --train-precisions float32    # no bfloat16 training
    python bench/run.py --cell gru,rnn --configs 2x128,2x512
    python bench/run.py --cell all --tasks train    # every cell, training only
    python bench/run.py --tasks train,command # memory: the training loop, the whole command
    python bench/run.py --quick               # seconds-long smoke test (plus compiling)
    python bench/run.py --quick --cell all --tasks train
    python bench/run.py --quick --configs 1x32 --corpus corpora/tinyshakespeare.txt
"""

import argparse

import measure
import report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    measure.add_options(parser)
    parser.add_argument(
        "--json", metavar="PATH", help="also write every raw result here (bench/report.py reads it)"
    )
    args = parser.parse_args()
    raw = measure.measure(measure.options_from(args))
    if args.json:
        measure.write_raw(raw, args.json)
    print(report.render(raw))


if __name__ == "__main__":
    main()
