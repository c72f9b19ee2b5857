"""The thread schedule of every cell's recurrence, written once.

A cell's step is a few phases; each phase makes its products with W_h (or
with blocks of it) and then the cell's pointwise arithmetic.  A phase may
read the previous phase's results for every unit, so in a schedule where
threads own units, threads meet between phases.  The cell says what its
phases do (``register``); this module decides who runs what:

- small W_h (split_streams): each thread runs a block of the batch's streams
  through the whole chunk, all units, never waiting for the others;
- large W_h: each thread owns a block of hidden units (its strips of every
  gate block, its columns of W_h forward and rows backward), so its share of
  W_h stays in its own cache; every product keeps the whole batch as rows,
  and the threads meet after every phase.

A cell's arrays for one pass over a chunk are a NamedTuple of a class of its
own (``register`` binds the class to the cell's phase functions; Numba picks
them by the argument's type, so the schedule stays generic and cacheable).
Forward tuples have the fields ``hiddens`` (T+1, B, H), ``w_h`` (H, k*H),
``panels`` (W_h packed, tiles.panels_shape(w_h, False)) and ``phases``;
backward tuples ``dh`` (T, B, H), ``w_h``, ``panels`` (W_h.T packed,
tiles.panels_shape(w_h, True), unless the cell packs its own) and ``phases``.

Rows are streams (r0..r1), units are hidden units (u0..u1) of every gate
block.  Gradients of the biases are summed per thread (dbias_parts (blocks,
G)) and put together in a fixed order, so results depend on the number of
blocks but not on the threads' timing.

Dimension key: T time steps, B streams, H hidden units, G = k*H pre-activations.
"""

import numpy as np
from numba import prange, types
from numba.extending import overload

from ..kernels.blas import AS_IS, TRANSPOSED, block_bounds
from ..kernels.jit import kernel, parallel_kernel
from ..kernels.tiles import OVERWRITE, pack, product, unit_bounds

STREAM_SPLIT_BYTES = 1 << 20  # W_h up to this size: threads split the streams


@kernel
def split_streams(w_h, B, blocks):
    """Whether threads should split the batch streams rather than the hidden
    units: when W_h fits a core's cache twice over, each thread can run its
    streams through all of it with no meeting per step (measured at H = 128:
    1.4x; at H = 512 sharing W_h's columns is faster)."""
    return blocks > 1 and B >= 2 * blocks and w_h.size * w_h.itemsize <= STREAM_SPLIT_BYTES


@kernel(inline="always")
def strips_product(a, w, panels, first, count, H, u0, u1, c, accumulate, transposed):
    """c (+)= a @ op(w) over units u0..u1 of ``count`` strips H wide, starting
    at strip ``first``; all units at once when the range is all of them (one
    product over the strips' columns)."""
    if u0 == 0 and u1 == H:
        product(a, w, panels, first * H, (first + count) * H, c, accumulate, transposed)
        return
    for k in range(first, first + count):
        product(a, w, panels, k * H + u0, k * H + u1, c, accumulate, transposed)


def forward_phase(cell, phase, t, r0, r1, u0, u1):
    """Phase ``phase`` of step t, streams r0..r1, units u0..u1 (compiled only)."""
    raise NotImplementedError("only callable from compiled code")


def forward_start(cell, r0, r1, u0, u1):
    """What a cell prepares before step 0 (compiled only)."""
    raise NotImplementedError("only callable from compiled code")


def backward_phase(cell, phase, t, r0, r1, u0, u1, dbias):
    """Phase ``phase`` of step t backward; adds to the bias gradient dbias (G,)."""
    raise NotImplementedError("only callable from compiled code")


def backward_end(cell, r0, r1, u0, u1):
    """What is left after step 0 backward: dL/dh0 for the carried-in state."""
    raise NotImplementedError("only callable from compiled code")


def backward_pack(cell, lo, hi):
    """Pack rows lo..hi of W_h's transpose for backward (compiled only)."""
    raise NotImplementedError("only callable from compiled code")


def register(
    forward_class,
    backward_class,
    forward_phase_kernel,
    backward_phase_kernel,
    backward_end_kernel=None,
    forward_start_kernel=None,
    backward_pack_kernel=None,
):
    """Bind a cell's NamedTuple classes to its compiled phase functions:
    ``forward_phase_kernel(cell, phase, t, r0, r1, u0, u1)``,
    ``backward_phase_kernel(cell, phase, t, r0, r1, u0, u1, dbias)``, and
    optionally what runs after the last step backward, before the first
    forward, and the packing for backward (by default W_h.T into the
    backward tuple's ``panels``).  The class names must be unique among the
    cells (Numba names compiled code by its argument types)."""

    def of(cls):
        return lambda cell: isinstance(cell, types.BaseNamedTuple) and cell.instance_class is cls

    start = forward_start_kernel or _nothing
    end = backward_end_kernel or _nothing
    pack_t = backward_pack_kernel or _pack_transposed

    @overload(forward_phase)
    def _forward(cell, phase, t, r0, r1, u0, u1):
        if of(forward_class)(cell):
            return lambda cell, phase, t, r0, r1, u0, u1: forward_phase_kernel(
                cell, phase, t, r0, r1, u0, u1
            )

    @overload(forward_start)
    def _start(cell, r0, r1, u0, u1):
        if of(forward_class)(cell):
            return lambda cell, r0, r1, u0, u1: start(cell, r0, r1, u0, u1)

    @overload(backward_phase)
    def _backward(cell, phase, t, r0, r1, u0, u1, dbias):
        if of(backward_class)(cell):
            return lambda cell, phase, t, r0, r1, u0, u1, dbias: backward_phase_kernel(
                cell, phase, t, r0, r1, u0, u1, dbias
            )

    @overload(backward_pack)
    def _pack(cell, lo, hi):
        if of(backward_class)(cell):
            return lambda cell, lo, hi: pack_t(cell, lo, hi)

    @overload(backward_end)
    def _end(cell, r0, r1, u0, u1):
        if of(backward_class)(cell):
            return lambda cell, r0, r1, u0, u1: end(cell, r0, r1, u0, u1)


@kernel
def _nothing(cell, r0, r1, u0, u1):
    pass


@parallel_kernel
def run_forward(cell, blocks):
    """Run a layer's recurrence over the chunk, in place in the cell's arrays."""
    hiddens, w_h = cell.hiddens, cell.w_h
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    for s in prange(blocks):  # each thread packs the columns it will use
        lo, hi = unit_bounds(s, blocks, H)
        for k in range(w_h.shape[1] // H):
            pack(w_h, cell.panels, k * H + lo, k * H + hi, AS_IS)
    if split_streams(w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            forward_start(cell, lo, hi, 0, H)
            for t in range(T):
                for phase in range(cell.phases):
                    forward_phase(cell, phase, t, lo, hi, 0, H)
        return
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        forward_start(cell, 0, B, lo, hi)
    for t in range(T):
        for phase in range(cell.phases):
            for s in prange(blocks):
                lo, hi = unit_bounds(s, blocks, H)
                forward_phase(cell, phase, t, 0, B, lo, hi)


@kernel
def through_w_h(cell, t, r0, r1, u0, u1):
    """dh_next (units u0..u1) = cell.gates[t] @ W_h.T: dL/dh_{t-1} through the
    recurrent product, for a cell whose backward tuple keeps its
    pre-activation gradients in ``gates`` and W_h.T packed in ``panels``."""
    product(
        cell.gates[t, r0:r1],
        cell.w_h,
        cell.panels,
        u0,
        u1,
        cell.dh_next[r0:r1],
        OVERWRITE,
        TRANSPOSED,
    )


@kernel
def through_w_h_at_start(cell, r0, r1, u0, u1):
    """dL/dh0 for the carried-in state (a backward_end for such cells)."""
    through_w_h(cell, 0, r0, r1, u0, u1)


def replay_row(cell, t, b):
    """Remake stream b's state at step t+1 (compiled only)."""
    raise NotImplementedError("only callable from compiled code")


def register_replay(replay_class, replay_row_kernel):
    """Bind a cell's replay NamedTuple class (fields ``gates`` (T, B, G) first
    among what it reads) to its ``replay_row_kernel(cell, t, b)``."""

    @overload(replay_row)
    def _row(cell, t, b):
        if isinstance(cell, types.BaseNamedTuple) and cell.instance_class is replay_class:
            return lambda cell, t, b: replay_row_kernel(cell, t, b)


@parallel_kernel
def run_replay(cell, blocks):
    """Remake what forward did not keep (model.backward asks before a layer's
    output is read again), exactly as forward made it: the same arithmetic,
    row by row.  Threads split the streams."""
    T, B = cell.gates.shape[0], cell.gates.shape[1]
    for s in prange(blocks):
        lo, hi = block_bounds(s, blocks, B)
        for t in range(T):
            for b in range(lo, hi):
                replay_row(cell, t, b)


@kernel
def _pack_transposed(cell, lo, hi):
    pack(cell.w_h, cell.panels, lo, hi, TRANSPOSED)


@parallel_kernel
def run_backward(cell, dbias, blocks):
    """Backpropagate a layer's recurrence through the chunk, t = T-1 .. 0;
    writes the bias gradient dbias (G,)."""
    T, B, H = cell.dh.shape
    G = dbias.shape[0]
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        backward_pack(cell, lo, hi)
    # Each block sums its bias gradient in a row of its own: dbias itself may
    # share cache lines across block edges, too costly to write every step.
    dbias_parts = np.zeros((blocks, G), dbias.dtype)
    if split_streams(cell.w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            for t in range(T - 1, -1, -1):
                for phase in range(cell.phases):
                    backward_phase(cell, phase, t, lo, hi, 0, H, dbias_parts[s])
            backward_end(cell, lo, hi, 0, H)
        dbias[:] = 0.0
        for s in range(blocks):  # a fixed order
            dbias += dbias_parts[s]
        return
    for t in range(T - 1, -1, -1):
        for phase in range(cell.phases):
            for s in prange(blocks):
                lo, hi = unit_bounds(s, blocks, H)
                backward_phase(cell, phase, t, 0, B, lo, hi, dbias_parts[s])
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        backward_end(cell, 0, B, lo, hi)
        for k in range(G // H):
            dbias[k * H + lo : k * H + hi] = dbias_parts[s, k * H + lo : k * H + hi]
