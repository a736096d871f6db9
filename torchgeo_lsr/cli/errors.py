"""How ``torchgeo-lsr`` reports errors users can cause: one last line, exit 2.

A bad config (:class:`~torchgeo_lsr._config_errors.ConfigError`) prints
jsonargparse's message and ends with its one-line summary. A ``ValueError``,
``FileNotFoundError`` or ``NotADirectoryError`` (bad input: a missing file, an
unknown code) ends with ``torchgeo-lsr <command>: error: <message>``, also when
jsonargparse wrapped it while building a class from the config (its union error
names the real one as its ``__cause__``). Other exceptions are bugs and keep their
traceback. ``--debug`` (anywhere on the command line) or ``TORCHGEO_LSR_DEBUG=1``
keeps the full traceback of every error.
"""

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import jsonargparse
from lightning.pytorch.utilities.exceptions import SIGTERMException

from .._config_errors import ConfigError

__all__ = (
    'DEBUG_ENV',
    'DEBUG_FLAG',
    'SIGTERM_STATUS',
    'USER_ERRORS',
    'debug_requested',
    'report',
    'root_cause',
    'run_reporting_errors',
    'user_error_message',
)

#: Exception types of bad input: reported in one line, without traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    FileExistsError,
)

#: Exit status after SIGTERM (128 + 15), as a shell reports a process it ended.
SIGTERM_STATUS = 143

#: The switch that keeps the full traceback.
DEBUG_FLAG = '--debug'

#: The environment variable that keeps the full traceback when set to 1.
DEBUG_ENV = 'TORCHGEO_LSR_DEBUG'

_JSONARGPARSE = str(Path(jsonargparse.__file__).parent)

#: Lines of jsonargparse's message are cut to this length (its last one holds the
#: whole offending value).
_DETAIL_WIDTH = 200


def _details(error: ConfigError) -> str:
    """The message of jsonargparse on a bad config, each line cut to a readable length.

    Args:
        error: the error.

    Returns:
        The lines, ending with a newline.
    """
    lines = error.details.rstrip().splitlines()
    cut = [
        f'{line[:_DETAIL_WIDTH]}...' if len(line) > _DETAIL_WIDTH else line
        for line in lines
    ]
    return ''.join(f'{line}\n' for line in cut)


def debug_requested(arguments: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether the full traceback is wanted, and the arguments without ``--debug``.

    Args:
        arguments: the command-line arguments.

    Returns:
        True with ``--debug`` or ``TORCHGEO_LSR_DEBUG=1``; the other arguments.
    """
    rest = [argument for argument in arguments if argument != DEBUG_FLAG]
    wanted = len(rest) != len(arguments) or os.environ.get(DEBUG_ENV, '') == '1'
    return wanted, rest


def _raised_by_jsonargparse(error: BaseException) -> bool:
    """Whether jsonargparse raised the error (a wrapper of the real one).

    Args:
        error: the exception.

    Returns:
        True if its innermost frame is in jsonargparse.
    """
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(_JSONARGPARSE)


def root_cause(error: BaseException) -> BaseException:
    """The exception behind jsonargparse's wrappers of it.

    Args:
        error: the exception that reached the command line.

    Returns:
        The first exception of its ``__cause__`` / ``__context__`` chain not
        raised by jsonargparse (the error itself if it is not a wrapper).
    """
    seen = {id(error)}
    while _raised_by_jsonargparse(error):
        inner = error.__cause__
        if inner is None and not error.__suppress_context__:
            inner = error.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        error = inner
    return error


def user_error_message(error: BaseException) -> str | None:
    """The one-line message of an error users can cause.

    Args:
        error: the exception that reached the command line.

    Returns:
        Its (root cause's) message on one line, or None for a bug.
    """
    cause = root_cause(error)
    if not isinstance(cause, USER_ERRORS):
        return None
    return ' '.join(str(cause).split()) or type(cause).__name__


def report(command: str, error: BaseException) -> bool:
    """Print an error users can cause, ending with its one-line message.

    Args:
        command: the subcommand (``'fit'``).
        error: the exception.

    Returns:
        True if it was printed (exit 2); False for a bug (re-raise it).
    """
    prog = f'torchgeo-lsr {command}'
    if isinstance(error, ConfigError):
        sys.stderr.write(_details(error))
        sys.stderr.write(f'tip: {error.prog} --help lists the options\n')
        sys.stderr.write(f'{prog}: error: {error}\n')
        return True
    message = user_error_message(error)
    if message is None:
        return False
    sys.stderr.write(
        f'({prog}: the traceback with {DEBUG_FLAG} or {DEBUG_ENV}=1)\n'
        f'{prog}: error: {message}\n'
    )
    return True


def run_reporting_errors(
    command: str, run: Callable[[], int], debug: bool = False
) -> int:
    """Run a subcommand; an error users can cause ends it with one line and exit 2.

    Args:
        command: the subcommand's name.
        run: runs it and returns its exit status.
        debug: keep every traceback.

    Returns:
        The exit status of ``run``.

    Raises:
        SystemExit: With status 2 after an error users can cause.
    """
    try:
        if debug:
            try:
                return run()
            except ConfigError as error:
                sys.stderr.write(_details(error))
                raise
        try:
            return run()
        except Exception as error:
            if report(command, error):
                raise SystemExit(2) from None
            raise
    except SIGTERMException as stop:
        # Lightning's own SIGTERMException exits with status 0; a scheduler must
        # see that the run did not finish.
        after = (
            'finished maps are kept and nothing partial is left; run the same '
            'command again to go on'
            if command == 'predict'
            else 'the run did not finish'
        )
        sys.stderr.write(f'torchgeo-lsr {command}: stopped by SIGTERM: {after}\n')
        raise SystemExit(stop.code or SIGTERM_STATUS) from None
