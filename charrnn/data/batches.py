"""Training batches: the corpus as B contiguous streams, read T characters at a time.

Stream r holds positions [r*n, (r+1)*n] of the training ids, n = (len - 1) // B.
Batch k takes columns [k*T, (k+1)*T) of every stream (the last batch of an
epoch may be shorter), so row r of batch k+1 continues row r of batch k: that
is what makes carrying the hidden state across batches correct.  Every
training character is used once per epoch except the final (len - 1) % B,
fewer than B, which do not fill a whole column.
"""

import numpy as np

from ..errors import CharrnnError


def split(ids, val_frac):
    """(training ids, validation ids): the last ``val_frac`` of the text, at least 2
    characters (one prediction), is validation."""
    n_val = max(2, int(round(len(ids) * val_frac)))
    if len(ids) - n_val < 2:
        raise CharrnnError(
            f"{len(ids)} characters are too few to split into training and validation text"
        )
    return ids[:-n_val], ids[-n_val:]


class StreamBatcher:
    def __init__(self, ids, batch_size, seq_length):
        self.ids = ids
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.columns = (len(ids) - 1) // batch_size  # n
        if self.columns < seq_length:
            need = batch_size * seq_length + 1
            raise CharrnnError(
                f"the training text has {len(ids):,} characters but one batch needs "
                f"batch-size x seq-length + 1 = {need:,}; use a longer corpus or lower "
                "--batch-size / --seq-length"
            )
        self.starts = np.arange(batch_size, dtype=np.int64) * self.columns

    def __len__(self):
        """Batches per epoch."""
        return -(-self.columns // self.seq_length)

    def __getitem__(self, k):
        """(inputs, targets), each (T_k, B) int32, time-major."""
        if not 0 <= k < len(self):
            raise IndexError(k)
        begin = k * self.seq_length
        end = min(begin + self.seq_length, self.columns)
        positions = np.arange(begin, end + 1)[:, None] + self.starts[None, :]  # (T_k + 1, B)
        chunk = np.asarray(self.ids[positions], dtype=np.int32)
        return chunk[:-1], chunk[1:]
