"""Results formatting: the scores' JSON and the tables the commands print.

One place for how results look: ``torchgeo-lsr test`` (the q / r / prior-argmax
table and ``--results`` JSON), ``torchgeo-lsr evaluate``, the land-cover demo and
the toy demo all format their scores here. The per-class table itself is
:func:`torchgeo_lsr.metrics.format_scores_table`.

Results are the nested dictionaries the tasks and :mod:`torchgeo_lsr.evaluate`
return: ``{'accuracy', 'miou', 'per_class_iou': {class name: IoU}, 'pixels'}``
per scored map, fractions in [0, 1].
"""

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from .io import atomic_path
from .metrics import format_scores_table

__all__ = (
    'METHOD_LABELS',
    'demo_table',
    'evaluation_table',
    'format_test_results',
    'print_test_results',
    'results_json',
    'run_label',
    'toy_results_table',
    'write_results_json',
)

#: How the non-LSR methods of a task are called in tables.
METHOD_LABELS: dict[str, str] = {
    'hard_naive': 'hard naive',
    'prior_argmax': 'prior argmax',
    'hr': 'HR',
    'hr_aux': 'HR + aux',
}


def _nan_to_none(value: Any) -> Any:
    """The value with every NaN float in nested dictionaries replaced by None.

    Args:
        value: a score, or a dictionary of them (nested).

    Returns:
        The cleaned copy.
    """
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def results_json(results: dict[str, Any]) -> str:
    """Scores as JSON, with NaN (a class never seen) written as null.

    Args:
        results: nested scores.

    Returns:
        The JSON text.
    """
    return json.dumps(_nan_to_none(results), indent=2)


def write_results_json(path: str | os.PathLike[str], results: dict[str, Any]) -> None:
    """Write scores as JSON (see :func:`results_json`), whole or not at all.

    Args:
        path: the JSON file; its parent folders are created.
        results: nested scores.
    """
    with atomic_path(path) as temporary:
        temporary.write_text(results_json(results) + '\n')


def run_label(results: Mapping[str, Any]) -> str:
    """How a run is called in tables: the loss for LSR, else the method.

    Args:
        results: a task's test results (their ``method`` and ``loss`` entries).

    Returns:
        The label, e.g. ``'QR'``, ``'NLL-union'`` or ``'hard naive'``.
    """
    method = results.get('method', 'lsr')
    if method == 'lsr':
        return str(results.get('loss', 'lsr')).upper().replace('NLL_UNION', 'NLL-union')
    return METHOD_LABELS.get(method, str(method))


def format_test_results(results: Mapping[str, Any]) -> str:
    """The q / r / prior-argmax table of a test run.

    A prior-argmax run has no network, so it has only the prior's row.

    Args:
        results: :attr:`~torchgeo_lsr.tasks.LSRSegmentation.test_results`.

    Returns:
        The table.
    """
    label = run_label(results)
    rows = {}
    if results.get('method') != 'prior_argmax':
        rows[f'{label} (q)'] = results['q']
        rows[f'{label} (r)'] = results['r']
    rows['prior argmax'] = results['prior_argmax']
    return format_scores_table(rows)


def print_test_results(results: dict[str, Any]) -> str:
    """Print the q / r / prior-argmax table of a test run under its pixel count.

    Args:
        results: :attr:`~torchgeo_lsr.tasks.LSRSegmentation.test_results`.

    Returns:
        The table (also printed).
    """
    table = format_test_results(results)
    print(f'\nTest scores ({results["q"]["pixels"]:,} labelled pixels)\n{table}\n')
    label_free = results.get('label_free') or {}
    if label_free:
        scores = ', '.join(
            f'{"prior argmax" if k == "prior" else k} {v:.3f}'
            for k, v in label_free.items()
            if not math.isnan(v)
        )
        print(
            f'Label-free coarse consistency (no labels used; higher is better): {scores}\n'
        )
    return table


def demo_table(results: dict[str, Any]) -> str:
    """The demo's table: the prior's argmax, hard naive (q, r) and QR (q, r).

    Args:
        results: combined results (see :func:`torchgeo_lsr.demo.run_demo`).

    Returns:
        The table.
    """
    rows = {
        'prior argmax': results['prior_argmax'],
        'hard naive (q)': results['hard_naive'],
        'hard naive (r)': results['hard_naive_r'],
        'QR (q)': results['q'],
        'QR (r)': results['r'],
    }
    return format_scores_table(rows)


def evaluation_table(scores: Mapping[str, Any]) -> str:
    """The table of ``torchgeo-lsr evaluate``: the maps' scores and pixel count.

    Args:
        scores: scores of the maps (:func:`torchgeo_lsr.evaluate.evaluate_maps`).

    Returns:
        The table and a line with the number of labelled pixels.
    """
    table = format_scores_table({'map': scores})
    return f'{table}\n({scores["pixels"]:,} labelled pixels)'


def toy_results_table(results: Mapping[str, Any], loss_names: Mapping[str, str]) -> str:
    """The toy demo's table: accuracy and rare-class recall of each model.

    Args:
        results: :func:`~torchgeo_lsr.toy.run_toy_demo`'s results: the prior's
            argmax and, per loss, the scores of argmax q and argmax r.
        loss_names: display name of each loss, in table order.

    Returns:
        The table.
    """
    rows: list[tuple[str, Mapping[str, float]]] = [
        ('prior argmax', results['prior_argmax'])
    ]
    for loss, name in loss_names.items():
        rows.append((f'{name}: argmax q', results[loss]['q']))
        rows.append((f'{name}: argmax r', results[loss]['r']))
    header = f'{"method":38s} {"accuracy":>9s} {"rare-class recall":>18s}'
    lines = [header, '-' * len(header)]
    for label, scores in rows:
        lines.append(
            f'{label:38s} {scores["accuracy"]:9.1%} {scores["rare_recall"]:18.1%}'
        )
    return '\n'.join(lines)
