"""GRU (Cho et al. 2014) as the lectures give it, the reset gate applied to
h *before* the product:

    r   = sigm(W_xr x + W_hr h + b_r)
    z   = sigm(W_xz x + W_hz h + b_z)
    h~  = tanh(W_xh x + W_hh (r * h) + b_h)
    h_t = z * h + (1 - z) * h~

(PyTorch's nn.GRU resets after the product, r * (W_hh h + b_hn): another
cell.)  Parameters of layer l: ``w<l>`` (D + H, 3H) = [W_x; W_h], columns
r, z, h (D = V at layer 0, row v the input weight of character v; D = H
above), and ``b<l>`` (3H).  State: (h,).  The recurrence is gated.py's.
"""

from . import gated

SPEC = gated.Spec(n_rz=2, tanh_z=False, keep_z=True, x_cols=(0, 3))
CELL = gated.GatedLayers(SPEC)
