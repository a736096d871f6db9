"""Tests of the scene manifest's JSON form, without generating a scene."""

import json
from pathlib import Path

import pytest

from torchgeo_lsr.datasets import scene
from torchgeo_lsr.datasets.scene_manifest import SCENE_VERSION, SceneManifest, SceneTile


def manifest(root: Path) -> SceneManifest:
    tile = SceneTile(
        index=0,
        naip='naip/tile_0.tif',
        lc='lc/tile_0.tif',
        nlcd='nlcd/tile_0.tif',
        bounds=(0.0, -64.0, 64.0, 0.0),
        nlcd_bounds=(0.0, -90.0, 90.0, 0.0),
    )
    return SceneManifest(
        root=root,
        seed=1,
        size=64,
        tiles=(tile,),
        crs='EPSG:32617',
        resolution=1.0,
        coarse_resolution=30.0,
        label_noise=0.02,
        changed_cells=0.0,
        schemes={'fine': 'enviroatlas', 'coarse': 'nlcd'},
        vectors={'roads': 'roads.gpkg'},
        vector_shifts={'roads': (1.5, -2.0)},
        class_fractions={'fine': {'70': 1.0}, 'coarse': {'71': 1.0}},
        calibration={'prior_sigma': 31},
    )


def test_round_trip_through_json(tmp_path: Path) -> None:
    written = manifest(tmp_path)
    (tmp_path / 'manifest.json').write_text(json.dumps(written.to_dict()))
    assert SceneManifest.load(tmp_path) == written
    assert SceneManifest.load(tmp_path / 'manifest.json') == written
    assert written.version == SCENE_VERSION
    assert written.naip_paths == [tmp_path / 'naip/tile_0.tif']
    assert written.vector_path('roads') == tmp_path / 'roads.gpkg'
    with pytest.raises(KeyError, match=r"no vector layer 'rails'.*\['roads'\]"):
        written.vector_path('rails')


def test_malformed_manifest(tmp_path: Path) -> None:
    data = manifest(tmp_path).to_dict()
    del data['files']['tiles'][0]['nlcd_bounds']
    with pytest.raises(ValueError, match='malformed scene manifest'):
        SceneManifest.from_dict(data, tmp_path)


def test_scene_re_exports_the_manifest() -> None:
    assert scene.SceneManifest is SceneManifest
    assert scene.SceneTile is SceneTile
    assert scene.SCENE_VERSION == SCENE_VERSION
