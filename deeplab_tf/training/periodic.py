"""When a periodic action of the training loop is due (big_vision's `itstime`), defined once."""


def is_due(step, every, last_step):
    """Whether an action run every `every` steps, and at the last step, is due at `step` (`every` 0 or None: never)."""
    return bool(every) and (step % every == 0 or step == last_step)


def steps_to_next_due(step, periods, last_step, most):
    """Steps from `step` to the next one at which an action of one of `periods` is due, or to `last_step`.

    At most `most` (the loop's `steps_per_loop`); periods of 0 or None are never due.
    """
    candidates = [last_step, step + most] + [(step // every + 1) * every for every in periods if every]
    return min(candidates) - step
