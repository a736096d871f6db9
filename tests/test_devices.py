"""No float64 tensor on a device anywhere in the package (Apple MPS has none).

Guards issue 16 item 15 for all of ``torchgeo_lsr``: every ``.double()`` /
``.to(torch.float64)`` is applied after ``.cpu()``.
"""

import ast
from pathlib import Path

from tests.devices import float64_on_device

PACKAGE = Path(__file__).parents[1] / 'torchgeo_lsr'


def test_the_check_finds_float64_on_a_device() -> None:
    bad = (
        'a.double()\nb.to(torch.float64)\n'
        'torch.zeros(1, dtype=torch.double, device=d)\nc.type(torch.float64)'
    )
    assert float64_on_device(ast.parse(bad)) == [1, 2, 3, 4]
    good = 'a.cpu().double()\nb.cpu().to(torch.float64)\ntorch.zeros(1, dtype=torch.double)'
    assert float64_on_device(ast.parse(good)) == []


def test_no_float64_on_a_device() -> None:
    offending = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob('*.py'))
        if (lines := float64_on_device(ast.parse(path.read_text())))
    }
    assert not offending, f'float64 before .cpu(): {offending}'
