"""One line of a LightningCLI config error: which key, what is wrong, the fix.

jsonargparse reports a bad config (an unknown key, a value of the wrong type) as a
nested message ending with the whole offending value: ``torchgeo-lsr fit`` would
print the 70-line usage, then that message. :func:`summarize` turns the message
into one line naming the key (``model.init_args.warmup_stepz``) and, for an
unknown key, the closest valid key; :class:`ConfigError` carries both, for
:mod:`torchgeo_lsr.cli` to print the message and end with the line.
"""

import difflib
import importlib
import inspect
import re
from collections.abc import Iterable
from typing import Any

__all__ = ('ConfigError', 'closest', 'summarize')

_UNKNOWN = re.compile(
    r"(?:Subcommand|Group) '([^']+)' does not accept option '([^']+)'"
)
_NOT_ACCEPTED = re.compile(r"Option '([^']+)' is not accepted")
_WRONG_TYPE = re.compile(r'Expected an? (.+?)\. Got value: (.*)')
_PARSER_KEY = re.compile(r'Parser key "([^"]+)":\s*(.*)')
_CLASS_PATH = re.compile(r"Problem with given class_path '([^']+)':")
_UNRECOGNIZED = re.compile(r'unrecognized arguments: (.*)')
_SKIPPED = ('Does not validate against', 'Subtypes:', 'Errors:')


class ConfigError(ValueError):
    """A bad config of a LightningCLI subcommand.

    ``str(error)`` is the one-line summary.

    Attributes:
        details: jsonargparse's own (multi-line) message.
        prog: the subcommand's program name (``'torchgeo-lsr fit'``), for hints.
    """

    def __init__(self, summary: str, details: str, prog: str) -> None:
        """Keep the summary and jsonargparse's message.

        Args:
            summary: one line naming the key and the problem.
            details: jsonargparse's message.
            prog: the subcommand's program name.
        """
        super().__init__(summary)
        self.details = details
        self.prog = prog


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid name closest to a misspelt one.

    Args:
        word: the misspelt name.
        choices: the valid names.

    Returns:
        The closest name, or None when none is close.
    """
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _parser_keys(parser: Any) -> list[str]:
    """The keys a jsonargparse parser accepts (``trainer.max_epochs``, ...).

    Args:
        parser: the parser.

    Returns:
        The keys.
    """
    keys = [getattr(action, 'dest', '') for action in getattr(parser, '_actions', [])]
    return [key for key in keys if key and key != 'help']


def _class_keys(class_path: str) -> list[str]:
    """The ``__init__`` arguments of a class named by its import path.

    Args:
        class_path: e.g. ``'torchgeo_lsr.tasks.LSRSegmentation'``.

    Returns:
        The argument names (none if the class cannot be imported).
    """
    module, _, name = class_path.rpartition('.')
    try:
        klass = getattr(importlib.import_module(module), name)
        parameters = inspect.signature(klass.__init__).parameters
    except (ImportError, AttributeError, TypeError, ValueError):
        return []
    return [key for key in parameters if key not in ('self', 'args', 'kwargs')]


def _unknown_key(key: str, choices: Iterable[str], prog: str, note: str = '') -> str:
    """The line of an unknown key.

    Args:
        key: the key as given.
        choices: the valid keys at its level (full keys).
        prog: the subcommand's program name.
        note: said after the key (e.g. which class does not take it).

    Returns:
        The line.
    """
    suggestion = closest(key, choices)
    hint = f'did you mean {suggestion!r}?' if suggestion else f'see {prog} --help'
    return f'unknown key {key!r}{note}: {hint}'


def _nested(message: str) -> tuple[list[str], str | None, str]:
    """The key path, class and innermost error of jsonargparse's nested message.

    Only the first branch of a union's errors is followed (the second is the
    ``None`` of ``class | None``).

    Args:
        message: jsonargparse's message.

    Returns:
        The keys (``['model', 'init_args', 'lr']``), the class path (or None) and
        the innermost error line.
    """
    path: list[str] = []
    class_path = None
    leaf = ''
    for line in message.splitlines():
        text = line.strip()
        bullet = text.startswith('- ')
        text = text.removeprefix('- ')
        if (bullet and leaf) or text.startswith('Given value'):
            break
        if not text or text.startswith(_SKIPPED):
            continue
        if match := _PARSER_KEY.fullmatch(text):
            path.append(match.group(1))
            leaf = match.group(2) or leaf
        elif match := _CLASS_PATH.fullmatch(text):
            class_path = match.group(1)
            path.append('init_args')
        elif not leaf:
            leaf = text
    return path, class_path, leaf


def _unrecognized(arguments: str, parser: Any, prog: str) -> str:
    """The line of unrecognised command-line options.

    Args:
        arguments: what jsonargparse did not recognise.
        parser: the subcommand's parser.
        prog: its program name.

    Returns:
        The line.
    """
    options = [word for word in arguments.split() if word.startswith('--')]
    if not options:
        return f'unrecognized arguments: {arguments}: see {prog} --help'
    key = options[0][2:].split('=')[0]
    return _unknown_key(key, _parser_keys(parser), prog)


def summarize(message: str, parser: Any = None) -> str:
    """One line of jsonargparse's message: the key, the problem, the fix.

    Args:
        message: jsonargparse's message.
        parser: the parser of the subcommand that reported it (for its keys).

    Returns:
        The line, e.g. ``unknown key 'model.init_args.warmup_stepz': did you mean
        'model.init_args.warmup_steps'?``.
    """
    prog = str(getattr(parser, 'prog', 'torchgeo-lsr')).replace(' [options]', '')
    if match := _UNKNOWN.search(message):
        return _unknown_key(match.group(2), _parser_keys(parser), prog)
    if match := _UNRECOGNIZED.fullmatch(message.strip()):
        return _unrecognized(match.group(1), parser, prog)
    path, class_path, leaf = _nested(message)
    where = '.'.join(path)
    if match := _NOT_ACCEPTED.fullmatch(leaf):
        prefix = f'{where}.' if where else ''
        keys = [f'{prefix}{key}' for key in _class_keys(class_path or '')]
        name = class_path.rpartition('.')[2] if class_path else ''
        note = f' ({name} takes no such argument)' if name else ''
        return _unknown_key(f'{prefix}{match.group(1)}', keys, prog, note)
    if match := _WRONG_TYPE.fullmatch(leaf):
        expected = re.sub(r"<class '([^']+)'>", r'\1', match.group(1))
        expected = re.sub(r'^typing\.Literal\[(.*)\]$', r'one of \1', expected)
        return f'{where}: expected {expected}, got {match.group(2)!r}'
    if where and leaf:
        return f'{where}: {leaf}'
    return ' '.join(message.split()) or 'bad arguments'
