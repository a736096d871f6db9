import json
import math
from pathlib import Path

import pytest

from torchgeo_lsr.results import (
    demo_table,
    evaluation_table,
    format_test_results,
    print_test_results,
    results_json,
    run_label,
    toy_results_table,
    write_results_json,
)


def scores(accuracy: float, iou: float = 0.5) -> dict[str, object]:
    return {
        'accuracy': accuracy,
        'miou': iou,
        'per_class_iou': {'Water': iou, 'Trees': math.nan},
        'pixels': 12345,
    }


def test_nan_is_written_as_null() -> None:
    text = results_json({'q': scores(0.5), 'loss': 'qr', 'steps': 3})
    assert 'NaN' not in text
    loaded = json.loads(text)
    assert loaded['q']['per_class_iou'] == {'Water': 0.5, 'Trees': None}
    assert loaded['loss'] == 'qr'
    assert loaded['steps'] == 3


def test_write_results_json(tmp_path: Path) -> None:
    path = tmp_path / 'sub' / 'results.json'
    write_results_json(path, {'q': scores(0.25)})
    assert path.read_text().endswith('\n')
    assert json.loads(path.read_text())['q']['per_class_iou']['Trees'] is None
    assert [p.name for p in path.parent.iterdir()] == ['results.json']


@pytest.mark.parametrize(
    ('results', 'label'),
    [
        ({}, 'LSR'),
        ({'method': 'lsr', 'loss': 'qr'}, 'QR'),
        ({'loss': 'rq'}, 'RQ'),
        ({'method': 'lsr', 'loss': 'nll_union'}, 'NLL-union'),
        ({'method': 'hard_naive', 'loss': 'qr'}, 'hard naive'),
        ({'method': 'prior_argmax'}, 'prior argmax'),
        ({'method': 'hr'}, 'HR'),
        ({'method': 'hr_aux'}, 'HR + aux'),
        ({'method': 'something_new'}, 'something_new'),
    ],
)
def test_run_label(results: dict[str, str], label: str) -> None:
    assert run_label(results) == label


def test_test_table_rows() -> None:
    results = {
        'loss': 'qr',
        'q': scores(0.5),
        'r': scores(0.75),
        'prior_argmax': scores(0.25),
    }
    table = format_test_results(results)
    labels = [line.split('  ')[0] for line in table.splitlines()[2:]]
    assert labels == ['QR (q)', 'QR (r)', 'prior argmax']
    assert '75.0' in table.splitlines()[3]
    assert table.splitlines()[2].split()[-1] == '-'  # NaN IoU


def test_prior_argmax_runs_have_only_the_prior_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = {
        'method': 'prior_argmax',
        'q': scores(0.25),
        'r': scores(0.25),
        'prior_argmax': scores(0.25),
    }
    table = print_test_results(results)
    assert [line.split('  ')[0] for line in table.splitlines()[2:]] == ['prior argmax']
    printed = capsys.readouterr().out
    assert 'Test scores (12,345 labelled pixels)' in printed
    assert table in printed


def test_demo_table_rows() -> None:
    results = {
        key: scores(0.1 * (i + 1))
        for i, key in enumerate(
            ('prior_argmax', 'hard_naive', 'hard_naive_r', 'q', 'r')
        )
    }
    labels = [line.split('  ')[0] for line in demo_table(results).splitlines()[2:]]
    assert labels == [
        'prior argmax',
        'hard naive (q)',
        'hard naive (r)',
        'QR (q)',
        'QR (r)',
    ]


def test_evaluation_table() -> None:
    table = evaluation_table(scores(0.5))
    assert table.splitlines()[2].startswith('map ')
    assert table.splitlines()[-1] == '(12,345 labelled pixels)'


def test_toy_results_table() -> None:
    results = {
        'prior_argmax': {'accuracy': 0.5, 'rare_recall': 0.0},
        'qr': {
            'q': {'accuracy': 0.75, 'rare_recall': 0.5},
            'r': {'accuracy': 0.8, 'rare_recall': 0.625},
        },
    }
    lines = toy_results_table(results, {'qr': 'QR (free energy)'}).splitlines()
    assert lines[0].split() == ['method', 'accuracy', 'rare-class', 'recall']
    assert set(lines[1]) == {'-'}
    assert [line[:38].strip() for line in lines[2:]] == [
        'prior argmax',
        'QR (free energy): argmax q',
        'QR (free energy): argmax r',
    ]
    assert lines[4].split()[-2:] == ['80.0%', '62.5%']
