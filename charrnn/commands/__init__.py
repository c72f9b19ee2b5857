"""The commands of ``charrnn`` (cli.py gathers them), each a thin layer over
the library: parse, one call, print text or JSON.

options.py   what they share: option types, the options made from
             TrainConfig's fields, JSON on stdout
train.py     train               sample.py   sample
evaluate.py  eval                viz.py      viz
runs.py      runs, info, plot    corpus.py   corpus
export.py    export
"""
