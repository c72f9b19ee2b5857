"""A layer's input product and its gradients, shared by the cells.

A layer reads either characters (layer 0: ids (T, B), whose one-hot product
with W_x is a lookup of rows of W_x) or the hidden states of the layer below
(x (T, B, D)), whose product is one large GEMM for the whole chunk.
Dimension key as in model.py: T time, B streams, N = T*B, G pre-activations.
"""

from ..kernels.blas import AS_IS, TRANSPOSED
from ..kernels.products import matmul, matmul_two
from ..kernels.embedding import embedding_backward, embedding_forward


def reads_characters(x):
    """Whether x is layer 0's input (ids) rather than hidden states."""
    return x.ndim == 2


def input_product(x, w_x, out, blocks, ws):
    """out (T, B, G) = x @ w_x; w_x (V, G) for ids, (D, G) for x (T, B, D)."""
    if reads_characters(x):
        embedding_forward(out, w_x, x)
    else:
        T, B, D = x.shape
        matmul(x.reshape(T * B, D), w_x, out.reshape(T * B, -1), AS_IS, AS_IS, 0.0, blocks, ws)


def input_gradients(x, dout, w_x, dw_x, dx, blocks, ws, also=None):
    """dw_x = x^T @ dout and, for hidden-state inputs, dx (T, B, D) = dout @ w_x^T;
    dout (T, B, G).  ``also`` = (a, b, c): a second product c = a^T @ b (N rows),
    made in the same parallel pass as dw_x where both are GEMMs."""
    T, B, G = dout.shape
    d2 = dout.reshape(T * B, G)
    if reads_characters(x):
        if also is not None:
            matmul(also[0], also[1], also[2], TRANSPOSED, AS_IS, 0.0, blocks, ws)
        embedding_backward(dw_x, dout, x, blocks)
        return
    x2 = x.reshape(T * B, -1)
    if also is not None:
        matmul_two(
            x2,
            d2,
            dw_x,
            TRANSPOSED,
            AS_IS,
            also[0],
            also[1],
            also[2],
            TRANSPOSED,
            AS_IS,
            blocks,
            ws,
        )
    else:
        matmul(x2, d2, dw_x, TRANSPOSED, AS_IS, 0.0, blocks, ws)
    matmul(d2, w_x, dx.reshape(T * B, -1), AS_IS, TRANSPOSED, 0.0, blocks, ws)


def stacked_weight_grads(x, hiddens, dpre, w, dw, dx, blocks, ws):
    """Gradients of a layer matrix w = [W_x; W_h] (rows: inputs, then H hidden
    units) from the pre-activation gradients dpre (T, B, G) of backward: dW_x,
    dW_h = h_{t-1}^T @ dpre in the same pass, and dx for hidden-state inputs."""
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    input_gradients(
        x,
        dpre,
        w[:-H],
        dw[:-H],
        dx,
        blocks,
        ws,
        also=(hiddens[:-1].reshape(T * B, H), dpre.reshape(T * B, -1), dw[-H:]),
    )
