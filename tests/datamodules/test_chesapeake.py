from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from tests.data.common import KERNEL, SIGMA
from tests.reference_prior import prior_of_codes
from torchgeo_lsr.datamodules import (
    ChesapeakeLSRDataModule,
    LSRSampleTransform,
    MarginDataset,
)
from torchgeo_lsr.datamodules.chesapeake import resolve_states
from torchgeo_lsr.datamodules.device_batch import collate_samples
from torchgeo_lsr.priors import PriorBuilder, load_cooccurrence, write_prior

UINT8_TOLERANCE = 4 / 255


def datamodule(root: Path, **kwargs: object) -> ChesapeakeLSRDataModule:
    options: dict[str, object] = {
        'root': root,
        'batch_size': 2,
        'patch_size': 32,
        'eval_patch_size': 64,
        'length': 4,
        'prior_sigma': SIGMA,
        'prior_kernel_size': KERNEL,
    }
    options.update(kwargs)
    return ChesapeakeLSRDataModule(**options)  # type: ignore[arg-type]


def sample_at(dataset: object, path: str) -> dict[str, torch.Tensor]:
    with rasterio.open(path) as src:
        left, top = src.transform.c, src.transform.f
    result: dict[str, torch.Tensor] = dataset[  # type: ignore[index]
        left + 30 : left + 98, top - 98 : top - 30
    ]
    return result


@pytest.mark.parametrize('states', ['ny', 'pa', 'ny+pa'])
def test_dataset_prior_read_as_float_equals_the_built_one(
    chesapeake_root: Path, states: str
) -> None:
    stored = datamodule(chesapeake_root, states=states, prior='dataset')
    built = datamodule(chesapeake_root, states=states, prior='nlcd')
    stored.setup('test')
    built.setup('test')
    tiles = stored.stage_inputs('test').image
    assert len(tiles) == {'ny': 2, 'pa': 1, 'ny+pa': 3}[states]
    for path in tiles:
        a = sample_at(stored.test_dataset, path)
        b = sample_at(built.test_dataset, path)
        valid = a['valid'] & b['valid']
        assert valid.float().mean() > 0.8
        assert a['prior'].shape[0] == 4
        # Not integers: TorchGeo's own data module casts this layer to int.
        assert bool(((a['prior'] > 0) & (a['prior'] < 1)).any())
        assert (a['prior'] - b['prior']).abs()[:, valid].max() <= UINT8_TOLERANCE


def test_cooccurrences_per_state_from_train_tiles(chesapeake_root: Path) -> None:
    dm = datamodule(chesapeake_root, states='ny+pa')
    cache = chesapeake_root / 'torchgeo-lsr'
    ny = load_cooccurrence(cache / 'cooccurrence-ny-train.csv')
    pa = load_cooccurrence(cache / 'cooccurrence-pa-train.csv')
    assert ny.fine.name == 'chesapeake'
    assert not np.allclose(ny.matrix, pa.matrix)
    states = {Path(p).parent.name[:2]: m for p, m in dm.tile_cooccurrences.items()}
    assert set(states) == {'ny', 'pa'}
    assert states['ny'].endswith('ny-train.csv')
    # A given matrix serves every tile.
    single = datamodule(
        chesapeake_root,
        states='ny+pa',
        cooccurrence=str(cache / 'cooccurrence-pa-train.csv'),
    )
    assert single.tile_cooccurrences == {}


def test_labels_in_the_four_task_classes(chesapeake_root: Path) -> None:
    dm = datamodule(chesapeake_root, states='ny', context=0)
    dm.setup('test')
    path = dm.stage_inputs('test').image[0]
    lc = path.replace('naip-new', 'lc')
    with rasterio.open(lc) as src:
        codes = src.read(1)[30:98, 30:98]
    mask = sample_at(dm.test_dataset, path)['mask'].numpy()
    expected = np.select(
        [codes == 1, codes == 2, codes == 3, np.isin(codes, (4, 5, 6))],
        [0, 1, 2, 3],
        default=4,
    )
    assert (codes == 6).any()
    assert (codes == 4).any()
    np.testing.assert_array_equal(mask, expected)


def test_splits_and_states(chesapeake_root: Path) -> None:
    dm = datamodule(
        chesapeake_root,
        states='ny',
        train_split='train',
        val_split='val',
        test_split='de-test',
    )
    assert 'ny_1m_2013_extended-debuffered-train' in dm.stage_inputs('fit').image[0]
    assert 'ny_1m_2013_extended-debuffered-val' in dm.stage_inputs('validate').image[0]
    assert 'de_1m_2013_extended-debuffered-test' in dm.stage_inputs('test').image[0]
    assert resolve_states('NY+pa') == ['ny', 'pa']
    with pytest.raises(ValueError, match=r"no state \['tx'\].*'de', 'md'"):
        resolve_states('tx')
    with pytest.raises(ValueError, match="no split 'ny-holdout'"):
        datamodule(chesapeake_root, states='ny', train_split='holdout')
    with pytest.raises(ValueError, match="split 'md-test' has no tile"):
        datamodule(chesapeake_root, states='md', prior='dataset')


def test_missing_prior_extension_is_named(
    chesapeake_root: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / 'copy'
    shutil.copytree(chesapeake_root, copy)
    for path in copy.rglob('*_prior_from_cooccurrences_101_31_no_osm_no_buildings.tif'):
        path.unlink()
    with pytest.raises(
        FileNotFoundError, match=r'prior extension.*zenodo.*prior: nlcd'
    ):
        datamodule(copy, prior='dataset')
    # NLCD priors do not need it.
    datamodule(copy, prior='nlcd')
    with pytest.raises(FileNotFoundError, match=r'no tile index.*lila'):
        datamodule(tmp_path / 'nothing')


def test_package_priors_equal_an_independent_reference(
    chesapeake_root: Path, tmp_path: Path
) -> None:
    """On-the-fly and ``write_prior`` priors equal REFERENCE §2.3, edges included.

    Issue 16 item 5: the stored priors used to be written by the same
    ``PriorBuilder``, so comparing them with on-the-fly priors was circular.
    """
    built = datamodule(chesapeake_root, states='ny+pa', prior='nlcd', context=0)
    built.setup('test')
    cache = chesapeake_root / 'torchgeo-lsr'
    tiles = built.stage_inputs('test').image
    assert len(tiles) == 3
    for path in tiles:
        state = Path(path).parent.name[:2]
        matrix = load_cooccurrence(cache / f'cooccurrence-{state}-train.csv')
        nlcd_path = str(path).replace('_naip-new.tif', '_nlcd.tif')
        with rasterio.open(nlcd_path) as src:
            codes = src.read(1)
            left, top = src.transform.c, src.transform.f
            height, width = src.shape
        expected, valid = prior_of_codes(
            codes, matrix.matrix, matrix.coarse_codes, SIGMA, KERNEL
        )
        assert valid.mean() > 0.8  # codes without information leave gaps
        # The whole tile in one sample: its interior and all four edges.
        sample = built.test_dataset[left : left + width, top - height : top]
        used = sample['valid'].numpy()
        assert used.mean() > 0.8
        assert not (used & ~valid).any()
        np.testing.assert_allclose(
            sample['prior'].numpy()[:, used], expected[:, used], atol=1e-5
        )
        out = tmp_path / f'{state}.tif'
        builder = PriorBuilder(matrix, SIGMA, KERNEL, None, (0, 128))
        write_prior(builder, nlcd_path, out, like=path, progress=False)
        with rasterio.open(out) as src:
            written = src.read()
        np.testing.assert_array_equal(np.isfinite(written).all(0), valid)
        np.testing.assert_allclose(np.nan_to_num(written), expected, atol=1e-5)


def test_device_priors_with_a_matrix_per_state(chesapeake_root: Path) -> None:
    # ny+pa: each state's tiles take that state's co-occurrence matrix; the loader
    # ships each tile part's remapped mass, the device blurs and normalises it.
    dm = datamodule(chesapeake_root, states='ny+pa', prior='nlcd')
    dm.setup('test')
    dataset = dm.test_dataset
    assert isinstance(dataset, MarginDataset)
    assert dataset.device_reads is not None
    transform = dataset.transforms
    assert isinstance(transform, LSRSampleTransform)
    assert transform.spec.priors is not None
    assert transform.spec.priors.tile_builders is not None
    index = list(dm.test_sampler)
    view = dataset.loader_view()
    loaded = collate_samples([view[q] for q in index])
    batch = dm.on_after_batch_transfer(loaded, 0)
    whole = collate_samples([dataset[q] for q in index])
    torch.testing.assert_close(batch['prior'], whole['prior'], atol=1e-5, rtol=0)
    assert torch.equal(batch['valid'], whole['valid'])
    assert torch.equal(batch['image'], whole['image'])
