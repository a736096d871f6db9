"""Safe file output: results appear whole or not at all."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ('atomic_path',)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Write to a temporary file beside ``path`` and move it into place on success.

    An interrupted or failing writer leaves any existing file at ``path`` untouched
    and no partial file behind.

    Args:
        path: final location; its parent folders are created.

    Yields:
        The temporary path to write to (same folder and suffix as ``path``).

    Raises:
        Exception: Whatever the writer raised; the temporary file is removed first.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f'.{target.name}.', suffix=f'.tmp{target.suffix}', dir=target.parent
    )
    os.close(handle)
    temporary = Path(name)
    # mkstemp creates owner-only files; results get the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    temporary.chmod(0o666 & ~umask)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
