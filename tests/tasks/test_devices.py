"""float64 only on the CPU: accelerators without float64 (Apple's MPS) must work.

Guards issue 16 item 15: ``.double()`` on a device tensor before ``.cpu()`` fails on
MPS (``Cannot convert a MPS Tensor to float64 dtype``). The old
:meth:`TileTotals.add` called ``q[...].double()`` on the device, and its totals
were float64 tensors on the input's device; both tests below fail on that code.
"""

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from torchgeo_lsr.tasks.tile_totals import TileTotals, whole_tile_log_mass

PACKAGE = Path(__file__).parents[2] / 'torchgeo_lsr'

#: The code that runs on the task's device (the task and the exports).
DEVICE_CODE = ('tasks', 'export')

FLOAT64 = {'float64', 'double'}


class NoFloat64Tensor(torch.Tensor):
    """A tensor on a pretend accelerator that, like MPS, has no float64.

    Any operation giving a float64 tensor on it raises as MPS does; ``.cpu()``
    gives an ordinary CPU tensor.
    """

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        result = super().__torch_function__(func, types, args, kwargs or {})
        if func is torch.Tensor.cpu:
            return result.as_subclass(torch.Tensor)
        if isinstance(result, NoFloat64Tensor) and result.dtype == torch.float64:
            raise TypeError(
                'Cannot convert a MPS Tensor to float64 dtype as the MPS framework '
                "doesn't support float64"
            )
        return result


def on_accelerator(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.as_subclass(NoFloat64Tensor)


def test_the_mock_refuses_float64() -> None:
    q = on_accelerator(torch.rand(2, 3))
    with pytest.raises(TypeError, match='float64'):
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


def _is_cpu_call(node: ast.expr) -> bool:
    """Whether ``node`` is ``<something>.cpu()``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == 'cpu'
    )


def _names_float64(node: ast.expr) -> bool:
    """Whether ``node`` is ``torch.float64`` / ``torch.double`` (or ``'float64'``)."""
    if isinstance(node, ast.Attribute):
        return node.attr in FLOAT64
    return isinstance(node, ast.Constant) and node.value in FLOAT64


def device_float64(tree: ast.AST) -> Iterator[int]:
    """Lines that may make a float64 tensor on a device.

    ``x.double()`` and ``x.to(torch.float64)`` unless ``x`` is ``y.cpu()``, and
    factories given both ``dtype=torch.float64`` and a ``device``.
    """
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if isinstance(func, ast.Attribute) and not _is_cpu_call(func.value):
            if func.attr == 'double':
                yield node.lineno
            if func.attr == 'to' and any(
                _names_float64(arg) for arg in [*node.args, *keywords.values()]
            ):
                yield node.lineno
        dtype = keywords.get('dtype')
        if dtype is not None and _names_float64(dtype) and 'device' in keywords:
            yield node.lineno


def test_the_ast_check_catches_device_float64() -> None:
    old = (
        'sums = torch.zeros((0, c), dtype=torch.float64, device=device)\n'
        'values = q.permute(0, 2, 3, 1)[keep].double()\n'
        'ok = q[keep].cpu().double()\n'
        'bad = q.to(torch.float64)\n'
    )
    assert list(device_float64(ast.parse(old))) == [1, 2, 4]


@pytest.mark.parametrize('folder', DEVICE_CODE)
def test_no_float64_on_a_device(folder: str) -> None:
    offenders = [
        f'{path.relative_to(PACKAGE)}:{line}'
        for path in sorted((PACKAGE / folder).rglob('*.py'))
        for line in device_float64(ast.parse(path.read_text()))
    ]
    assert not offenders, f'float64 before .cpu(): {offenders}'
