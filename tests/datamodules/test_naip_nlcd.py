import shutil
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import TinyScene
from torchgeo_lsr.datamodules import NAIPNLCDDataModule
from torchgeo_lsr.datamodules.naip_nlcd import nlcd_glob
from torchgeo_lsr.datasets import vectors


@pytest.fixture
def naip_nlcd(tiny_scene: TinyScene, tmp_path: Path) -> Path:
    """The tiny scene under NAIP's and Annual NLCD's file names."""
    for i in range(tiny_scene.tiles):
        (tmp_path / 'naip').mkdir(exist_ok=True)
        shutil.copy(
            tiny_scene.naip / f'tile_{i}.tif',
            tmp_path / 'naip' / f'm_390{i}_ne_17_1.tif',
        )
    (tmp_path / 'nlcd').mkdir()
    # One NLCD raster under the year's name (the scene has one per tile: take the
    # first, and a decoy year that must not be read).
    shutil.copy(
        tiny_scene.nlcd / 'tile_0.tif',
        tmp_path / 'nlcd' / 'Annual_NLCD_LndCov_2021_CU_C1V1.tif',
    )
    shutil.copy(
        tiny_scene.nlcd / 'tile_1.tif',
        tmp_path / 'nlcd' / 'Annual_NLCD_LndCov_2019_CU_C1V1.tif',
    )
    return tmp_path


def options(root: Path, **kwargs: object) -> dict[str, object]:
    settings: dict[str, object] = {
        'naip_paths': root / 'naip',
        'nlcd_paths': root / 'nlcd',
        'nlcd_year': 2021,
        'cooccurrence': 'enviroatlas-pittsburgh',
        'prior_sigma': 5.0,
        'prior_kernel_size': 21,
        'batch_size': 2,
        'patch_size': 32,
        'length': 2,
    }
    settings.update(kwargs)
    return settings


def test_naip_and_nlcd_by_their_names(naip_nlcd: Path) -> None:
    assert nlcd_glob(2021) == 'Annual_NLCD_LndCov_2021_CU_C1V1.tif'
    dm = NAIPNLCDDataModule(**options(naip_nlcd))  # type: ignore[arg-type]
    assert len(dm.stage_inputs('fit').image) == 2
    dm.setup('fit')
    assert [Path(p).name for p in dm.train_dataset.datasets[1].files] == [
        'Annual_NLCD_LndCov_2021_CU_C1V1.tif'
    ]
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    torch.testing.assert_close(batch['prior'].sum(1), torch.ones(2, 42, 42))


def test_osm_layers_from_the_cache(naip_nlcd: Path, tiny_scene: TinyScene) -> None:
    probe = NAIPNLCDDataModule(
        **options(naip_nlcd, osm=True, osm_cache=str(naip_nlcd / 'osm'))
    )  # type: ignore[arg-type]
    for name, path in probe.osm_paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_scene.vector(name), path)
    dm = NAIPNLCDDataModule(
        **options(naip_nlcd, osm=True, osm_cache=str(naip_nlcd / 'osm'))
    )  # type: ignore[arg-type]
    assert dm.builder is not None
    assert dm.builder.rules is not None
    assert sorted(dm.builder.rules.layers) == ['roads', 'waterbodies', 'waterways']
    dm.prepare_data()  # everything cached: no network
    dm.setup('fit')
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert batch['prior'].shape == (2, 5, 42, 42)


def test_osm_offline_fails_fast(
    naip_nlcd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module that downloads (vectors re-exports it): its connection check runs.
    downloader = sys.modules[vectors.download_osm_layers.__module__]

    def offline(layers: object) -> None:
        raise RuntimeError(downloader._offline_message(list(layers), 'no network'))  # type: ignore[call-overload]

    monkeypatch.setattr(downloader, '_check_overpass_connection', offline)
    dm = NAIPNLCDDataModule(
        **options(naip_nlcd, osm=True, osm_cache=str(naip_nlcd / 'osm'))
    )  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match=r'not cached.*prepare_data'):
        dm.setup('fit')
    with pytest.raises(RuntimeError, match=r'local files|roads_paths'):
        dm.prepare_data()
    with pytest.raises(ValueError, match='given as files and asked from OSM'):
        NAIPNLCDDataModule(**options(naip_nlcd, osm=True, roads_paths='roads.gpkg'))  # type: ignore[arg-type]


def test_nlcd_download_offline(
    naip_nlcd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchgeo_lsr.datamodules.naip_nlcd as module

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError('Network is unreachable')

    # No download code runs: the fetch itself is replaced by an offline failure.
    monkeypatch.setattr(module, '_fetch_nlcd', offline)
    with pytest.raises(RuntimeError, match=r'could not download NLCD 2016.*by hand'):
        NAIPNLCDDataModule(
            **options(
                naip_nlcd,
                nlcd_paths=naip_nlcd / 'new',
                nlcd_year=2016,
                download_nlcd=True,
            )
        )  # type: ignore[arg-type]
