from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from tests.data.common import KERNEL, SIGMA
from tests.reference_prior import prior_of_codes
from torchgeo_lsr.datamodules import EnviroAtlasLSRDataModule
from torchgeo_lsr.datamodules.enviroatlas import NLCD_INDEX_CODES, resolve_city
from torchgeo_lsr.priors import PriorBuilder, load_cooccurrence, write_prior

#: Largest error of a prior stored as floor(255 p) and renormalised: each of the 5
#: bands loses less than 1/255 of mass.
UINT8_TOLERANCE = 5 / 255


def datamodule(root: Path, **kwargs: object) -> EnviroAtlasLSRDataModule:
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
    return EnviroAtlasLSRDataModule(**options)  # type: ignore[arg-type]


def window(
    dm: EnviroAtlasLSRDataModule, stage: str = 'test'
) -> dict[str, torch.Tensor]:
    dataset = getattr(dm, f'{stage}_dataset')
    x, y = dataset.bounds[0].start, dataset.bounds[1].start
    sample: dict[str, torch.Tensor] = dataset[x + 30 : x + 98, y + 30 : y + 98]
    return sample


def test_transductive_default_reads_the_city_test_tiles(enviroatlas_root: Path) -> None:
    dm = datamodule(enviroatlas_root, city='pittsburgh')
    stages = {s: dm.stage_inputs(s) for s in ('fit', 'validate', 'test', 'predict')}
    assert len(stages['fit'].image) == 2
    assert all(stages[s].image == stages['fit'].image for s in stages)
    assert all('pittsburgh_pa-2010_1m-test_tiles' in p for p in stages['fit'].image)
    # Learning from priors never reads a label in training.
    dm.setup('fit')
    batch = next(iter(dm.train_dataloader()))
    assert 'mask' not in batch
    assert batch['image'].shape == (2, 4, 42, 42)
    torch.testing.assert_close(batch['prior'].sum(1), torch.ones(2, 42, 42))


@pytest.mark.parametrize('prior', ['prior', 'prior_no_osm_no_buildings'])
@pytest.mark.parametrize('city', ['pittsburgh', 'durham'])
def test_stored_priors_equal_on_the_fly_priors(
    enviroatlas_root: Path, prior: str, city: str
) -> None:
    stored = datamodule(enviroatlas_root, city=city, prior=prior)
    built = datamodule(enviroatlas_root, city=city, prior=prior, build_prior=True)
    assert stored.builder is None
    assert built.builder is not None
    assert (built.builder.rules is not None) == (prior == 'prior')
    stored.setup('test')
    built.setup('test')
    a, b = window(stored), window(built)
    valid = a['valid'] & b['valid']
    assert valid.float().mean() > 0.9
    # Stored as uint8 but read as float: a distribution, not integers.
    assert a['prior'].dtype == torch.float32
    torch.testing.assert_close(a['prior'].sum(0), torch.ones_like(a['prior'][0]))
    difference = (a['prior'] - b['prior']).abs()[:, valid].max()
    assert difference <= UINT8_TOLERANCE
    assert difference > 0  # the stored one really is quantised


def test_hand_coded_prior_uses_the_layers(enviroatlas_root: Path) -> None:
    hand = datamodule(enviroatlas_root, prior='prior')
    nlcd = datamodule(enviroatlas_root, prior='prior_no_osm_no_buildings')
    hand.setup('test')
    nlcd.setup('test')
    a, b = window(hand), window(nlcd)
    assert (a['prior'] - b['prior']).abs().max() > 0.05


def test_labels_shrubs_ignored_in_evaluation_trees_in_targets(
    enviroatlas_root: Path,
) -> None:
    folder = (
        enviroatlas_root
        / 'enviroatlas_lotp'
        / 'pittsburgh_pa-2010_1m-train_tiles-debuffered'
    )
    labels = next(folder.glob('*_h_highres_labels.tif'))
    with rasterio.open(labels) as src:
        raw = src.read(1)
        left, top = src.transform.c, src.transform.f
    assert (raw[:32, :32] == 52).any()
    shrubs = torch.from_numpy(raw[:32, :32] == 52)
    for scheme, expected in (('enviroatlas-eval', 5), ('enviroatlas', 3)):
        dm = datamodule(
            enviroatlas_root,
            train_split='pittsburgh-train',
            label_scheme=scheme,
            context=0,
        )
        dm.setup('test')
        sample = dm.test_dataset[left : left + 32, top - 32 : top]
        assert bool((sample['mask'][shrubs] == expected).all())
        assert int(sample['mask'].max()) <= 5


def test_supervised_splits_across_cities(enviroatlas_root: Path) -> None:
    dm = datamodule(
        enviroatlas_root,
        city='durham',
        train_split='pittsburgh-train',
        val_split='pittsburgh_pa-2010_1m-val',
        test_split='test',
        train_labels=True,
    )
    assert 'pittsburgh_pa-2010_1m-train' in dm.stage_inputs('fit').image[0]
    assert 'pittsburgh_pa-2010_1m-val' in dm.stage_inputs('validate').image[0]
    assert 'durham_nc-2012_1m-test' in dm.stage_inputs('test').image[0]
    assert dm.stage_inputs('predict').image == dm.stage_inputs('test').image
    dm.setup('fit')
    assert 'mask' in next(iter(dm.train_dataloader()))


def test_learned_prior_network_inputs(enviroatlas_root: Path) -> None:
    dm = datamodule(
        enviroatlas_root,
        train_split='val5',
        prior='prior_no_osm_no_buildings',
        inputs=['prior', 'buildings', 'roads', 'waterbodies', 'waterways'],
        context=10,
    )
    dm.setup('test')
    sample = window(dm)
    assert sample['image'].shape[0] == 9
    torch.testing.assert_close(sample['image'][:5], sample['prior'])
    assert set(sample['image'][5:].unique().tolist()) <= {0.0, 1.0}


def test_learned_prior_files(enviroatlas_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='learned_prior_paths'):
        datamodule(enviroatlas_root, prior='learned')
    with pytest.raises(FileNotFoundError, match='torchgeo-lsr predict'):
        datamodule(enviroatlas_root, prior='learned', learned_prior_paths=tmp_path)


def test_nlcd_index_table() -> None:
    assert NLCD_INDEX_CODES[:4] == (0, 11, 12, 21)
    assert NLCD_INDEX_CODES[16] == 95
    assert len(NLCD_INDEX_CODES) == 17


def test_bad_city_and_split(enviroatlas_root: Path) -> None:
    with pytest.raises(ValueError, match=r"no city 'boston'.*austin.*phoenix"):
        datamodule(enviroatlas_root, city='boston')
    assert resolve_city('Durham') == 'durham_nc-2012_1m'
    with pytest.raises(ValueError, match=r"no split 'train' for durham.*test.*val5"):
        datamodule(enviroatlas_root, city='durham', train_split='train')


def test_missing_split_layer_and_root(enviroatlas_root: Path, tmp_path: Path) -> None:
    # Austin is a valid city, but the fixture holds none of its tiles.
    with pytest.raises(ValueError, match="split 'austin_tx-2012_1m-test' has no tile"):
        datamodule(enviroatlas_root, city='austin')
    with pytest.raises(FileNotFoundError, match=r'no tile index .*zenodo'):
        datamodule(tmp_path)
    # A root whose prior file is gone: named, with the download location.
    import shutil

    copy = tmp_path / 'copy'
    shutil.copytree(enviroatlas_root, copy)
    prior = next((copy / 'enviroatlas_lotp').rglob('*durham*test*/*_101_31.tif'))
    prior.unlink()
    with pytest.raises(FileNotFoundError, match=rf'{prior.name}.*layer .prior.*zenodo'):
        datamodule(copy, city='durham')


def test_download_fails_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchgeo_lsr.datamodules.enviroatlas as module

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError('Network is unreachable')

    # No download code runs: the fetch itself is replaced by an offline failure.
    monkeypatch.setattr(module, '_fetch', offline)
    with pytest.raises(RuntimeError, match=r'could not download EnviroAtlas.*by hand'):
        datamodule(tmp_path, download=True)


def reference_of_tile(root: Path, nlcd_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The independent §2.3 prior (tests/reference_prior.py) of a fixture tile."""
    stem = str(nlcd_path)[: -len('b_nlcd.tif')]
    with rasterio.open(nlcd_path) as src:
        codes = np.asarray(NLCD_INDEX_CODES)[src.read(1)]
    layers = {}
    for name, suffix in LAYER_SUFFIXES.items():
        with rasterio.open(stem + suffix + '.tif') as src:
            layers[name] = src.read(1)
    matrix = load_cooccurrence('enviroatlas-pittsburgh')
    return prior_of_codes(
        codes, matrix.matrix, matrix.coarse_codes, SIGMA, KERNEL, layers
    )


LAYER_SUFFIXES = {
    'roads': 'c_roads',
    'waterways': 'd1_waterways',
    'waterbodies': 'd2_waterbodies',
    'buildings': 'e_buildings',
}


def test_package_priors_equal_an_independent_reference(
    enviroatlas_root: Path, tmp_path: Path
) -> None:
    """On-the-fly and ``write_prior`` priors equal REFERENCE §2.3, edges included.

    Issue 16 item 5: the stored priors used to be written by the same
    ``PriorBuilder``, so comparing them with on-the-fly priors was circular (and
    hid the wrong fusion order of item 2 near nodata).
    """
    folder = enviroatlas_root / 'enviroatlas_lotp'
    tiles = sorted(folder.glob('pittsburgh*-test_tiles-debuffered/*_b_nlcd.tif'))
    assert len(tiles) == 2
    built = datamodule(enviroatlas_root, prior='prior', build_prior=True, context=0)
    built.setup('test')
    builder = PriorBuilder('enviroatlas-pittsburgh', SIGMA, KERNEL, 'enviroatlas', (0,))
    for nlcd_path in tiles:
        expected, valid = reference_of_tile(enviroatlas_root, nlcd_path)
        assert valid.all()
        stem = str(nlcd_path)[: -len('b_nlcd.tif')]
        with rasterio.open(nlcd_path) as src:
            left, top = src.transform.c, src.transform.f
            height, width = src.shape
            profile = src.profile
        # The whole tile in one sample: its interior and all four edges.
        sample = built.test_dataset[left : left + width, top - height : top]
        assert bool(sample['valid'].all())
        np.testing.assert_allclose(sample['prior'].numpy(), expected, atol=1e-5)
        # write_prior on NLCD codes (not indices) with the layer rasters.
        codes_path = tmp_path / 'codes.tif'
        with (
            rasterio.open(codes_path, 'w', **profile) as dst,
            rasterio.open(nlcd_path) as src,
        ):
            dst.write(np.asarray(NLCD_INDEX_CODES, np.uint8)[src.read(1)], 1)
        out = tmp_path / 'prior.tif'
        write_prior(
            builder,
            codes_path,
            out,
            like=nlcd_path,
            layers={n: stem + s + '.tif' for n, s in LAYER_SUFFIXES.items()},
            progress=False,
        )
        with rasterio.open(out) as src:
            np.testing.assert_allclose(src.read(), expected, atol=1e-5)
