"""Plumbing shared by the command lines: one-line errors for bad input."""

import os
import sys

# TensorFlow's C++ start-up chatter hides the lines a user needs to read.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from deeplab_tf.errors import ConfigError, InputError  # noqa: E402


class UsageError(InputError):
    """A bad flag value or flag combination; the message names the flag."""


def fail(message):
    """Print `message` as the tool's one-line error and exit with status 2."""
    prog = os.path.basename(sys.argv[0]) or "deeplab_tf"
    if prog == "__main__.py" or prog.endswith(".py"):
        prog = prog[:-3]
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
    """Parses flags; a flagfile may hold flags this tool does not use.

    The recipe flagfiles in `flags/` serve every tool (train, evaluate, export,
    benchmark, ...), so flags that come from a `--flagfile` and that this tool
    does not define are ignored. A flag typed on the command line that no tool
    defines is still an error, so typos do not pass silently.
    """
    try:
        rest = flags.FLAGS(argv, known_only=True)
    except flags.Error as error:
        fail(str(error))
    typed = {arg[2:].split("=", 1)[0] for arg in argv[1:] if arg.startswith("--")}
    unknown = [arg for arg in rest[1:] if arg.startswith("--")]
    for arg in unknown:
        if arg[2:].split("=", 1)[0] in typed:
            fail(f"unknown flag {arg.split('=', 1)[0]} (see --helpfull)")
    return [rest[0]] + [arg for arg in rest[1:] if arg not in unknown]


def run(main, flag_for_field=None):
    """`absl.app.run(main)`, turning `InputError`s into one-line errors.

    Args:
        main: the tool's `main(argv)`.
        flag_for_field: optional dict mapping a `ConfigError.field` to the flag
            that sets it, so the message names what the user typed.
    """

    def guarded(argv):
        try:
            return main(argv)
        except ConfigError as error:
            flag = (flag_for_field or {}).get(error.field, error.field)
            fail(f"--{flag}: {str(error).split(': ', 1)[1]}")
        except InputError as error:
            fail(str(error))

    app.run(guarded, flags_parser=parse_flags)


def assume_frozen_weights():
    """Lets oneDNN keep each convolution's weights reordered between calls (inference tools only).

    With `TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1` TensorFlow's oneDNN convolutions
    reorder their weights into the blocked layout the fast kernels need once,
    instead of on every call (the README's Performance section measures it). The
    cache never learns of a later weight change, so only a process whose
    weights are loaded before the first convolution runs and never change
    (evaluate, predict, the inference benchmark) may call this, before that
    first convolution; a training process must not. A value the user set wins.
    """
    os.environ.setdefault("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS", "1")


def parse_size(flag_name, values):
    """(height, width) from a list flag holding 1 or 2 positive integers."""
    try:
        sizes = [int(v) for v in values]
    except ValueError:
        raise UsageError(f"--{flag_name}: expected 1 or 2 integers, got {','.join(values)}") from None
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise UsageError(f"--{flag_name}: expected 1 or 2 positive integers, got {','.join(values)}")
    return (sizes[0], sizes[-1])
