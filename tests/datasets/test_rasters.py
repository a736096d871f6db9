from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from torchgeo.datasets import DatasetNotFoundError

from tests.rasters import write_geotiff
from torchgeo_lsr.datasets.rasters import (
    CoarseLabelRaster,
    ImageryRaster,
    LabelRaster,
    PriorRaster,
)

ORIGIN = (500_000.0, 4_400_000.0)


def write(path: Path, data: np.ndarray, resolution: float = 1.0) -> Path:
    return write_geotiff(path, data, *ORIGIN, res=resolution)


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (4, 60, 60), dtype=np.uint8)
    labels = rng.choice(np.array([10, 20, 40], np.uint8), (60, 60))
    coarse = np.array([[11, 21], [41, 81]], np.uint8)
    prior = rng.random((5, 60, 60)).astype(np.float32)
    return {
        'image': write(tmp_path / 'naip' / 'a.tif', image),
        'labels': write(tmp_path / 'lc' / 'a.tif', labels),
        'coarse': write(tmp_path / 'nlcd' / 'a.tif', coarse, resolution=30.0),
        'prior': write(tmp_path / 'prior' / 'a.tif', prior),
    }


def test_keys_dtypes_and_intersection(scene: dict[str, Path]) -> None:
    imagery = ImageryRaster(scene['image'])
    coarse = CoarseLabelRaster(scene['coarse'], crs=imagery.crs, res=imagery.res)
    labels = LabelRaster(scene['labels'])
    prior = PriorRaster(scene['prior'])
    dataset = imagery & coarse & labels & prior
    x, y = ORIGIN
    sample = dataset[x + 5 : x + 45, y - 45 : y - 5]
    assert sample['image'].shape == (4, 40, 40)
    assert sample['image'].dtype == torch.float32
    assert sample['coarse'].shape == (40, 40)
    assert sample['coarse'].dtype == torch.int64
    assert sample['mask'].shape == (40, 40)
    assert sample['prior'].shape == (5, 40, 40)
    # Coarse labels are resampled with nearest: the 30 m cells stay exact codes.
    assert set(sample['coarse'].unique().tolist()) <= {11, 21, 41, 81}
    assert sample['coarse'][0, 0] == 11  # x + 5, y - 5 lies in the first cell
    assert sample['coarse'][-1, -1] == 81
    with rasterio.open(scene['prior']) as src:
        expected = src.read(window=((5, 45), (5, 45)))
    np.testing.assert_allclose(sample['prior'].numpy(), expected)


def test_configurable_glob(scene: dict[str, Path], tmp_path: Path) -> None:
    write(tmp_path / 'naip' / 'b.TIF', np.zeros((4, 10, 10), np.uint8))
    assert len(ImageryRaster(tmp_path / 'naip')) == 1
    assert len(ImageryRaster(tmp_path / 'naip', filename_glob='*.*')) == 2
    with pytest.raises(DatasetNotFoundError):
        ImageryRaster(tmp_path / 'naip', filename_glob='m_*.tif')


def test_transforms_see_the_renamed_key(scene: dict[str, Path]) -> None:
    seen = []

    def transform(sample: dict[str, object]) -> dict[str, object]:
        seen.append(sorted(sample))
        return sample

    prior = PriorRaster(scene['prior'], transforms=transform)
    x, y = ORIGIN
    prior[x : x + 10, y - 10 : y]
    assert 'prior' in seen[0]
    assert 'image' not in seen[0]
