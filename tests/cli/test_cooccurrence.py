from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TinyScene
from tests.rasters import write_geotiff
from torchgeo_lsr.cli import build_parser, main
from torchgeo_lsr.priors import estimate_cooccurrence, load_cooccurrence


def test_cooccurrence_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nlcd = rng.choice([11, 21, 41, 81, 0], size=(6, 6)).astype(np.uint8)
    labels = rng.choice([10, 20, 40, 70, 0], size=(18, 18)).astype(np.uint8)
    coarse = write_geotiff(tmp_path / 'nlcd.tif', nlcd, res=3.0)
    fine = write_geotiff(tmp_path / 'lc.tif', labels)
    out = tmp_path / 'm.csv'
    args = ['cooccurrence', '--coarse', str(coarse), '--fine', str(fine)]
    assert main([*args, '--out', str(out)]) == 0
    matrix = load_cooccurrence(out, 'enviroatlas')
    expected = estimate_cooccurrence([(coarse, fine)], 'nlcd', 'enviroatlas')
    np.testing.assert_allclose(matrix.matrix, expected.matrix)
    assert matrix.coarse_codes == expected.coarse_codes


def test_cooccurrence_pairs_coarse_and_fine_rasters(
    tiny_scene: TinyScene, capsys: pytest.CaptureFixture[str]
) -> None:
    coarse = sorted(tiny_scene.nlcd.glob('*.tif'))
    fine = sorted(tiny_scene.lc.glob('*.tif'))
    out = tiny_scene.root / 'paired.csv'
    args = ['cooccurrence', '--coarse', *map(str, coarse), '--fine', *map(str, fine)]
    assert main([*args, '--out', str(out)]) == 0
    np.testing.assert_allclose(
        load_cooccurrence(out, 'enviroatlas').matrix,
        load_cooccurrence(tiny_scene.cooccurrence, 'enviroatlas').matrix,
    )
    with pytest.raises(SystemExit) as exit_info:
        main([*args[: -len(fine)], str(fine[0]), '--out', str(out)])
    # A clean error naming the mismatch (this run used to stop at the missing --out).
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        'torchgeo-lsr cooccurrence: error: give one coarse raster for all fine '
        f'rasters, or one per fine raster (got {len(coarse)} coarse and 1 fine)'
    )


@pytest.mark.parametrize(
    'spelling',
    [
        ['--coarse_scheme', 'a.yaml', '--fine_scheme', 'b.yaml', '--block_size', '64'],
        ['--coarse-scheme', 'a.yaml', '--fine-scheme', 'b.yaml', '--window-size', '64'],
        ['--coarse_scheme', 'a.yaml', '--fine-scheme', 'b.yaml', '--window_size', '64'],
        ['--coarse-scheme', 'a.yaml', '--fine_scheme', 'b.yaml', '--block-size', '64'],
    ],
)
def test_snake_and_kebab_case_spellings_agree(spelling: list[str]) -> None:
    common = ['cooccurrence', '--coarse', 'c.tif', '--fine', 'f.tif', '--out', 'm.csv']
    args = build_parser().parse_args([*common, *spelling])
    assert (args.coarse_scheme, args.fine_scheme, args.block_size) == (
        'a.yaml',
        'b.yaml',
        64,
    )
    defaults = build_parser().parse_args(common)
    assert (defaults.coarse_scheme, defaults.fine_scheme) == ('nlcd', 'enviroatlas')
    assert defaults.block_size == 2048
