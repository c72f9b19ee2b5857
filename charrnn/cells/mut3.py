"""MUT3 (Jozefowicz, Zaremba and Sutskever 2015), as the lectures give it;
here z weights the new candidate, the reverse of the GRU:

    r   = sigm(W_xr x + W_hr h + b_r)
    z   = sigm(W_xz x + W_hz tanh(h) + b_z)
    h~  = tanh(W_xh x + W_hh (r * h) + b_h)
    h_t = z * h~ + (1 - z) * h

Parameters of layer l: ``w<l>`` (D + H, 3H) = [W_x; W_h], columns r, z, h,
W_h's z block multiplying tanh(h) (D = V at layer 0, row v the input weight
of character v; D = H above), and ``b<l>`` (3H).  State: (h,).  The
recurrence is gated.py's.
"""

from . import gated

SPEC = gated.Spec(n_rz=1, tanh_z=True, keep_z=False, x_cols=(0, 3))
CELL = gated.GatedLayers(SPEC)
