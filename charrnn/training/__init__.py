"""A training run, in the order it happens (charrnn.train.train is the one call)."""
