"""charrnn: character-level recurrent language models on the CPU, with a Numba core."""
import os

# Numba's threads (GNU OpenMP) wait for work by spinning, 300,000 rounds by
# default.  When another program holds a core, a thread spinning at a step's
# barrier steals the time its partner needs: measured, 2-thread training of
# a 2x128 model fell from 66k to 21k chars/s.  10,000 rounds (microseconds)
# still bridge the gaps between a sampling step's products, then sleep: 31k.
# Set before the OpenMP library loads (the first parallel kernel).
os.environ.setdefault("GOMP_SPINCOUNT", "10000")
