"""The finite-loss watch of training (the other checks: tests/tasks/test_segmentation.py).

Guards issue 20 item 4: float imagery with NaN trained with loss NaN at every step,
exit 0, and a checkpoint of NaN.
"""

import math

import pytest
import torch

from torchgeo_lsr.tasks import LSRSegmentation
from torchgeo_lsr.tasks.batch_checks import FINITE_CHECK_EVERY, FiniteLossWatch


def test_a_non_finite_loss_stops_within_the_check_interval() -> None:
    watch = FiniteLossWatch(every=4)
    for _ in range(5):
        watch.update(torch.tensor(1.0))
    watch.check()  # all finite
    watch.update(torch.tensor(math.nan))  # step 5
    watch.update(torch.tensor(2.0))
    with pytest.raises(
        ValueError, match=r'not finite .* since step 5: check the imagery'
    ):
        watch.update(torch.tensor(2.0))  # step 7: the 8th update reads the flag
    with pytest.raises(ValueError, match='since step 5'):
        watch.check()
    assert FINITE_CHECK_EVERY >= 1


def test_the_task_refuses_to_checkpoint_a_diverged_run() -> None:
    task = LSRSegmentation(num_filters=4)
    task._watch.finite.update(torch.tensor(math.inf))
    with pytest.raises(ValueError, match='no checkpoint of this run is worth keeping'):
        task.on_save_checkpoint({})
