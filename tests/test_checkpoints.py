"""Checkpoints checked before use: readable, finite, of this model.

Guards issue 20 item 8 and item 4: corrupt checkpoints gave ``OSError: [Errno 22]``
or ``KeyError: 101``, a checkpoint of NaN weights scored 5.7 % as if real, and a
checkpoint of another class count blamed the config.
"""

from pathlib import Path

import pytest
import torch

from torchgeo_lsr.checkpoints import check_checkpoint, load_checkpoint
from torchgeo_lsr.tasks import LSRSegmentation


def save(task: LSRSegmentation, path: Path) -> Path:
    torch.save(
        {'state_dict': task.state_dict(), 'hyper_parameters': dict(task.hparams)}, path
    )
    return path


def test_a_good_checkpoint_passes(tmp_path: Path) -> None:
    task = LSRSegmentation(num_filters=4)
    checkpoint = check_checkpoint(save(task, tmp_path / 'a.ckpt'), task.hparams)
    assert checkpoint['hyper_parameters']['num_classes'] == 5


def test_unreadable_checkpoints_are_named(tmp_path: Path) -> None:
    good = save(LSRSegmentation(num_filters=4), tmp_path / 'good.ckpt')
    cases = {
        'random.ckpt': bytes(range(256)) * 4,
        'cut.ckpt': good.read_bytes()[:1000],
        'text.ckpt': b'just text\n',
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=r'is not a readable checkpoint .*corrupt'):
            load_checkpoint(tmp_path / name)
    (tmp_path / 'empty.ckpt').write_bytes(b'')
    with pytest.raises(ValueError, match=r'empty \(0 bytes\)'):
        load_checkpoint(tmp_path / 'empty.ckpt')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_checkpoint(tmp_path / 'none.ckpt')
    with pytest.raises(ValueError, match='is a folder'):
        load_checkpoint(tmp_path)
    torch.save({'weights': 1}, tmp_path / 'plain.pt')
    with pytest.raises(ValueError, match='is not a Lightning checkpoint'):
        check_checkpoint(tmp_path / 'plain.pt')


def test_diverged_and_foreign_checkpoints_are_refused(tmp_path: Path) -> None:
    task = LSRSegmentation(num_filters=4)
    nan = LSRSegmentation(num_filters=4)
    with torch.no_grad():
        next(iter(nan.parameters())).fill_(float('nan'))
    with pytest.raises(ValueError, match=r'holds NaN or infinite weights in 1 of'):
        check_checkpoint(save(nan, tmp_path / 'nan.ckpt'), task.hparams)
    six = LSRSegmentation(num_filters=4, num_classes=6)
    with pytest.raises(
        ValueError,
        match=r"trained with num_classes=6 \(from the checkpoint's hyper-parameters\) "
        'but the config gives the model num_classes=5',
    ):
        check_checkpoint(save(six, tmp_path / 'six.ckpt'), task.hparams)
    # Without the model's arguments only the file itself is checked.
    check_checkpoint(tmp_path / 'six.ckpt')
