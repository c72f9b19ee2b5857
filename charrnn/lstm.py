"""LSTM layer kernels: the recurrence over a chunk of T steps, forward and backward.

Dimension key: T = time steps in the chunk, B = batch streams, H = hidden size,
G = 4H gate pre-activations in the order i, f, o, g.

The input projection of all T steps (x @ W_x + b) does not depend on the
recurrence, so the caller does it as one large GEMM and hands it in as
``gates``; these kernels add h_{t-1} @ W_h one step at a time (one GEMM per
step, called from inside the compiled loop) and fuse all gate arithmetic.
"""
import numpy as np

from .activations import kernel, sigmoid, tanh
from .blas import gemm

ONE = np.float32(1.0)


@kernel
def lstm_forward(gates, cells, hiddens, w_h):
    """Run the recurrence in place.

    gates   (T, B, G) in: x_t @ W_x + b; out: activated gates i, f, o, g
    cells   (T+1, B, H) in: cells[0] = c0; out: cells[t+1] = c_t
    hiddens (T+1, B, H) in: hiddens[0] = h0; out: hiddens[t+1] = h_t
    w_h     (H, G)
    """
    T, B, G = gates.shape
    H = G // 4
    for t in range(T):
        gemm(hiddens[t], w_h, gates[t], False, False, 1.0, 1.0)
        for b in range(B):
            z = gates[t, b]
            for j in range(3 * H):
                z[j] = sigmoid(z[j])
            for j in range(3 * H, G):
                z[j] = tanh(z[j])
            i, f, o, g = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]
            c_prev, c, h = cells[t, b], cells[t + 1, b], hiddens[t + 1, b]
            for j in range(H):
                c[j] = f[j] * c_prev[j] + i[j] * g[j]
                h[j] = o[j] * tanh(c[j])


@kernel
def lstm_backward(dgates, dh0, dc0, dh, gates, cells, w_h):
    """Backpropagate through the chunk, t = T-1 .. 0.

    dgates (T, B, G) out: dL/d(gate pre-activations)
    dh0, dc0 (B, H)  out: dL/dh0 and dL/dc0, for the carried-in state
    dh     (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    gates, cells     the forward cache of lstm_forward
    w_h    (H, G)
    """
    T, B, G = gates.shape
    H = G // 4
    dh_next = dh0  # dL/dh_t flowing back along the recurrence
    dc_next = dc0
    dh_next[:] = 0.0
    dc_next[:] = 0.0
    for t in range(T - 1, -1, -1):
        for b in range(B):
            z, dz = gates[t, b], dgates[t, b]
            i, f, o, g = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]
            di, df, do, dg = dz[:H], dz[H:2 * H], dz[2 * H:3 * H], dz[3 * H:]
            c_prev, c, dh_t, dh_b, dc_b = cells[t, b], cells[t + 1, b], dh[t, b], dh_next[b], dc_next[b]
            for j in range(H):
                tanh_c = tanh(c[j])
                dh_j = dh_t[j] + dh_b[j]
                dc = dc_b[j] + dh_j * o[j] * (ONE - tanh_c * tanh_c)
                di[j] = dc * g[j] * i[j] * (ONE - i[j])
                df[j] = dc * c_prev[j] * f[j] * (ONE - f[j])
                do[j] = dh_j * tanh_c * o[j] * (ONE - o[j])
                dg[j] = dc * i[j] * (ONE - g[j] * g[j])
                dc_b[j] = dc * f[j]
        gemm(dgates[t], w_h, dh_next, False, True, 1.0, 0.0)


@kernel
def embedding_forward(gates, w_x, bias, ids):
    """gates[t, b] = w_x[ids[t, b]] + bias: the one-hot input product as a row lookup."""
    T, B, G = gates.shape
    for t in range(T):
        for b in range(B):
            row, out = w_x[ids[t, b]], gates[t, b]
            for j in range(G):
                out[j] = row[j] + bias[j]


@kernel
def embedding_backward(dw_x, dgates, ids):
    """dw_x[v] += sum of dgates[t, b] over the positions where ids[t, b] == v."""
    T, B, G = dgates.shape
    for t in range(T):
        for b in range(B):
            row, d = dw_x[ids[t, b]], dgates[t, b]
            for j in range(G):
                row[j] += d[j]
