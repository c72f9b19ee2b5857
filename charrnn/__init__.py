"""charrnn: character-level LSTM language models on the CPU, with a Numba core."""
