import math

import pytest

from torchgeo_lsr.nongeo.partial_labels import (
    PartialLabelClassification,
    PartialLabelDataModule,
)
from torchgeo_lsr.nongeo.sweep import fit_and_score, negative_label_sweep


def test_fit_and_score_records_every_epoch() -> None:
    datamodule = PartialLabelDataModule('digits', k=3, batch_size=64, train_size=256)
    task = PartialLabelClassification(image_size=8, loss='rq', lr=3e-3)
    run = fit_and_score(task, datamodule, 2)
    assert run['epochs'] == 2
    assert len(run['test_accuracy_per_epoch']) == 2
    assert len(run['train_accuracy_per_epoch']) == 2
    assert run['final_test_accuracy'] == run['test_accuracy_per_epoch'][-1]
    assert run['best_test_accuracy'] == max(run['test_accuracy_per_epoch'])
    assert 0 <= run['final_test_accuracy'] <= 1
    assert run['cpu_seconds'] > 0
    with pytest.raises(ValueError, match='epochs must be positive'):
        fit_and_score(task, datamodule, 0)


def test_sweep_over_k_and_losses(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchgeo_lsr.nongeo.partial_labels as module

    reads: list[str] = []
    load = module.load_images

    def counted(source: str, split: str, root: str | None = None) -> object:
        reads.append(split)
        return load(source, split, root)  # type: ignore[arg-type]

    monkeypatch.setattr(module, 'load_images', counted)
    seen: list[tuple[str, int]] = []
    results = negative_label_sweep(
        [1, 9],
        ['ce', 'rq'],
        1,
        source='digits',
        train_size=256,
        batch_size=64,
        on_run=lambda loss, k, run: seen.append((loss, k)),
    )
    assert seen == [('ce', 1), ('rq', 1), ('ce', 9), ('rq', 9)]
    assert sorted(reads) == ['test', 'train']  # once, for every k
    assert set(results) == {'ce', 'rq'}
    assert set(results['rq']) == {1, 9}
    # With full labels (k = 9) RQ is cross-entropy: the same run, to rounding.
    assert math.isclose(
        results['ce'][9]['final_test_accuracy'],
        results['rq'][9]['final_test_accuracy'],
        abs_tol=0.01,
    )
    with pytest.raises(ValueError, match='at least one k'):
        negative_label_sweep([], ['rq'], 1, source='digits')
