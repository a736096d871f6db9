"""Every bad input of the docs' table ends with one line naming it, and no partial file.

Each case below is a row of ``docs/user/bad_inputs.md`` (the page lists the case ids;
``test_the_docs_table_lists_every_case`` keeps the two in step). A case builds one bad
input on a tiny generated scene, runs ``torchgeo-lsr`` in this process, and checks:

* exit status 2, and the *last* line of standard error is
  ``torchgeo-lsr <command>: error: <message>`` with the message the case expects
  (the problem and the fix, naming the file by its role and full path);
* nothing new is left in the output folder (no partial or temporary file).

Signals and resumed exports need real processes: they are in
``tests/export/test_interrupted.py``.
"""

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from tests.conftest import TinyScene
from tests.test_lightning import scene_args
from torchgeo_lsr.cli import main

DOCS_TABLE = Path(__file__).parents[2] / 'docs' / 'user' / 'bad_inputs.md'


@dataclass(frozen=True)
class Case:
    """A bad input: how to make it, the command, and the last line expected.

    Attributes:
        id: the row's id in the docs table.
        command: the subcommand.
        make: builds the arguments in a work folder, given the scene, the folder
            and a trained checkpoint.
        expected: regular expression the message after ``error:`` must match.
    """

    id: str
    command: str
    make: Callable[[TinyScene, Path, Path], list[str]]
    expected: str


def _copy(path: Path, work: Path, name: str | None = None) -> Path:
    target = work / 'inputs' / (name or path.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, target)
    return target


def _rewrite(source: Path, target: Path, **changes: object) -> Path:
    """Copy a raster with some of its profile or data changed."""
    with rasterio.open(source) as src:
        profile, data = src.profile, src.read()
    data = changes.pop('data', data)  # type: ignore[assignment]
    assert isinstance(data, np.ndarray)
    profile.update(count=data.shape[0], dtype=data.dtype, **changes)
    target.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(target, 'w', **profile) as dst:
        dst.write(data)
    return target


def _nlcd(scene: TinyScene) -> Path:
    return min(scene.nlcd.glob('*.tif'))


def _lc(scene: TinyScene) -> Path:
    return min(scene.lc.glob('*.tif'))


def _naip(scene: TinyScene) -> Path:
    return min(scene.naip.glob('*.tif'))


# ----------------------------------------------------------------- bad files


def _missing(work: Path) -> Path:
    return work / 'inputs' / 'missing.tif'


def _empty(work: Path) -> Path:
    path = work / 'inputs' / 'empty.tif'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'')
    return path


def _text(work: Path) -> Path:
    path = work / 'inputs' / 'notes.tif'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('not a raster, renamed to .tif\n')
    return path


def _truncated(source: Path, work: Path) -> Path:
    data = source.read_bytes()
    path = work / 'inputs' / f'cut_{source.name}'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) * 3 // 4])
    return path


def _cut_head(source: Path, work: Path) -> Path:
    """The first 2,000 bytes only: GDAL cannot even read the directory."""
    path = work / 'inputs' / f'head_{source.name}'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source.read_bytes()[:2000])
    return path


def _prior(scene: TinyScene, coarse: Path, work: Path, *extra: str) -> list[str]:
    out = work / 'out' / 'prior.tif'
    return [
        '--coarse',
        str(coarse),
        '--cooccurrence',
        str(scene.cooccurrence),
        '--sigma',
        '3',
        '--kernel_size',
        '9',
        '--out',
        str(out),
        *extra,
    ]


def _csv(scene: TinyScene, work: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    lines = scene.cooccurrence.read_text().splitlines()
    path = work / 'inputs' / 'matrix.csv'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(edit(lines)) + '\n')
    return path


def _negative(lines: list[str]) -> list[str]:
    cells = lines[1].split(',')
    cells[2] = '-0.5'
    return [lines[0], ','.join(cells), *lines[2:]]


def _unnormalised(lines: list[str]) -> list[str]:
    cells = lines[1].split(',')
    cells[2] = str(float(cells[2]) + 0.5)
    return [lines[0], ','.join(cells), *lines[2:]]


def _with_matrix(scene: TinyScene, work: Path, matrix: Path) -> list[str]:
    args = _prior(scene, _nlcd(scene), work)
    args[args.index('--cooccurrence') + 1] = str(matrix)
    return args


def _unknown_codes(scene: TinyScene, work: Path) -> Path:
    with rasterio.open(_nlcd(scene)) as src:
        data = src.read()
    data[0, 0, 0], data[0, -1, -1] = 99, 250
    return _rewrite(_nlcd(scene), work / 'inputs' / 'nlcd_codes.tif', data=data)


def _shifted(source: Path, work: Path) -> Path:
    with rasterio.open(source) as src:
        transform = src.transform
    moved = rasterio.Affine(
        transform.a, 0, transform.c + 1e6, 0, transform.e, transform.f
    )
    return _rewrite(source, work / 'inputs' / f'far_{source.name}', transform=moved)


def _no_crs(source: Path, work: Path) -> Path:
    with rasterio.open(source) as src:
        profile, data = src.profile, src.read()
    profile['crs'] = None
    target = work / 'inputs' / f'nocrs_{source.name}'
    target.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(target, 'w', **profile) as dst:
        dst.write(data)
    return target


# --------------------------------------------------------- evaluate's inputs


def _evaluate(pred: Path, labels: Path, *extra: str) -> list[str]:
    return ['--pred', str(pred), '--labels', str(labels), *extra]


def _index_map(scene: TinyScene, work: Path) -> Path:
    """A class map of the first tile: the labels as class indices."""
    with rasterio.open(_lc(scene)) as src:
        codes = src.read(1)
    indices = np.searchsorted(np.array([10, 20, 30, 40, 70]), codes).clip(0, 4)
    return _rewrite(
        _lc(scene), work / 'inputs' / 'map.tif', data=indices[None].astype(np.uint8)
    )


def _labels_as_indices(scene: TinyScene, work: Path) -> Path:
    """Labels written as class indices 0..4 instead of EnviroAtlas codes."""
    with rasterio.open(_index_map(scene, work)) as src:
        data = src.read()
    return _rewrite(_lc(scene), work / 'inputs' / 'labels_indices.tif', data=data)


def _map_with_code(scene: TinyScene, work: Path, code: int) -> Path:
    """The labels as a map in EnviroAtlas codes, with one pixel of ``code``."""
    with rasterio.open(_lc(scene)) as src:
        data = src.read()
    data[0, 0, 0] = code
    return _rewrite(_lc(scene), work / 'inputs' / 'codes_map.tif', data=data)


def _a_file(work: Path) -> Path:
    path = work / 'inputs' / 'a_file'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('a file, not a folder')
    return path


def _float_map(scene: TinyScene, work: Path) -> Path:
    with rasterio.open(_lc(scene)) as src:
        data = src.read().astype(np.float32) / 100
    return _rewrite(_lc(scene), work / 'inputs' / 'float_map.tif', data=data)


# ------------------------------------------------------ fit / test / predict


def _fit(scene: TinyScene, work: Path, *extra: str) -> list[str]:
    return [
        *scene_args(scene, work / 'run'),
        '--trainer.max_steps',
        '2',
        '--trainer.limit_val_batches',
        '1',
        *extra,
    ]


def _data(key: str, value: object) -> list[str]:
    return [f'--data.init_args.{key}', str(value)]


def _imagery_folder(scene: TinyScene, work: Path, bad: Callable[[Path], Path]) -> Path:
    """The scene's imagery with one file replaced by a bad one."""
    folder = work / 'inputs' / 'naip'
    shutil.copytree(scene.naip, folder)
    first = min(folder.glob('*.tif'))
    first.unlink()
    shutil.move(bad(work), first)
    return first


def _zero_imagery(scene: TinyScene, work: Path) -> Path:
    """The scene's imagery, every pixel 0 (the default image_nodata)."""
    folder = work / 'inputs' / 'naip_zeros'
    for path in sorted(scene.naip.glob('*.tif')):
        with rasterio.open(path) as src:
            zeros = np.zeros((src.count, src.height, src.width), src.dtypes[0])
        _rewrite(path, folder / path.name, data=zeros)
    return folder


def _three_bands(scene: TinyScene, work: Path) -> Path:
    """The scene's imagery without its near-infrared band (RGB only)."""
    folder = work / 'inputs' / 'naip_rgb'
    for path in sorted(scene.naip.glob('*.tif')):
        with rasterio.open(path) as src:
            rgb = src.read([1, 2, 3])
        _rewrite(path, folder / path.name, data=rgb)
    return folder


def _coarse_folder(scene: TinyScene, work: Path) -> Path:
    folder = work / 'inputs' / 'nlcd'
    shutil.copytree(scene.nlcd, folder)
    shutil.move(_unknown_codes(scene, work), min(folder.glob('*.tif')))
    return folder


def _bad_checkpoint(work: Path, content: bytes) -> Path:
    path = work / 'inputs' / 'model.ckpt'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _edited_checkpoint(
    checkpoint: Path, work: Path, edit: Callable[[dict[str, object]], None]
) -> Path:
    loaded = torch.load(checkpoint, map_location='cpu', weights_only=False)
    edit(loaded)
    path = work / 'inputs' / 'edited.ckpt'
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(loaded, path)
    return path


def _nan_weights(checkpoint: dict[str, object]) -> None:
    state = checkpoint['state_dict']
    assert isinstance(state, dict)
    for value in state.values():
        if value.is_floating_point():
            value.fill_(float('nan'))


def _six_classes(checkpoint: dict[str, object]) -> None:
    hparams = checkpoint['hyper_parameters']
    assert isinstance(hparams, dict)
    hparams['num_classes'] = 6


def _run(scene: TinyScene, work: Path, ckpt: Path, *extra: str) -> list[str]:
    return [*scene_args(scene, work / 'run'), '--ckpt_path', str(ckpt), *extra]


CASES = [
    # prior
    Case(
        'prior-missing-file',
        'prior',
        lambda s, w, c: _prior(s, _missing(w), w),
        r'coarse raster \(--coarse\) /\S+/missing\.tif does not exist',
    ),
    Case(
        'prior-empty-file',
        'prior',
        lambda s, w, c: _prior(s, _empty(w), w),
        r'coarse raster \(--coarse\) /\S+/empty\.tif is empty \(0 bytes\): give a '
        'GeoTIFF',
    ),
    Case(
        'prior-text-as-tif',
        'prior',
        lambda s, w, c: _prior(s, _text(w), w),
        r'coarse raster \(--coarse\) /\S+/notes\.tif is not a raster GDAL can read',
    ),
    Case(
        'prior-truncated',
        'prior',
        lambda s, w, c: _prior(s, _truncated(_nlcd(s), w), w),
        r'coarse raster \(--coarse\) /\S+/cut_tile_0\.tif is cut short \(\d[\d,]* '
        'bytes of its data are missing',
    ),
    Case(
        'prior-no-crs',
        'prior',
        lambda s, w, c: _prior(s, _no_crs(_nlcd(s), w), w),
        r'/\S+/nocrs_tile_0\.tif has no CRS: assign the CRS its coordinates are in',
    ),
    Case(
        'prior-no-crs-with-like',
        'prior',
        lambda s, w, c: _prior(s, _no_crs(_nlcd(s), w), w, '--like', str(_naip(s))),
        r'coarse raster /\S+/nocrs_tile_0\.tif has no CRS: assign the CRS',
    ),
    Case(
        'prior-no-overlap',
        'prior',
        lambda s, w, c: _prior(s, _nlcd(s), w, '--like', str(_shifted(_naip(s), w))),
        r'coarse raster .*tile_0\.tif does not overlap',
    ),
    Case(
        'prior-unknown-codes',
        'prior',
        lambda s, w, c: _prior(s, _unknown_codes(s, w), w),
        r'coarse codes \[99, 250\] are not columns of the co-occurrence matrix',
    ),
    Case(
        'prior-missing-matrix',
        'prior',
        lambda s, w, c: _with_matrix(s, w, w / 'inputs' / 'none.csv'),
        r"no co-occurrence matrix '/\S+/none\.csv'",
    ),
    Case(
        'prior-matrix-short-row',
        'prior',
        lambda s, w, c: _with_matrix(
            s, w, _csv(s, w, lambda ls: [ls[0], ls[1].rsplit(',', 1)[0], *ls[2:]])
        ),
        r'/\S+/matrix\.csv: row 2 has \d+ cells, the header \d+',
    ),
    Case(
        'prior-matrix-negative',
        'prior',
        lambda s, w, c: _with_matrix(s, w, _csv(s, w, _negative)),
        r'/\S+/matrix\.csv: co-occurrence values must be finite and non-negative',
    ),
    Case(
        'prior-matrix-not-normalised',
        'prior',
        lambda s, w, c: _with_matrix(s, w, _csv(s, w, _unnormalised)),
        r'/\S+/matrix\.csv: co-occurrence columns for coarse codes \[\d+\] sum to '
        'neither 1 nor 0',
    ),
    Case(
        'prior-out-is-a-folder',
        'prior',
        lambda s, w, c: [*_prior(s, _nlcd(s), w)[:-2], '--out', str(w / 'out')],
        r'output prior file /\S+/out is a folder: give the path of the file',
    ),
    Case(
        'prior-out-under-a-file',
        'prior',
        lambda s, w, c: [
            *_prior(s, _nlcd(s), w)[:-2],
            '--out',
            str(_a_file(w) / 'prior.tif'),
        ],
        r'/\S+/a_file/prior\.tif: /\S+/a_file is a file, so no folder can be made',
    ),
    # cooccurrence
    Case(
        'cooccurrence-fine-missing',
        'cooccurrence',
        lambda s, w, c: [
            '--coarse',
            str(_nlcd(s)),
            '--fine',
            str(_missing(w)),
            '--out',
            str(w / 'out' / 'm.csv'),
        ],
        r'fine label raster \(--fine\) /\S+/missing\.tif does not exist',
    ),
    Case(
        'cooccurrence-fine-other-scheme',
        'cooccurrence',
        lambda s, w, c: [
            '--coarse',
            str(_nlcd(s)),
            '--fine',
            str(_labels_as_indices(s, w)),
            '--out',
            str(w / 'out' / 'm.csv'),
        ],
        r"fine labels hold codes \[1, 2, 3, 4\] that scheme 'enviroatlas' does not "
        'define',
    ),
    Case(
        'cooccurrence-imagery-as-fine',
        'cooccurrence',
        lambda s, w, c: [
            '--coarse',
            str(_nlcd(s)),
            '--fine',
            str(_naip(s)),
            '--out',
            str(w / 'out' / 'm.csv'),
        ],
        r'fine label raster \(--fine\) /\S+/tile_0\.tif has 4 bands, a class raster '
        'has one',
    ),
    Case(
        'cooccurrence-out-is-a-folder',
        'cooccurrence',
        lambda s, w, c: [
            '--coarse',
            str(_nlcd(s)),
            '--fine',
            str(_lc(s)),
            '--out',
            str(w / 'out'),
        ],
        r'--out /\S+/out is a folder: give the path of the file to write',
    ),
    # evaluate
    Case(
        'evaluate-imagery-as-labels',
        'evaluate',
        lambda s, w, c: _evaluate(
            _index_map(s, w), _naip(s), '--scheme', 'enviroatlas'
        ),
        r'label raster \(--labels\) /\S+/tile_0\.tif has 4 bands, a class raster has '
        'one',
    ),
    Case(
        'evaluate-float-map',
        'evaluate',
        lambda s, w, c: _evaluate(_float_map(s, w), _lc(s), '--scheme', 'enviroatlas'),
        r'map raster \(--pred\) /\S+/float_map\.tif holds float32 values, a class '
        'raster holds integer codes',
    ),
    Case(
        'evaluate-labels-other-scheme',
        'evaluate',
        lambda s, w, c: _evaluate(
            _index_map(s, w), _labels_as_indices(s, w), '--scheme', 'enviroatlas'
        ),
        r'label raster /\S+/labels_indices\.tif: codes \[[\d, ]+\] are unknown to the '
        "scheme 'enviroatlas'",
    ),
    Case(
        'evaluate-map-unknown-codes',
        'evaluate',
        lambda s, w, c: _evaluate(
            _map_with_code(s, w, 99),
            _lc(s),
            '--scheme',
            'enviroatlas',
            '--map_scheme',
            'enviroatlas',
        ),
        r'map raster /\S+/codes_map\.tif: codes \[99\] are unknown to the scheme '
        "'enviroatlas'",
    ),
    Case(
        'evaluate-labels-no-crs',
        'evaluate',
        lambda s, w, c: _evaluate(
            _index_map(s, w), _no_crs(_lc(s), w), '--scheme', 'enviroatlas'
        ),
        r'label raster \(--labels\) /\S+/nocrs_tile_0\.tif has no CRS: assign the '
        'CRS',
    ),
    Case(
        'evaluate-no-overlap',
        'evaluate',
        lambda s, w, c: _evaluate(
            _shifted(_index_map(s, w), w), _lc(s), '--scheme', 'enviroatlas'
        ),
        r'the labels /\S+/tile_0\.tif do not overlap the map /\S+/far_map\.tif',
    ),
    Case(
        'evaluate-truncated-map',
        'evaluate',
        lambda s, w, c: _evaluate(
            _truncated(_index_map(s, w), w), _lc(s), '--scheme', 'enviroatlas'
        ),
        r'map raster \(--pred\) /\S+/cut_map\.tif (is cut short|is not a raster)',
    ),
    Case(
        'evaluate-results-is-a-folder',
        'evaluate',
        lambda s, w, c: _evaluate(
            _index_map(s, w),
            _lc(s),
            '--scheme',
            'enviroatlas',
            '--results',
            str(w / 'out'),
        ),
        r'--results /\S+/out is a folder',
    ),
    # fit
    Case(
        'fit-config-typo',
        'fit',
        lambda s, w, c: _fit(s, w, '--model.init_args.warmup_stepz', '3'),
        r"unknown key 'model\.init_args\.warmup_stepz'.*did you mean "
        r"'model\.init_args\.warmup_steps'\?",
    ),
    Case(
        'fit-config-wrong-type',
        'fit',
        lambda s, w, c: _fit(s, w, *_data('batch_size', 'abc')),
        r'data\.init_args\.batch_size: expected int',
    ),
    Case(
        'fit-imagery-missing',
        'fit',
        lambda s, w, c: _fit(s, w, *_data('image_paths', w / 'inputs' / 'none')),
        r'imagery',
    ),
    Case(
        'fit-imagery-text-as-tif',
        'fit',
        lambda s, w, c: _fit(
            s, w, *_data('image_paths', _imagery_folder(s, w, _text).parent)
        ),
        r'imagery /\S+/tile_0\.tif is not a raster GDAL can read',
    ),
    Case(
        'fit-imagery-empty-file',
        'fit',
        lambda s, w, c: _fit(
            s, w, *_data('image_paths', _imagery_folder(s, w, _empty).parent)
        ),
        r'imagery /\S+/tile_0\.tif is empty \(0 bytes\)',
    ),
    Case(
        'fit-imagery-truncated',
        'fit',
        lambda s, w, c: _fit(
            s,
            w,
            *_data(
                'image_paths',
                _imagery_folder(s, w, lambda w: _cut_head(_naip(s), w)).parent,
            ),
        ),
        r'imagery /\S+/tile_0\.tif is cut short \(\d[\d,]* bytes',
    ),
    Case(
        'fit-imagery-no-crs',
        'fit',
        lambda s, w, c: _fit(
            s,
            w,
            *_data(
                'image_paths',
                _imagery_folder(s, w, lambda w: _no_crs(_naip(s), w)).parent,
            ),
        ),
        r'/\S+/tile_0\.tif \(imagery\) has no CRS',
    ),
    Case(
        'fit-coarse-unknown-codes',
        'fit',
        lambda s, w, c: _fit(s, w, *_data('coarse_paths', _coarse_folder(s, w))),
        r'coarse raster /\S+/tile_0\.tif: coarse codes \[99(, 250)?\] are not columns',
    ),
    Case(
        'fit-patch-larger-than-tiles',
        'fit',
        lambda s, w, c: _fit(s, w, *_data('patch_size', 512)),
        r'patch_size 512 is larger than every training tile',
    ),
    Case(
        'fit-all-nodata-imagery',
        'fit',
        lambda s, w, c: _fit(s, w, *_data('image_paths', _zero_imagery(s, w))),
        r'no valid pixel',
    ),
    Case(
        'fit-imagery-band-count',
        'fit',
        lambda s, w, c: _fit(s, w, *_data('image_paths', _three_bands(s, w))),
        r'the imagery has 3 bands but the model has in_channels=4: set '
        r'--model\.init_args\.in_channels 3',
    ),
    Case(
        'fit-matrix-classes-vs-model',
        'fit',
        lambda s, w, c: _fit(s, w, '--model.init_args.num_classes', '4'),
        r'the data have 5 classes \(Water, .*\) but the model has num_classes=4',
    ),
    # test / predict
    Case(
        'test-corrupt-checkpoint',
        'test',
        lambda s, w, c: _run(s, w, _bad_checkpoint(w, bytes(range(256)) * 8)),
        r'--ckpt_path /\S+/model\.ckpt is not a readable checkpoint .*: it is '
        'corrupt or cut short',
    ),
    Case(
        'test-truncated-checkpoint',
        'test',
        lambda s, w, c: _run(s, w, _bad_checkpoint(w, c.read_bytes()[:2000])),
        r'--ckpt_path /\S+/model\.ckpt is not a readable checkpoint',
    ),
    Case(
        'test-empty-checkpoint',
        'test',
        lambda s, w, c: _run(s, w, _bad_checkpoint(w, b'')),
        r'--ckpt_path /\S+/model\.ckpt is empty \(0 bytes\)',
    ),
    Case(
        'test-nan-checkpoint',
        'test',
        lambda s, w, c: _run(s, w, _edited_checkpoint(c, w, _nan_weights)),
        r'--ckpt_path /\S+/edited\.ckpt holds NaN or infinite weights in \d+ of \d+ '
        'tensors',
    ),
    Case(
        'test-checkpoint-other-classes',
        'test',
        lambda s, w, c: _run(s, w, _edited_checkpoint(c, w, _six_classes)),
        r"was trained with num_classes=6 \(from the checkpoint's hyper-parameters\) "
        'but the config gives the model num_classes=5',
    ),
    Case(
        'test-results-is-a-folder',
        'test',
        lambda s, w, c: _run(s, w, c, '--results', str(w / 'out')),
        r'--results /\S+/out is a folder',
    ),
    Case(
        'predict-missing-checkpoint',
        'predict',
        lambda s, w, c: _run(s, w, w / 'none.ckpt', '--out', str(w / 'out' / 'maps')),
        r'--ckpt_path /\S+/none\.ckpt does not exist',
    ),
    Case(
        'predict-out-is-a-file',
        'predict',
        lambda s, w, c: _run(s, w, c, '--out', str(_text(w))),
        r'(cannot go to one file|is a file)',
    ),
    Case(
        'predict-out-under-a-file',
        'predict',
        lambda s, w, c: _run(s, w, c, '--out', str(_text(w) / 'maps')),
        r'is a file, so no folder can be made there',
    ),
    Case(
        'predict-unknown-product',
        'predict',
        lambda s, w, c: _run(
            s, w, c, '--out', str(w / 'out' / 'm'), '--products', '[qq]'
        ),
        r"unknown products \['qq'\]",
    ),
]


@pytest.fixture(scope='module')
def checkpoint(tiny_scene: TinyScene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of two training steps on the tiny scene."""
    root = tmp_path_factory.mktemp('bad_inputs_fit')
    main(
        [
            'fit',
            *scene_args(tiny_scene, root),
            '--trainer.max_steps',
            '2',
            '--trainer.limit_val_batches',
            '0',
        ]
    )
    return next(root.rglob('last.ckpt'))


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob('*') if p.is_file()} if folder.exists() else set()


@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
def test_bad_input_ends_with_one_line(
    case: Case,
    tiny_scene: TinyScene,
    checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / 'out').mkdir()
    args = case.make(tiny_scene, tmp_path, checkpoint)
    before = _files(tmp_path / 'out')
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main([case.command, *args])
    err = capsys.readouterr().err
    assert stop.value.code == 2, err[-2000:]
    last = err.rstrip('\n').splitlines()[-1]
    prefix = f'torchgeo-lsr {case.command}: error: '
    assert last.startswith(prefix), last
    assert re.search(case.expected, last[len(prefix) :]), last
    assert 'Traceback' not in err
    assert _files(tmp_path / 'out') == before  # nothing partial left


def test_the_docs_table_lists_every_case() -> None:
    """The docs' table names every case of this module, and no other."""
    text = DOCS_TABLE.read_text()
    listed = set(re.findall(r'^\| `([a-z0-9-]+)` \|', text, re.MULTILINE))
    tested = {case.id for case in CASES}
    assert listed >= tested, sorted(tested - listed)
