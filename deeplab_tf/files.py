"""Writing files and directories atomically: a reader sees the old version or the new one, never half of one."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """A temporary file name beside `path`, moved onto `path` when the block succeeds.

    The caller writes the temporary file (with any writer: `open`, `model.save`,
    ...); when the block ends normally it replaces `path` in one `os.replace`,
    and when it raises the temporary file is removed and `path` is untouched.

    Args:
        path: the file to write.
        suffix: appended to the temporary name, for writers that read the
            format from the extension (`".keras"`).
    """
    temporary = path + ".tmp" + suffix
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_atomically(path, data):
    """Writes `data` (str or bytes) to `path` through `atomic_path`."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb" if isinstance(data, bytes) else "w") as file:
            file.write(data)


@contextlib.contextmanager
def atomic_directory(path, prefix=".staging-"):
    """A new empty directory beside `path` (same permissions as `mkdir`), moved onto `path` on success.

    An existing `path` is removed only once the block has succeeded; when it
    raises, the staging directory (named `prefix` + random letters) is deleted
    and `path` is left as it was.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=prefix, dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private
    try:
        yield staging
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
