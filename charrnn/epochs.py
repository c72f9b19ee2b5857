"""How far a run is, counted in epochs one way everywhere: the epochs (passes
over the training text) completed, as a decimal with two places, such as
13.15.  train's progress bar, its last line and its JSON, ``info``, ``runs``
and their JSON all count with these two functions.

The hundredths are cut, not rounded: 14.00 means that the fourteenth epoch
is done (as --epochs 14 counts), never that it nearly is."""


def completed_epochs(epoch, batch_index, steps_per_epoch):
    """The epochs completed ``batch_index`` batches after ``epoch`` whole
    ones, with ``steps_per_epoch`` batches an epoch, to two places (exact:
    integer arithmetic).  None when not known: a run of charrnn 1.0 does not
    say how long its epoch is, which matters only within an epoch."""
    if not steps_per_epoch:
        return float(epoch) if batch_index == 0 else None
    hundredths = (epoch * steps_per_epoch + batch_index) * 100 // steps_per_epoch
    return hundredths / 100


def epochs_of(ckpt):
    """The epochs a checkpoint (loaded with or without weights) has completed."""
    return completed_epochs(ckpt.epoch, ckpt.batch_index, ckpt.train_config.get("steps_per_epoch"))


def epochs_text(epochs):
    """``epochs`` (completed_epochs) for people: 13.15, or "-" when not known."""
    return "-" if epochs is None else f"{epochs:.2f}"
