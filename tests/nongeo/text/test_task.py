"""The coarse-to-fine task: F1 scores, training on the example, the CLI config."""

import math
from pathlib import Path

import pytest
import torch

from tests.nongeo.text.common import (
    CONF,
    EXAMPLE,
    EXAMPLE_TAXONOMY,
    ROOT,
    FakeScorer,
    golden_scorer,
)
from torchgeo_lsr import metrics
from torchgeo_lsr.nongeo.text.datamodule import CoarseToFineDataModule
from torchgeo_lsr.nongeo.text.documents import read_documents
from torchgeo_lsr.nongeo.text.language_model import CausalLMScorer
from torchgeo_lsr.nongeo.text.prior import language_model_log_likelihoods
from torchgeo_lsr.nongeo.text.task import CoarseToFineClassification, f1_scores


def test_f1_scores_are_the_metrics_module_s() -> None:
    # The scores themselves are tested against scikit-learn in tests/test_metrics.py.
    assert f1_scores is metrics.f1_scores
    scores = f1_scores(torch.tensor([[2, 0], [1, 1]]))
    assert scores['accuracy'] == scores['micro_f1'] == pytest.approx(3 / 4)
    assert scores['macro_f1'] == pytest.approx((4 / 5 + 2 / 3) / 2)
    assert math.isnan(f1_scores(torch.zeros(3, 3))['macro_f1'])


def fit_example(loss: str, seed: int, root: Path) -> dict[str, dict[str, float]]:
    """Train on the example corpus with the replayed SmolLM2 prior; test scores."""
    import lightning

    lightning.seed_everything(seed, verbose=False)
    module = CoarseToFineDataModule(
        str(EXAMPLE),
        str(EXAMPLE_TAXONOMY),
        'smollm2-golden',
        cache_dir=None,
        batch_size=30,
        scorer=golden_scorer(),
    )
    task = CoarseToFineClassification(num_classes=6, loss=loss)  # type: ignore[arg-type]
    trainer = lightning.Trainer(
        max_epochs=30,
        accelerator='cpu',
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=root,
    )
    trainer.fit(task, module)
    trainer.test(task, module, verbose=False)
    return task.test_scores


def test_rq_beats_the_prior_argmax_on_the_example(tmp_path: Path) -> None:
    rq = fit_example('rq', 0, tmp_path)
    prior = rq['prior argmax']
    # The SmolLM2 prior (calibrated): 66 of 90 sentences right.
    assert prior['accuracy'] == pytest.approx(66 / 90)
    assert prior['micro_f1'] == prior['accuracy']
    # RQ: 71 of 90 with this seed (seeds 0-4: 67-71); at least two more than
    # the prior here, to leave room for platform differences.
    assert rq['q']['accuracy'] >= prior['accuracy'] + 2 / 90
    assert rq['q']['macro_f1'] > prior['macro_f1']
    # Cross-entropy on the prior learns its argmax back.
    ce = fit_example('ce', 0, tmp_path)
    assert abs(ce['q']['accuracy'] - prior['accuracy']) <= 1 / 90


def test_cli_config_runs_from_cached_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from torchgeo_lsr.cli import main, run_lightning

    # A stand-in model folder: its scores are all cached, so it is never loaded.
    model = tmp_path / 'lm'
    model.mkdir()
    (model / 'config.json').write_text('{}')
    cache = tmp_path / 'cache'
    table = read_documents(EXAMPLE)
    language_model_log_likelihoods(
        list(table['text']),
        list(table['coarse']),
        EXAMPLE_TAXONOMY,
        CausalLMScorer(str(model)).name,
        cache_dir=cache,
        scorer=golden_scorer(),
    )

    config = yaml.safe_load((CONF / 'coarse_to_fine.yaml').read_text())
    # Short class names resolve once torchgeo_lsr.nongeo imports this package.
    for key in ('model', 'data'):
        config[key]['class_path'] = (
            'torchgeo_lsr.nongeo.text.' + config[key]['class_path']
        )
    data = config['data']['init_args']
    data['documents'] = str(ROOT / data['documents'])
    data['taxonomy'] = str(ROOT / data['taxonomy'])
    data['model_path'] = str(model)
    data['cache_dir'] = str(cache)
    config['trainer']['default_root_dir'] = str(tmp_path / 'run')
    config['trainer']['enable_progress_bar'] = False
    checkpoints = tmp_path / 'run' / 'checkpoints'
    config['trainer']['callbacks'][0]['init_args']['dirpath'] = str(checkpoints)
    path = tmp_path / 'coarse_to_fine.yaml'
    path.write_text(yaml.safe_dump(config))

    assert main(['fit', '--config', str(path)]) == 0
    assert (checkpoints / 'last.ckpt').is_file()
    cli = run_lightning(
        ['test', '--config', str(path), '--ckpt_path', str(checkpoints / 'last.ckpt')]
    )
    scores = cli.model.test_scores
    assert scores['q']['accuracy'] > scores['prior argmax']['accuracy']
    out = capsys.readouterr().out
    assert 'RQ (q)' in out
    assert 'prior argmax' in out


def test_class_count_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    import lightning

    module = CoarseToFineDataModule(
        str(EXAMPLE), str(EXAMPLE_TAXONOMY), 'fake', cache_dir=None, scorer=FakeScorer()
    )
    trainer = lightning.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(ValueError, match='set model num_classes: 6'):
        trainer.fit(CoarseToFineClassification(num_classes=5), module)
