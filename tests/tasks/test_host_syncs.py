"""The training step reads nothing off the device except on its sampled steps."""

import collections
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from torchgeo_lsr.tasks import LSRSegmentation
from torchgeo_lsr.tasks.batch_checks import CHECK_EVERY, CHECKED_FIRST, checked_step

#: Tensor methods that copy a value to the host (a synchronisation on a GPU).
SYNCING = ('item', '__bool__', '__int__', '__float__', 'cpu', 'tolist', 'numpy')


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Counts of host reads of tensors, by method."""
    counts: collections.Counter[str] = collections.Counter()

    def counting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Tensor, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return method(self, *args, **kwargs)

        return call

    for name in SYNCING:
        monkeypatch.setattr(Tensor, name, counting(name, getattr(Tensor, name)))
    return counts


def batch(bad: bool = False) -> dict[str, Tensor]:
    prior = torch.rand(2, 5, 16, 16).softmax(1)
    if bad:
        prior[0, :, 3, 3] = 0
    return {
        'image': torch.rand(2, 4, 16, 16),
        'prior': prior,
        'valid': torch.ones(2, 16, 16, dtype=torch.bool),
    }


def task_at(step: int, monkeypatch: pytest.MonkeyPatch) -> LSRSegmentation:
    task = LSRSegmentation(num_classes=5, in_channels=4, warmup_steps=0)
    monkeypatch.setattr(LSRSegmentation, 'global_step', property(lambda _: step))
    return task.train()


def test_sampled_steps() -> None:
    assert [checked_step(s) for s in range(CHECKED_FIRST + 1)] == [
        *[True] * CHECKED_FIRST,
        False,
    ]
    assert checked_step(CHECK_EVERY)
    assert not checked_step(CHECK_EVERY + 1)


@pytest.mark.filterwarnings('ignore:You are trying to `self.log()`')
def test_no_host_read_in_an_unsampled_step(
    monkeypatch: pytest.MonkeyPatch, syncs: collections.Counter[str]
) -> None:
    data = batch()
    task = task_at(CHECK_EVERY + 1, monkeypatch)
    loss = task.training_step(data, 0)
    assert loss is not None
    assert sum(syncs.values()) == 0, dict(syncs)
    # A sampled step checks the prior: a bad one is refused there.
    with pytest.raises(ValueError, match='prior is unusable'):
        task_at(0, monkeypatch).training_step(batch(bad=True), 0)
    assert sum(syncs.values()) > 0
