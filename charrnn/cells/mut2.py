"""MUT2 (Jozefowicz, Zaremba and Sutskever 2015), as the lectures give it;
here z weights the new candidate, the reverse of the GRU:

    r   = sigm(x + W_hr h + b_r)
    z   = sigm(W_xz x + W_hz h + b_z)
    h~  = tanh(W_xh x + W_hh (r * h) + b_h)
    h_t = z * h~ + (1 - z) * h
    x   = embed[c] at layer 0 (c the character), h of the layer below above

r adds the input itself, so x has H elements: layer 0 reads a learned
H-wide embedding of the character (``embed`` (V, H), initialised N(0, 1)),
the layers above the layer below's h.  Parameters of layer l: ``wx<l>``
(H, 2H) = [W_xz | W_xh], ``wh<l>`` (H, 3H) = [W_hr | W_hz | W_hh], ``b<l>``
(3H) = [b_r, b_z, b_h].  State: (h,).  The recurrence is gated.py's.
"""

from . import gated

SPEC = gated.Spec(n_rz=2, tanh_z=False, keep_z=False, x_cols=(1, 3), x_itself="r", embeds=True)
CELL = gated.GatedLayers(SPEC)
