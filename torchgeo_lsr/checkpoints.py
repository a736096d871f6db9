"""Checking a checkpoint before a run uses it: readable, finite, and of this model.

Lightning loads ``--ckpt_path`` deep inside ``fit``, ``test`` or ``predict``, where a
corrupt file surfaces as ``OSError: [Errno 22] Invalid argument`` or ``KeyError``, a
diverged run's checkpoint scores NaN as if it were a model, and a checkpoint of
another class count blames the config. :func:`check_checkpoint` reads the file
first and says which of these it is, naming the checkpoint as the source.
"""

import math
import os
import pickle
import zipfile
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ('MATCHED_HPARAMS', 'check_checkpoint', 'load_checkpoint')

#: Hyper-parameters a checkpoint must share with the model it is loaded into.
MATCHED_HPARAMS = ('num_classes', 'in_channels', 'model', 'num_filters', 'backbone')


def load_checkpoint(path: str | os.PathLike[str], what: str = '--ckpt_path') -> Any:
    """Read a checkpoint file, or fail with one line saying what is wrong with it.

    Args:
        path: the file.
        what: the option that named it, for messages.

    Returns:
        The loaded object (a Lightning checkpoint is a dict).

    Raises:
        FileNotFoundError: If it does not exist.
        ValueError: If it is a folder, empty, or cannot be read (corrupt or cut
            short).
    """
    full = os.path.abspath(os.fspath(path))
    if not os.path.exists(full):
        raise FileNotFoundError(f'{what} {full} does not exist')
    if os.path.isdir(full):
        raise ValueError(f'{what} {full} is a folder: give the checkpoint file')
    if os.path.getsize(full) == 0:
        raise ValueError(f'{what} {full} is empty (0 bytes): give another checkpoint')
    try:
        # Lightning reads the same file right after with full unpickling.
        return torch.load(full, map_location='cpu', weights_only=False)
    except (
        pickle.UnpicklingError,
        EOFError,
        OSError,
        RuntimeError,
        KeyError,
        ValueError,
        zipfile.BadZipFile,
    ) as error:
        reason = ' '.join(str(error).split())[:120] or type(error).__name__
        raise ValueError(
            f'{what} {full} is not a readable checkpoint ({reason}): it is corrupt '
            "or cut short; use another one (e.g. the run's last.ckpt)"
        ) from None


def _non_finite(state: Mapping[str, Any]) -> list[str]:
    """Names of floating-point tensors holding NaN or infinity."""
    return [
        name
        for name, value in state.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def check_checkpoint(
    path: str | os.PathLike[str],
    hparams: Mapping[str, Any] | None = None,
    what: str = '--ckpt_path',
) -> dict[str, Any]:
    """Refuse a checkpoint that is unreadable, diverged, or of another model.

    Args:
        path: the checkpoint file.
        hparams: the hyper-parameters of the model it is for (None: not compared).
        what: the option that named it, for messages.

    Returns:
        The checkpoint.

    Raises:
        FileNotFoundError: If it does not exist.
        ValueError: If it cannot be read, has no ``state_dict``, holds NaN or
            infinite weights, or its hyper-parameters differ from ``hparams`` in
            one of :data:`MATCHED_HPARAMS`.
    """
    full = os.path.abspath(os.fspath(path))
    checkpoint = load_checkpoint(full, what)
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise ValueError(
            f'{what} {full} is not a Lightning checkpoint (no state_dict): give a '
            '.ckpt file written by torchgeo-lsr fit'
        )
    bad = _non_finite(checkpoint['state_dict'])
    if bad:
        total = sum(
            isinstance(v, torch.Tensor) and v.is_floating_point()
            for v in checkpoint['state_dict'].values()
        )
        raise ValueError(
            f'{what} {full} holds NaN or infinite weights in {len(bad)} of {total} '
            f'tensors (e.g. {bad[0]}): its training diverged; use a checkpoint from '
            'before that, or train again (lower lr, check the imagery for NaN)'
        )
    saved = checkpoint.get('hyper_parameters') or {}
    for key in MATCHED_HPARAMS if hparams is not None else ():
        assert hparams is not None
        if key in saved and key in hparams and saved[key] != hparams[key]:
            ours, theirs = hparams[key], saved[key]
            if isinstance(ours, float) and math.isclose(ours, float(theirs)):
                continue
            raise ValueError(
                f'{what} {full} was trained with {key}={theirs!r} (from the '
                f"checkpoint's hyper-parameters) but the config gives the model "
                f'{key}={ours!r}: use the config the checkpoint was trained with '
                f'(model.init_args.{key}: {theirs!r}) or a checkpoint of this model'
            )
    return checkpoint
