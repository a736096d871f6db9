from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from tests.conftest import TinyScene
from tests.export.helpers import datamodule, read
from torchgeo_lsr.export import MAP_NODATA, ExportOptions, TileGrid, export_maps
from torchgeo_lsr.export.grids import region_grid
from torchgeo_lsr.losses import implied_posterior
from torchgeo_lsr.tasks import LSRSegmentation


def test_block_bounds_and_valid_mask() -> None:
    grid = TileGrid(Path('t.tif'), 1, None, Affine(2.0, 0, 100.0, 0, -2.0, 50.0), 8, 6)
    assert grid.block_bounds(1, 2, 3, 4) == (104.0, 112.0, 42.0, 48.0)
    tile = torch.tensor([[1, 1, 0], [1, -1, 1]])
    assert grid.valid_mask(tile, 0, 0).tolist() == [
        [True, True, False],
        [True, False, True],
    ]


def test_region_grid_refuses_other_resolutions() -> None:
    first = TileGrid(Path('a.tif'), 0, None, Affine(1.0, 0, 0.0, 0, -1.0, 10.0), 10, 10)
    second = TileGrid(Path('b.tif'), 1, None, Affine(2.0, 0, 10.0, 0, -2.0, 10.0), 5, 5)
    with pytest.raises(ValueError, match='another resolution'):
        region_grid([first, second], (1.0, 1.0, 5.0, 5.0))


def test_region_map_across_tiles(
    tiny_scene: TinyScene, task: LSRSegmentation, tmp_path: Path
) -> None:
    """One map of a region straddling two tiles: its grid, q and region-total r."""
    import geopandas
    import shapely
    from rasterio.features import geometry_mask

    dm = datamodule(tiny_scene)
    dm.setup('predict')
    x, y, _ = dm.predict_dataset.bounds
    left, top = x.start + 100.0, y.stop - 20.0
    box = (left - 0.4, top - 130.0, left + 200.0, top + 0.3)  # snaps outwards
    options = {'products': ('q', 'r'), 'probability_dtype': 'float32', 'window': 64}
    paths = export_maps(
        task, dm, tmp_path / 'maps', ExportOptions(region=box, **options), False
    )[0]
    assert paths['map'] == tmp_path / 'maps' / 'region.tif'
    with rasterio.open(paths['map']) as out:
        assert (out.transform.c, out.transform.f) == (left - 1, top + 1)
        assert (out.width, out.height) == (201, 131)
    # The same pixels in one forward pass over the region (across the tile seam).
    sample = dm.predict_dataset[left - 1 : left + 200, top - 130 : top + 1]
    task.eval()
    with torch.no_grad():
        reference = task.outputs(
            {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
        )
    q = reference['log_q'][0].exp().numpy()
    np.testing.assert_allclose(read(paths['q']), q, atol=1e-5)
    log_r = implied_posterior(
        reference['log_q'], reference['prior'], mask=reference['valid']
    )
    np.testing.assert_allclose(read(paths['r']), log_r[0].exp().numpy(), atol=1e-5)

    # A polygon in another CRS: pixels outside are nodata, r totals only inside.
    triangle = shapely.Polygon(
        [(left, top), (left + 200, top), (left + 100, top - 130)]
    )
    frame = geopandas.GeoDataFrame(geometry=[triangle], crs=dm.predict_dataset.crs)
    frame.to_crs('EPSG:4326').to_file(tmp_path / 'region.gpkg')
    polygon = export_maps(
        task,
        dm,
        tmp_path / 'triangle.tif',
        ExportOptions(region=str(tmp_path / 'region.gpkg'), **options),
        False,
    )[0]
    with rasterio.open(polygon['map']) as out:
        inside = geometry_mask(
            [triangle], (out.height, out.width), out.transform, invert=True
        )
        classes = out.read(1)
        sample = dm.predict_dataset[
            out.bounds.left : out.bounds.right, out.bounds.bottom : out.bounds.top
        ]
    assert (classes[~inside] == MAP_NODATA).all()
    assert (classes[inside] != MAP_NODATA).all()
    with torch.no_grad():
        reference = task.outputs(
            {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
        )
    mask = reference['valid'] & torch.from_numpy(inside)[None]
    log_r = implied_posterior(reference['log_q'], reference['prior'], mask=mask)
    expected = log_r[0].exp().numpy()[:, inside]
    np.testing.assert_allclose(read(polygon['r'])[:, inside], expected, atol=1e-5)
    with pytest.raises(ValueError, match='does not overlap the imagery'):
        export_maps(
            task,
            dm,
            tmp_path / 'far.tif',
            ExportOptions(region=(0.0, 0.0, 10.0, 10.0)),
            False,
        )
