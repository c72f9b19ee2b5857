"""MUT1 (Jozefowicz, Zaremba and Sutskever 2015), as the lectures give it;
here z weights the new candidate, the reverse of the GRU:

    r   = sigm(W_xr x + W_hr h + b_r)
    z   = sigm(W_xz x + b_z)
    h~  = tanh(tanh(x) + W_hh (r * h) + b_h)
    h_t = z * h~ + (1 - z) * h
    x   = embed[c] at layer 0 (c the character), h of the layer below above

tanh(x) adds the input itself, so x has H elements: layer 0 reads a learned
H-wide embedding of the character (``embed`` (V, H), initialised N(0, 1)),
the layers above the layer below's h.  Parameters of layer l: ``wx<l>``
(H, 2H) = [W_xr | W_xz], ``wh<l>`` (H, 2H) = [W_hr | W_hh], ``b<l>`` (3H)
= [b_r, b_z, b_h].  State: (h,).  The recurrence is gated.py's.
"""

from . import gated

SPEC = gated.Spec(n_rz=1, tanh_z=False, keep_z=False, x_cols=(0, 2), x_itself="tanh", embeds=True)
CELL = gated.GatedLayers(SPEC)
