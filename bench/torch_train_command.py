"""The PyTorch side of bench/run.py's whole-command measurement: the training
script a careful PyTorch user writes for the job `charrnn train` does.

Reads the corpus (ASCII: its bytes are its characters), holds out the last
--val-frac for validation, trains the model of torch_side.torch_model (the
cell's peer, nn.LSTM, nn.GRU or nn.RNN, over one-hot inputs, then nn.Linear)
on --batch-size contiguous streams with the hidden state carried across
steps, Adam and global-norm clipping as in settings.py.  Every --eval-every
steps (and after the last step, unless it just did) it computes the loss
over the whole validation split under torch.no_grad() -- the split cut into
--batch-size streams run in chunks of --seq-length steps with the state
carried, the few positions left over as one more stream, so every position
counts once, as charrnn's validation does -- and torch.save()s the model's
and the optimizer's state_dicts to last.pt in --out (and best.pt when the
loss improved).  Prints one JSON object per validation run and one at the end,
like `charrnn train --json`.  --max-time stops it as `charrnn train --max-time`
does: after that many seconds of the training loop, validation included, and
--impl torch:autocast runs the forward and the loss of each step under
torch.autocast("cpu", dtype=torch.bfloat16) (validation stays float32, as
charrnn's does).

    python bench/torch_train_command.py CORPUS --hidden 512 --layers 2 --max-steps 15 \\
        --eval-every 5 --threads 1 --out /tmp/run
    python bench/torch_train_command.py CORPUS --max-time 600 --eval-every 250 \\
        --impl torch:autocast --threads 2 --seed 1 --out /tmp/run
"""

import argparse
import json
import math
import os
import time

from settings import CLIP, LR
from torch_side import (
    PEERS,
    TRAIN_IMPLS,
    import_torch,
    map_state,
    precision_context,
    torch_model,
    zero_state,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--cell", default="lstm", choices=tuple(PEERS))
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seq-length", type=int, default=50)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--max-time", type=float, help="stop after this many seconds")
    parser.add_argument("--eval-every", type=int, required=True)
    parser.add_argument("--impl", default="torch", choices=TRAIN_IMPLS)
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed")
    parser.add_argument("--val-frac", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--out", required=True, help="directory for last.pt and best.pt")
    args = parser.parse_args()
    if args.max_steps is None and args.max_time is None:
        parser.error("give --max-steps or --max-time (or both)")
    return args


def streams(torch, ids, B):
    """(inputs, targets) of ids cut into B contiguous streams, each (columns, B),
    and the positions left over (fewer than B) as a third tensor pair."""
    columns = (len(ids) - 1) // B
    inputs = ids[: B * columns].view(B, columns).t()
    targets = ids[1 : B * columns + 1].view(B, columns).t()
    rest = (ids[B * columns : -1].view(-1, 1), ids[B * columns + 1 :].view(-1, 1))
    return inputs, targets, rest


def read_ids(torch, corpus):
    """(V, ids): the corpus's bytes as ids into its sorted byte values."""
    import numpy as np

    with open(corpus, "rb") as f:
        data = np.frombuffer(f.read(), np.uint8)
    chars, ids = np.unique(data, return_inverse=True)
    return len(chars), torch.from_numpy(ids.astype(np.int64))


def validation_loss(torch, model, args, val_ids, V):
    """Mean loss per character over the whole validation split, under no_grad."""
    T = args.seq_length
    val_in, val_out, val_rest = streams(torch, val_ids, args.batch_size)
    model.eval()
    total = 0.0
    with torch.no_grad():
        for inputs, targets in ((val_in, val_out), val_rest):
            state = zero_state(torch, args.cell, args.layers, inputs.shape[1], args.hidden)
            for s in range(0, len(inputs), T):
                logits, state = model(inputs[s : s + T], state)
                total += torch.nn.functional.cross_entropy(
                    logits.reshape(-1, V), targets[s : s + T].reshape(-1), reduction="sum"
                ).item()
    model.train()
    return total / (len(val_ids) - 1)


def save(torch, model, opt, step, last, best, out):
    """last.pt, and best.pt when ``last`` is the best; a validation event on stdout."""
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "val_loss": last,
    }
    torch.save(checkpoint, os.path.join(out, "last.pt"))
    if last == best:
        torch.save(checkpoint, os.path.join(out, "best.pt"))
    event = {"event": "validation", "step": step, "val_loss": last, "best_val_loss": best}
    print(json.dumps(event), flush=True)


def main():
    args = parse_args()
    started = time.perf_counter()
    torch = import_torch(args.threads)
    torch.manual_seed(args.seed)
    V, ids = read_ids(torch, args.corpus)
    B, T = args.batch_size, args.seq_length
    n_val = max(2, round(len(ids) * args.val_frac))
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]

    model = torch_model(torch, args.cell, args.hidden, args.layers, V)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    train_in, train_out, _ = streams(torch, train_ids, B)
    per_epoch = -(-len(train_in) // T)  # the last batch of an epoch may be shorter

    os.makedirs(args.out, exist_ok=True)
    best = last = math.inf
    step, chars, max_steps = 0, 0, args.max_steps or math.inf
    max_time, loop_started = args.max_time or math.inf, time.perf_counter()
    while step < max_steps and time.perf_counter() - loop_started < max_time:
        k = step % per_epoch
        if k == 0:  # each epoch starts from zero, as charrnn's does
            state = zero_state(torch, args.cell, args.layers, B, args.hidden)
        with precision_context(torch, args.impl):
            targets = train_out[k * T : (k + 1) * T]
            logits, state = model(train_in[k * T : (k + 1) * T], state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        state = map_state(state, lambda s: s.detach())
        step += 1
        chars += targets.numel()
        over = step == max_steps or time.perf_counter() - loop_started >= max_time
        if step % args.eval_every == 0 or over:
            last = validation_loss(torch, model, args, val_ids, V)
            best = min(best, last)
            save(torch, model, opt, step, last, best, args.out)
    print(
        json.dumps(
            {
                "event": "end",
                "steps": step,
                "best_val_loss": best,
                "last_val_loss": last,
                "elapsed_seconds": time.perf_counter() - started,
                "train_seconds": time.perf_counter() - loop_started,
                "chars": chars,
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
