"""The data path: text file -> vocabulary -> memory-mapped ids (corpus) ->
training streams (batches); named corpora built on the user's machine
(datasets)."""
