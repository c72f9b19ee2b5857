"""charrnn's side of the comparison: training, sampling and beam search timed
in the worker process, and the FLOPs a training character costs.

A charrnn impl name carries the precision: of generation's weights in the
sample and beam tasks, "charrnn" (float32), "charrnn:bfloat16",
"charrnn:int8"; of the matrix products in the train task, "charrnn"
(float32) and "charrnn:bfloat16" (operands in bfloat16 on AMX tiles, sums in
float32: what `charrnn train --precision bfloat16` does).
"""

from dataclasses import replace

from settings import BEAM_WIDTH, CLIP, LR, TEMPERATURE, TRAIN_PRECISIONS, load_ids
from timing import peak_rss_mb, rss_now_mb, timed_generation, timed_steps


def precision_of(impl):
    return impl.partition(":")[2] or "float32"


def impl_name(precision):
    return "charrnn" if precision == "float32" else f"charrnn:{precision}"


def forward_macs(model):
    """Multiply-adds of one character's forward pass, matrix products only:
    every weight matrix of the parameter layout multiplies once, less the
    rows a one-hot character selects (layer 0's lookups: the rows that
    vanish with an empty vocabulary).  The decoder's H x V counts."""
    from charrnn.model import param_shapes

    without_lookups = dict(param_shapes(replace(model, vocab_size=0)))
    return sum(
        without_lookups[name][0] * shape[1]
        for name, shape in param_shapes(model)
        if len(shape) == 2
    )


def train_flops_per_char(model):
    """FLOPs of one training character: 2 per multiply-add; backward multiplies
    every matrix twice (the input's gradient and the weight's), forward once."""
    return 3 * 2 * forward_macs(model)


def model_config(cfg, cell, vocab_size):
    from charrnn.model import ModelConfig

    return ModelConfig(vocab_size=vocab_size, hidden=cfg.hidden, layers=cfg.layers, cell=cell)


def checkpoint(cfg, cell, corpus):
    """A freshly initialised model (seed 0) of the corpus's vocabulary."""
    import numpy as np
    from charrnn.checkpoint import Checkpoint
    from charrnn.data.corpus import Vocabulary
    from charrnn.model import init_params

    chars, _ = load_ids(corpus)
    model = model_config(cfg, cell, len(chars))
    params = init_params(model, np.random.default_rng(0))
    return Checkpoint(model=model, vocab=Vocabulary(chars), params=params)


def train(cfg, cell, threads, options, impl):
    """Timed training steps as charrnn.train takes them: buffers reused, the
    state carried, clipping and Adam, the products in the impl's precision
    (an error where the CPU has no AMX for bfloat16: no silent float32)."""
    import numpy as np
    from charrnn import optim
    from charrnn.data.batches import StreamBatcher
    from charrnn.kernels import amx
    from charrnn.kernels.buffers import Workspace
    from charrnn.kernels.threads import use_threads
    from charrnn.model import init_params, loss_and_grad, zero_state

    precision = precision_of(impl)
    if precision not in TRAIN_PRECISIONS or (precision == "bfloat16" and not amx.AVAILABLE):
        return {"error": f"{impl}: charrnn does not train in {precision} on this machine"}
    chars, ids = load_ids(options.corpus)
    model = model_config(cfg, cell, len(chars))
    params = init_params(model, np.random.default_rng(0))
    grads = np.zeros_like(params)
    state = optim.init_state("adam", params.size)
    batches = StreamBatcher(ids, cfg.batch, cfg.seq)
    full = batches.columns // cfg.seq  # batches of the full length
    blocks = use_threads(threads)
    carried = zero_state(model, cfg.batch)
    workspace = Workspace(precision)
    count = 0
    baseline = rss_now_mb()

    def step():
        nonlocal carried, count
        inputs, targets = batches[count % full]
        loss, carried = loss_and_grad(
            params, model, inputs, targets, carried, None, grads, blocks, workspace
        )
        _, scale = optim.clip_scale(grads, CLIP)
        count += 1
        optim.update("adam", params, grads, state, LR, count, scale)
        return float(loss)

    n, elapsed, loss = timed_steps(step, options.seconds, options.min_steps)
    return {
        "steps": n,
        "seconds": elapsed,
        "chars_per_s": n * cfg.batch * cfg.seq / elapsed,
        "loss": loss,
        "rss_before_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "flops_per_char": train_flops_per_char(model),
        "vocab_size": len(chars),
        "precision": workspace.precision,
    }


def generation_threads(threads):
    """Numba's threads for charrnn's generation (the CLI uses all CPUs)."""
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def sample(cfg, cell, threads, options, impl):
    from charrnn.sample import sample_text

    generation_threads(threads)
    ckpt = checkpoint(cfg, cell, options.corpus)

    def generate(n):
        return "".join(
            sample_text(ckpt, n, temperature=TEMPERATURE, seed=0, precision=precision_of(impl))
        )

    return timed_generation(generate, options.sample_length, 50)


def beam(cfg, cell, threads, options, impl):
    from charrnn.sample import beam_text

    generation_threads(threads)
    ckpt = checkpoint(cfg, cell, options.corpus)

    def generate(n):
        return beam_text(ckpt, n, BEAM_WIDTH, precision=precision_of(impl))[0]

    return timed_generation(generate, options.beam_length, 10)


MEASURES = {"train": train, "sample": sample, "beam": beam}
