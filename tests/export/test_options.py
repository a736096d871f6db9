from pathlib import Path

import pytest

from torchgeo_lsr.export import PRODUCTS, ExportOptions, output_paths


def test_bad_options() -> None:
    with pytest.raises(ValueError, match='unknown products'):
        ExportOptions(products=('logits',))
    with pytest.raises(ValueError, match='map_source'):
        ExportOptions(map_source='p')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='probability_dtype'):
        ExportOptions(probability_dtype='int16')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='at least 16 px'):
        ExportOptions(window=8)


def test_r_pass_only_when_r_is_wanted() -> None:
    assert ExportOptions().needs_r
    assert not ExportOptions(map_source='q').needs_r
    assert ExportOptions(map_source='q', products=('r',)).needs_r


def test_output_paths(tmp_path: Path) -> None:
    folder = output_paths(tmp_path, 'in/tile_3.tif', True, PRODUCTS)
    assert folder['map'] == tmp_path / 'tile_3.tif'
    assert folder['entropy'] == tmp_path / 'tile_3_entropy.tif'
    assert list(folder) == ['map', *PRODUCTS]
    single = output_paths(tmp_path / 'out.tif', 'in/tile_3.tif', False, ('q',))
    assert single == {'map': tmp_path / 'out.tif', 'q': tmp_path / 'out_q.tif'}
