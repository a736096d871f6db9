"""The coarse-to-fine data module: checks and splits."""

import json
from pathlib import Path

import pytest

from tests.nongeo.text.common import (
    EXAMPLE,
    EXAMPLE_TAXONOMY,
    TAXONOMY,
    FakeScorer,
    write_csv,
)
from torchgeo_lsr.nongeo.text.datamodule import CoarseToFineDataModule
from torchgeo_lsr.nongeo.text.features import TRIGRAM_FEATURES


def test_data_module_errors(tmp_path: Path) -> None:
    tax = tmp_path / 'tax.json'
    tax.write_text(json.dumps(TAXONOMY))
    arts = write_csv(
        tmp_path / 'arts.csv', [('a ballet', 'arts', '')], 'text,coarse,fine'
    )
    module = CoarseToFineDataModule(str(arts), str(tax), 'fake', scorer=FakeScorer())
    with pytest.raises(ValueError, match=r"not in the taxonomy: 'arts'"):
        module.setup('fit')
    wrong = write_csv(
        tmp_path / 'wrong.csv', [('a putt', 'sports', 'energy')], 'text,coarse,fine'
    )
    module = CoarseToFineDataModule(str(wrong), str(tax), 'fake', scorer=FakeScorer())
    with pytest.raises(ValueError, match="'energy' is not a class of 'sports'"):
        module.setup('fit')
    ok = write_csv(
        tmp_path / 'ok.csv', [('a putt', 'sports', 'golf')], 'text,coarse,fine'
    )
    module = CoarseToFineDataModule(
        str(ok), str(tax), str(tmp_path / 'no-model'), cache_dir=str(tmp_path)
    )
    with pytest.raises(FileNotFoundError, match='language model'):
        module.setup('fit')
    with pytest.raises(ValueError, match='val_fraction'):
        CoarseToFineDataModule(str(ok), str(tax), val_fraction=1.0)
    with pytest.raises(FileNotFoundError, match='taxonomy'):
        CoarseToFineDataModule(str(ok), str(tmp_path / 'none.yaml'))


def test_data_module_splits() -> None:
    module = CoarseToFineDataModule(
        str(EXAMPLE),
        str(EXAMPLE_TAXONOMY),
        'fake',
        val_fraction=0.2,
        scorer=FakeScorer(),
    )
    assert module.num_classes == 6
    module.setup('fit')
    train, val = module.train_dataset, module.val_dataset
    assert len(train) == 72
    assert len(val) == 18
    assert set(train.rows.tolist()).isdisjoint(val.rows.tolist())
    sample = train[0]
    assert sample['image'].shape == (TRIGRAM_FEATURES,)
    assert sample['prior'].shape == (6,)
    assert 0 <= int(sample['label']) < 6
    # Uninformative fake scores: uniform over the coarse class's fine classes.
    assert sorted(sample['prior'].tolist()) == pytest.approx(
        [0, 0, 0, 1 / 3, 1 / 3, 1 / 3]
    )
