"""Mixed precision: fit, test and export under bf16 autocast agree with float32."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.conftest import TinyScene
from tests.test_lightning import scene_args
from torchgeo_lsr.cli import main


def run(args: list[str], root: Path) -> tuple[dict[str, float], np.ndarray]:
    """Fit, test and export; the test scores and the exported r of tile 0."""
    main(['fit', *args, '--trainer.max_steps', '6', '--trainer.limit_val_batches', '0'])
    checkpoint = str(next(root.rglob('last.ckpt')))
    results = root / 'results.json'
    main(['test', *args, '--ckpt_path', checkpoint, '--results', str(results)])
    out = root / 'maps'
    main(
        [
            'predict',
            *args,
            '--ckpt_path',
            checkpoint,
            '--out',
            str(out),
            '--products',
            '[r]',
        ]
    )
    with rasterio.open(next(out.glob('*_r.tif'))) as src:
        r = src.read()
    return json.loads(results.read_text())['r'], r


@pytest.mark.slow
def test_bf16_mixed_agrees_with_float32(tiny_scene: TinyScene, tmp_path: Path) -> None:
    outputs = {}
    for precision in ('32-true', 'bf16-mixed'):
        root = tmp_path / precision
        args = scene_args(tiny_scene, root)
        # Without auxiliary layers: priors built on the batch's device.
        for layer in ('buildings', 'roads', 'waterways', 'waterbodies'):
            args += [f'--data.init_args.{layer}_paths', 'null']
        outputs[precision] = run([*args, '--trainer.precision', precision], root)
    (full, full_r), (half, half_r) = outputs['32-true'], outputs['bf16-mixed']
    # The r maps are probabilities scaled to uint8 in both runs.
    assert half_r.dtype == full_r.dtype == np.uint8
    # bf16 keeps 8 bits of mantissa: the maps agree closely, not exactly.
    agree = (half_r.argmax(0) == full_r.argmax(0)).mean()
    assert agree > 0.95
    assert np.abs(half_r.astype(int) - full_r.astype(int)).max() <= 26  # 0.1
    assert abs(half['accuracy'] - full['accuracy']) < 0.03
