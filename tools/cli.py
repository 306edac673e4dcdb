"""Plumbing shared by the command lines: one-line errors for bad input."""

import ast
import difflib
import os
import sys

from absl import app, flags

from deeplab_tf.errors import ConfigError, InputError


class UsageError(InputError):
    """A bad flag value or flag combination (or a stray argument), and only that; the message names the flag.

    Any other bad input is a `deeplab_tf.InputError`; both end the tool in one line with exit status 2.
    """


def fail(message):
    """Print `message` as the tool's one-line error and exit with status 2."""
    prog = os.path.basename(sys.argv[0]) or "deeplab_tf"
    if prog == "__main__.py" or prog.endswith(".py"):
        prog = prog[:-3]
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def project_flag_names():
    """Every flag name some tool of the project defines, read from the source of `tools/`.

    The source is read rather than imported: importing every tool would define
    all their flags in this process, and absl refuses a name defined twice.
    A boolean flag also answers to its `no` form.
    """
    names = set()
    directory = os.path.dirname(os.path.abspath(__file__))
    for filename in sorted(os.listdir(directory)):
        if not filename.endswith(".py"):
            continue
        with open(os.path.join(directory, filename)) as file:
            tree = ast.parse(file.read(), filename)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr.startswith("DEFINE_") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                continue
            name = node.args[0].value
            names.add(name)
            if node.func.attr in ("DEFINE_bool", "DEFINE_boolean"):
                names.add("no" + name)
    return names


def _flag_name(arg):
    """`name` of `--name=value`, `--name` or `-name`; None for anything else."""
    if not arg.startswith("-") or arg in ("-", "--"):
        return None
    return arg.lstrip("-").split("=", 1)[0]


def _defines(name):
    """Whether this tool's flags answer to `name` (`noname` for a boolean `name` too)."""
    if name in flags.FLAGS:
        return True
    return name.startswith("no") and name[2:] in flags.FLAGS and flags.FLAGS[name[2:]].boolean


def _flagfile_args(path, stack=()):
    """(argument, the flagfile it is in) for each line of `path`, nested flagfiles read in place."""
    if path in stack:
        return  # absl warns about the cycle and skips it
    with open(os.path.expanduser(path)) as file:
        lines = [line.strip() for line in file]
    for line in lines:
        if not line or line.startswith(("#", "//")):
            continue
        if _flag_name(line) == "flagfile" and "=" in line:
            yield from _flagfile_args(line.split("=", 1)[1], (*stack, path))
        else:
            yield line, path


def _closest(name, candidates):
    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean --{matches[0]}? " if matches else ""


def _check_flagfiles(argv):
    """Refuses a flagfile key that no tool of the project defines, naming the file and the closest name.

    A key some other tool defines is fine: the recipe flagfiles serve every tool.
    """
    args = list(argv[1:])
    project = None
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if _flag_name(arg) != "flagfile":
            continue
        path = arg.split("=", 1)[1] if "=" in arg else (args[index + 1] if index + 1 < len(args) else None)
        try:
            lines = list(_flagfile_args(path)) if path else []
        except OSError:
            continue  # absl reports the file it cannot read
        for line, source in lines:
            name = _flag_name(line)
            if name is None or _defines(name):
                continue
            project = project if project is not None else project_flag_names()
            if name not in project:
                fail(f"{source}: unknown flag --{name} ({_closest(name, project)}no tool defines it)")


def parse_flags(argv):
    """Parses flags; a flagfile may hold flags of other tools, but not a name no tool defines.

    The recipe flagfiles in `flags/` serve every tool (train, evaluate, export,
    benchmark, ...), so flags that come from a `--flagfile` and that another
    tool defines are ignored; a key that no tool of the project defines is a
    typo and stops the tool (exit status 2), naming the key, its file and the
    closest valid name. A flag typed on the command line must be this tool's.
    """
    _check_flagfiles(argv)
    try:
        rest = flags.FLAGS(argv, known_only=True)
    except flags.Error as error:
        fail(str(error))
    typed = {_flag_name(arg) for arg in argv[1:]}
    unknown = [arg for arg in rest[1:] if arg.startswith("--")]
    for arg in unknown:
        name = _flag_name(arg)
        if name in typed:
            fail(f"unknown flag --{name} ({_closest(name, list(flags.FLAGS))}see --helpfull)")
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
            fail(f"--{flag}: {error.message}")
        except InputError as error:
            fail(str(error))

    app.run(guarded, flags_parser=parse_flags)


def assume_frozen_weights():
    """Lets oneDNN keep each convolution's weights reordered between calls (inference tools only).

    With `TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1` TensorFlow's oneDNN convolutions
    reorder their weights into the blocked layout the fast kernels need once,
    instead of on every call (docs/performance.md, What each optimisation gained). The
    cache never learns of a later weight change, so only a process whose
    weights are loaded before the first convolution runs and never change
    (evaluate, predict, the inference benchmark) may call this, before that
    first convolution; a training process must not. A value the user set wins.
    """
    os.environ.setdefault("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS", "1")


def parse_size(flag_name, values):
    """(height, width) from a list flag holding 1 or 2 positive integers; None when it is empty."""
    if not values:
        return None
    try:
        sizes = [int(v) for v in values]
    except ValueError:
        raise UsageError(f"--{flag_name}: expected 1 or 2 integers, got {','.join(values)}") from None
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise UsageError(f"--{flag_name}: expected 1 or 2 positive integers, got {','.join(values)}")
    return (sizes[0], sizes[-1])
