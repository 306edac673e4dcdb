"""Errors that mean "the user's input is wrong", as opposed to a bug."""


class InputError(ValueError):
    """A bad flag, config value or input file; the message names it.

    The command lines print these as one line and exit non-zero; anything else
    escaping a tool is a bug and keeps its traceback.
    """


class ConfigError(InputError):
    """An impossible model or training configuration value.

    Attributes:
        field: the name of the config field at fault (tools map it to a flag).
        message: what is wrong with it, without the field's name.
    """

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DataError(InputError):
    """A dataset file that cannot be used; the message names the file."""


def first_line(error):
    """The first line of an exception's message (at most 300 characters), or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def last_line(error):
    """The last line of an exception's message (at most 200 characters), or its type's name.

    PIL and TensorFlow's decoders put the reason last, after lines of context.
    """
    text = (getattr(error, "message", None) or str(error)).strip()
    return text.splitlines()[-1][:200] if text else type(error).__name__
