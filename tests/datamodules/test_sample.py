"""The per-sample transform: crop, validity, labels, context and input channels."""

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from tests.datamodules.two_tiles import (
    TILE,
    X0,
    Y0,
    as_rasters,
    datamodule,
    road_and_building_files,
)
from torchgeo_lsr.datamodules.sample import LSRSampleTransform, SampleSpec
from torchgeo_lsr.datamodules.tile_priors import TileLayout


def test_nodata_and_ignore(scene: Path) -> None:
    dm = datamodule(scene)
    dm.setup('validate')
    sample = dm.val_dataset[X0 : X0 + 32, Y0 - 32 : Y0]
    assert not sample['valid'][:5, :5].any()  # imagery nodata corner
    assert sample['valid'][10:, 10:].all()
    with rasterio.open(scene / 'lc' / 'tile_0.tif') as src:
        labels = src.read(1, window=((0, 32), (0, 32)))
    assert (sample['mask'].numpy()[labels == 0] == 5).all()


def test_context_margin(scene: Path) -> None:
    plain = datamodule(scene)
    wide = datamodule(scene, context=5)
    plain.setup('validate')
    wide.setup('validate')
    x, y = X0 + 140, Y0 - 60  # straddles the two tiles
    a = plain.val_dataset[x : x + 32, y - 32 : y]
    b = wide.val_dataset[x : x + 32, y - 32 : y]
    assert b['image'].shape == (4, 42, 42)
    assert b['prior'].shape == (5, 42, 42)
    for key in ('image', 'prior', 'valid', 'mask', 'tile'):
        torch.testing.assert_close(b[key][..., 5:-5, 5:-5], a[key])
    torch.testing.assert_close(
        b['bounds'][:6], a['bounds'][:6] + torch.tensor([-5.0, 5, 0, -5, 5, 0])
    )
    assert b['transform'][2] == a['transform'][2] - 5
    assert b['transform'][5] == a['transform'][5] + 5
    # Tile ids: tile 0 left of the shared edge, tile 1 right of it.
    assert (a['tile'][:, :10] == 0).all()
    assert (a['tile'][:, 10:] == 1).all()
    # The evaluation grid steps by the patch size: interiors tile the extent once.
    loader = wide.val_dataloader()
    counts = torch.zeros(TILE, 2 * TILE)
    for batch in loader:
        for bounds in batch['bounds']:
            col = round(float(bounds[0]) + 5 - X0)
            row = round(Y0 - float(bounds[4]) + 5)
            r0, c0 = max(row, 0), max(col, 0)
            counts[r0 : max(row + 32, 0), c0 : max(col + 32, 0)] += 1
    assert (counts == 1).all()


def test_inputs_stack_prior_and_layers(scene: Path, tmp_path: Path) -> None:
    vectors = road_and_building_files(scene, tmp_path)
    rasters = as_rasters(scene, vectors, tmp_path / 'rasters')
    dm = datamodule(
        scene,
        roads_paths=rasters['roads'],
        buildings_paths=vectors['buildings'],
        fusion_rules='none',
        inputs=['prior', 'roads', 'buildings', 'imagery'],
        context=2,
    )
    plain = datamodule(scene, context=2)
    dm.setup('validate')
    plain.setup('validate')
    x, y = X0 + 130, Y0 - 30
    sample = dm.val_dataset[x : x + 32, y - 32 : y]
    reference = plain.val_dataset[x : x + 32, y - 32 : y]
    assert sample['image'].shape == (5 + 1 + 1 + 4, 36, 36)
    # No fusion: the prior is the NLCD-only one, and it is the first 5 channels.
    torch.testing.assert_close(sample['prior'], reference['prior'])
    torch.testing.assert_close(sample['image'][:5], reference['prior'])
    torch.testing.assert_close(sample['image'][7:], reference['image'])
    # The road row (y = Y0 - 40.5, widened to 3 px) and the building's pixels.
    road, building = sample['image'][5], sample['image'][6]
    assert set(road.unique().tolist()) == {0.0, 1.0}
    row = round((y + 2) - (Y0 - 40.5) - 0.5)
    assert bool((road[row - 1 : row + 2] == 1).all())
    # The sample (context 2) spans y Y0-64..Y0-28, x X0+128..X0+164: the building
    # (y Y0-80..Y0-60, x X0+140..X0+160) covers 4 of its rows and 20 columns.
    assert building.sum() == 4 * 20
    mean, std = dm.image_statistics()
    assert mean.shape == std.shape == (11,)
    assert mean[:7].abs().sum() == 0
    assert (std[:7] == 1).all()
    with pytest.raises(ValueError, match='need their layer paths'):
        datamodule(scene, inputs=['imagery', 'waterways'])
    with pytest.raises(ValueError, match='inputs must name'):
        datamodule(scene, inputs=['imagery', 'lidar'])


def test_sample_spec_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        SampleSpec(5)  # type: ignore[call-arg]
    spec = SampleSpec(num_classes=5, inputs=['imagery', 'prior'])  # type: ignore[arg-type]
    assert spec.inputs == ('imagery', 'prior')
    assert spec.halo == 0  # no builder: precomputed priors are read
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.context = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        LSRSampleTransform(spec)  # type: ignore[call-arg]


def _raw_sample(prior: torch.Tensor, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """A raw sample of the imagery grid at (X0, Y0), 1 m pixels, no halo."""
    height, width = image.shape[-2:]
    return {
        'image': image,
        'prior': prior,
        'bounds': torch.tensor([X0, X0 + width, 1.0, Y0 - height, Y0, 1.0, 0, 1, 1]),
        'transform': torch.tensor([1.0, 0, X0, 0, -1.0, Y0, 1.0, 0, X0]),
    }


def test_precomputed_priors_are_normalised_and_invalid_pixels_uniform() -> None:
    import shapely

    tiles = TileLayout(
        bounds=((X0, Y0 - 4, X0 + 3, Y0),), paths=('tile_0.tif',), crs='EPSG:32617'
    )
    spec = SampleSpec(
        num_classes=2,
        tiles=tiles,
        image_nodata=0.0,
        region=shapely.box(X0, Y0 - 4, X0 + 4, Y0 - 1),  # not the top row
    )
    transform = LSRSampleTransform(spec=spec)
    assert transform.tile_paths == ['tile_0.tif']
    assert transform.crs == 'EPSG:32617'
    assert transform.margin == 0
    image = torch.full((3, 4, 4), 51.0)
    image[:, 3, 0] = 0  # nodata
    prior = torch.stack([torch.full((4, 4), 3.0), torch.ones(4, 4)])
    prior[:, 2, 1] = float('nan')
    out = transform(_raw_sample(prior, image))
    assert set(out) == {'image', 'prior', 'valid', 'tile', 'bounds', 'transform'}
    torch.testing.assert_close(out['image'][:, 1, 1], torch.full((3,), 0.2))
    assert out['image'][:, 3, 0].eq(0).all()
    expected = torch.ones(4, 4, dtype=torch.bool)
    expected[0] = False  # outside the region
    expected[:, 3] = False  # outside the only tile
    expected[3, 0] = False  # imagery nodata
    expected[2, 1] = False  # prior nodata
    assert torch.equal(out['valid'], expected)
    assert (out['tile'][:, 3] == -1).all()
    assert (out['tile'][:, :3] == 0).all()
    torch.testing.assert_close(out['prior'][:, 1, 1], torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(out['prior'][:, 0, 0], torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(
        out['transform'][:6], torch.tensor([1.0, 0, X0, 0, -1.0, Y0])
    )
    # Picklable: it runs in data-loader workers.
    again = pickle.loads(pickle.dumps(transform))
    assert again.spec == transform.spec


def test_labels_are_ignored_outside_the_scheme() -> None:
    from torchgeo_lsr.schemes import get_scheme

    scheme = get_scheme('enviroatlas')
    spec = SampleSpec(num_classes=scheme.num_classes, label_scheme=scheme)
    transform = LSRSampleTransform(spec=spec)
    sample = _raw_sample(torch.ones(scheme.num_classes, 2, 2), torch.ones(3, 2, 2))
    sample['mask'] = torch.tensor([[10, 20], [0, 40]])
    out = transform(sample)
    assert out['mask'].tolist() == [[0, 1], [scheme.num_classes, 3]]
    assert not out['valid'].any()  # no tile: every pixel is outside the imagery
    assert np.isfinite(out['prior'].numpy()).all()


def _labelled_transform(**spec: object) -> LSRSampleTransform:
    """A transform of a 2 x 3 tile at (X0, Y0) scoring EnviroAtlas labels."""
    from torchgeo_lsr.schemes import get_scheme

    scheme = get_scheme('enviroatlas')
    tiles = TileLayout(
        bounds=((X0, Y0 - 2, X0 + 2, Y0),), paths=('tile_0.tif',), crs='EPSG:32617'
    )
    options: dict[str, object] = {
        'num_classes': scheme.num_classes,
        'label_scheme': scheme,
        'tiles': tiles,
        'image_nodata': None,
    }
    options.update(spec)
    return LSRSampleTransform(spec=SampleSpec(**options))  # type: ignore[arg-type]


def test_unknown_label_codes_at_valid_pixels_are_refused() -> None:
    """Guards issue 16 item 6: the old code made unknown codes the ignore index.

    Labels in another encoding (here class indices 1..4 read as EnviroAtlas
    codes) were scored on whatever subset happened to be known.
    """
    transform = _labelled_transform()
    sample = _raw_sample(torch.ones(5, 2, 3), torch.ones(3, 2, 3))
    sample['mask'] = torch.tensor([[10, 1, 2], [3, 4, 99]])  # column 2: no tile
    with pytest.raises(ValueError, match=r'codes \[1, 3, 4\] are unknown') as error:
        transform(sample)
    message = str(error.value)
    assert message.startswith('label rasters (label_paths) in the sample at x=')
    assert "the scheme 'enviroatlas'" in message
    assert 'set label_scheme to the scheme of these codes' in message
    assert '99' not in message  # outside the imagery: not scored, not checked
    assert '\n' not in message


def test_nodata_ignored_and_raster_nodata_labels_are_fine() -> None:
    """The scheme's nodata (0) and ignored codes (80) and ``label_nodata`` pass."""
    transform = _labelled_transform(label_nodata=[255])
    sample = _raw_sample(torch.ones(5, 2, 3), torch.ones(3, 2, 3))
    sample['mask'] = torch.tensor([[10, 0, 7], [80, 255, 52]])  # 7: no tile
    out = transform(sample)
    assert out['mask'].tolist() == [[0, 5, 5], [5, 5, 3]]
    assert transform.spec.label_nodata == (255.0,)
    sample = _raw_sample(torch.ones(5, 2, 3), torch.ones(3, 2, 3))
    sample['mask'] = torch.tensor([[10, 0, 7], [80, 254, 52]])
    with pytest.raises(ValueError, match=r'codes \[254\] are unknown'):
        _labelled_transform(label_nodata=(255,))(sample)


def test_data_module_refuses_labels_of_another_scheme(scene: Path) -> None:
    """Guards issue 16 item 6 end to end: EnviroAtlas codes read as Chesapeake."""
    dm = datamodule(scene, label_scheme='chesapeake')
    dm.setup('validate')
    with pytest.raises(ValueError, match="unknown to the scheme 'chesapeake'"):
        dm.val_dataset[X0 + 40 : X0 + 72, Y0 - 72 : Y0 - 40]


@pytest.mark.parametrize('nodata', [None, 0.0])
def test_non_finite_imagery_is_nodata(nodata: float | None) -> None:
    """Guards issue 20 item 4: NaN imagery trained every weight into NaN.

    A pixel with NaN or infinity in any band is nodata, whatever ``image_nodata``.
    """
    transform = _labelled_transform(image_nodata=nodata)
    image = torch.ones(3, 2, 3)
    image[0, 0, 0] = float('nan')
    image[2, 1, 1] = float('inf')
    out = transform(_raw_sample(torch.ones(5, 2, 3), image))
    assert torch.isfinite(out['image']).all()
    assert out['valid'].tolist() == [[False, True, False], [True, False, False]]
