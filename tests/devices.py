"""A pretend accelerator without float64 (Apple MPS) for the tests, and its AST check.

The machines here have no MPS: :class:`MpsLike` simulates one on the CPU, and
:func:`float64_on_device` finds source lines that would make a float64 tensor on a
device (``tests/test_devices.py`` runs it over the package).
"""

import ast
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import tree_map

__all__ = ('MpsLike', 'float64_on_device')


class MpsLike(Tensor):
    """A CPU tensor that behaves as one on Apple MPS (which has no float64).

    Every operation on it returns an ``MpsLike`` (it stays "on the device"); only
    ``.cpu()`` returns a plain tensor; making a float64 ``MpsLike`` or calling
    ``.numpy()`` on one raises AssertionError. ``.to(device)`` keeps it on the
    device: the simulated device is really the CPU, so a ``.to`` cannot tell a
    move to the CPU from one to the model's device (``self.device``), and code
    moving results off the device calls ``.cpu()``.
    """

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Run ``func`` as MPS would (see the class docstring).

        Args:
            func: the torch function.
            types: the tensor types of the arguments.
            args: its arguments.
            kwargs: its keyword arguments.

        Returns:
            Its result.

        Raises:
            AssertionError: On float64 or ``.numpy()`` "on the device".
        """
        kwargs = kwargs or {}
        name = getattr(func, '__name__', repr(func))
        if name == 'cpu':
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs).as_subclass(Tensor)
        if name == 'numpy':
            raise AssertionError('.numpy() of a device tensor (needs .cpu() first)')
        result = super().__torch_function__(func, types, args, kwargs)

        def check(value: Any) -> Any:
            if isinstance(value, cls) and value.dtype == torch.float64:
                raise AssertionError(f'{name} made a float64 tensor on the device')
            return value

        tree_map(check, result)
        return result


def _is_cpu_call(node: ast.expr) -> bool:
    """Whether ``node`` is a ``<expr>.cpu()`` call."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == 'cpu'
    )


def _is_torch_float64(node: ast.expr) -> bool:
    """Whether ``node`` is ``torch.float64`` or ``torch.double``."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr in ('float64', 'double')
        and isinstance(node.value, ast.Name)
        and node.value.id == 'torch'
    )


def float64_on_device(tree: ast.AST) -> list[int]:
    """Lines that may make a float64 tensor on a device.

    ``x.double()``, ``x.to(torch.float64)`` and ``x.type(torch.double)`` unless
    ``x`` is ``<expr>.cpu()``, and float64 constructors given a device.

    Args:
        tree: a parsed module.

    Returns:
        The line numbers.
    """
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method, receiver = node.func.attr, node.func.value
        values = [*node.args, *(k.value for k in node.keywords)]
        if method == 'double' or (
            method in ('to', 'type') and any(map(_is_torch_float64, values))
        ):
            if not _is_cpu_call(receiver):
                lines.append(node.lineno)
        elif any(map(_is_torch_float64, values)) and any(
            k.arg == 'device' for k in node.keywords
        ):
            lines.append(node.lineno)  # a float64 constructor given a device
    return lines
