"""float64 only on the CPU: accelerators without float64 (Apple's MPS) must work.

Guards issue 16 item 15: ``.double()`` on a device tensor before ``.cpu()`` fails on
MPS (``Cannot convert a MPS Tensor to float64 dtype``). The old
:meth:`TileTotals.add` called ``q[...].double()`` on the device, and its totals
were float64 tensors on the input's device; the test below fails on that code.
The package-wide source check is ``tests/test_devices.py``.
"""

import pytest
import torch

from tests.devices import MpsLike
from torchgeo_lsr.tasks.tile_totals import TileTotals, whole_tile_log_mass


def on_accelerator(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.as_subclass(MpsLike)


def test_the_mock_refuses_float64() -> None:
    q = on_accelerator(torch.rand(2, 3))
    with pytest.raises(AssertionError, match='float64'):
        q.double()
    assert q.cpu().double().dtype == torch.float64


def test_tile_totals_on_an_accelerator_without_float64() -> None:
    generator = torch.Generator().manual_seed(0)
    q = torch.rand(2, 3, 4, 4, generator=generator).softmax(1)
    valid = torch.rand(2, 4, 4, generator=generator) > 0.3
    tile = torch.randint(-1, 2, (2, 4, 4), generator=generator)
    totals = TileTotals(3, device='cpu')
    totals.add(on_accelerator(q), valid, tile)
    one = TileTotals(3)
    one.add(on_accelerator(q), valid)
    expected = TileTotals(3)
    expected.add(q, valid, tile)
    torch.testing.assert_close(totals.sums, expected.sums)
    assert totals.sums.dtype == torch.float64
    torch.testing.assert_close(one.sums[0], q.movedim(1, 0)[:, valid].double().sum(1))
    # The first pass of a test: totals on the CPU, their log on the device.
    log_totals = whole_tile_log_mass(
        [{'log_q': q.log(), 'valid': valid, 'tile': tile}],
        lambda batch: {**batch, 'log_q': on_accelerator(batch['log_q'])},
        3,
        torch.device('cpu'),
    )
    assert log_totals is not None
    torch.testing.assert_close(log_totals, expected.log())
