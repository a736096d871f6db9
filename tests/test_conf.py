"""The example configuration files under conf/ stay valid."""

from pathlib import Path

import pytest

from tests.conftest import TinyScene
from torchgeo_lsr.priors import load_rules
from torchgeo_lsr.schemes import SCHEMES, get_scheme

CONF = Path(__file__).parents[1] / 'conf'


@pytest.mark.parametrize('path', sorted((CONF / 'schemes').glob('*.yaml')), ids=str)
def test_schemes_load(path: Path) -> None:
    scheme = get_scheme(path)
    assert scheme.num_classes > 0


@pytest.mark.parametrize('path', sorted((CONF / 'priors').glob('*rules.yaml')), ids=str)
def test_rules_resolve_in_their_scheme(path: Path) -> None:
    rules = load_rules(path)
    scheme = SCHEMES[path.name.split('-')[0]]
    for rule in rules.rules:
        scheme.resolve(rule.target)


# ----------------------------------------------------------- paper experiments

PAPER_CONFIGS = sorted(
    [*CONF.glob('enviroatlas_*.yaml'), *CONF.glob('chesapeake_*.yaml')]
)


def _generator() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        'generate_paper_configs', CONF / 'generate_paper_configs.py'
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paper_configs_are_the_generators_output() -> None:
    generated = _generator().configs()  # type: ignore[attr-defined]
    assert sorted(generated) == [p.name for p in PAPER_CONFIGS]
    for path in PAPER_CONFIGS:
        assert path.read_text() == generated[path.name], (
            f'{path.name} differs from conf/generate_paper_configs.py: run it'
        )
    # One file per experiment of the paper (REFERENCE §2.8, §2.10).
    for city in ('pittsburgh', 'durham', 'austin', 'phoenix'):
        for variant in (
            'hr',
            'hr_aux',
            'qr',
            'qr_pretrained',
            'learn_prior',
            'qr_learned',
        ):
            assert f'enviroatlas_{city}_{variant}.yaml' in generated
    for state in ('ny', 'pa', 'nypa', 'de'):
        for loss in ('qr', 'rq'):
            assert f'chesapeake_{state}_{loss}.yaml' in generated


@pytest.mark.parametrize('path', PAPER_CONFIGS, ids=lambda p: p.stem)
def test_paper_config_names_real_arguments_and_its_number(path: Path) -> None:
    import inspect

    import yaml

    import torchgeo_lsr.datamodules
    import torchgeo_lsr.tasks

    text = path.read_text()
    config = yaml.safe_load(text)
    for section, package in (
        ('model', torchgeo_lsr.tasks),
        ('data', torchgeo_lsr.datamodules),
    ):
        cls = getattr(package, config[section]['class_path'])
        parameters = inspect.signature(cls.__init__).parameters
        unknown = set(config[section]['init_args']) - set(parameters)
        assert not unknown, f'{path.name}: {cls.__name__} has no {sorted(unknown)}'
    assert config['data']['init_args']['root'] == 'data'
    assert config['seed_everything'] == 1337
    assert config['trainer']['max_epochs'] == 200
    if '_learn_prior' in path.name or '_de_' in path.name:
        assert 'No table number' in text
    else:
        assert 'Paper (UAI Table' in text


#: Most pixels an evaluation batch may push through the network at once: a paper
#: training batch, 128 x (128 + 2 x 5)^2 px (an evaluation batch, without
#: gradients, then needs less memory than training). 128 x 522^2 px would be
#: about 36 GB of FCN activations and 2 GB per loader batch in shared memory.
EVAL_PIXEL_BUDGET = 128 * 138**2

GEO_CONFIGS = [*PAPER_CONFIGS, CONF / 'naip_nlcd.yaml', CONF / 'synthetic.yaml']


@pytest.mark.parametrize('path', GEO_CONFIGS, ids=lambda p: p.stem)
def test_evaluation_batches_fit_the_memory_budget(path: Path) -> None:
    """Issue 16 item 4: no config's evaluation batch exceeds EVAL_PIXEL_BUDGET.

    Before, validation and test batches were batch_size (128) patches of
    eval_patch_size + 2 * context = 522 px. Pixels per batch = batch x (patch
    side + 2 x context)^2, for the test / prediction grid (eval_patch_size) and
    the validation grid (val_patch_size). The paper configs also validate on
    the paper's 128 px centre crops of 512 / 384 px cells (REFERENCE §2.7).
    """
    import inspect

    import yaml

    import torchgeo_lsr.datamodules

    config = yaml.safe_load(path.read_text())
    args = config['data']['init_args']
    cls = getattr(torchgeo_lsr.datamodules, config['data']['class_path'])
    defaults = {
        name: p.default
        for name, p in inspect.signature(
            torchgeo_lsr.datamodules.LSRDataModule.__init__
        ).parameters.items()
    }
    defaults.update(
        (name, p.default)
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    )

    def arg(name: str) -> int:
        value = args.get(name, defaults[name])
        return int(value) if value is not None else 0

    batch = arg('eval_batch_size') or arg('batch_size')
    test_side = arg('eval_patch_size') or arg('patch_size')
    val_side = arg('val_patch_size') or test_side
    context = arg('context')
    for what, side in (('test', test_side), ('validation', val_side)):
        pixels = batch * (side + 2 * context) ** 2
        assert pixels <= EVAL_PIXEL_BUDGET, (
            f'{path.name}: {what} batches of {batch} x {side + 2 * context}^2 = '
            f'{pixels} px exceed the budget of {EVAL_PIXEL_BUDGET} px'
        )
    if path in PAPER_CONFIGS:
        assert args['val_patch_size'] == args['patch_size'] == 128
        sampled_box = 512 if 'chesapeake' in path.name else 384
        assert args['val_stride'] == sampled_box


def _small(root: Path, out: Path, sigma: bool = False) -> list[str]:
    args = {
        'data.init_args.root': root,
        'data.init_args.batch_size': 2,
        'data.init_args.patch_size': 32,
        'data.init_args.eval_patch_size': 64,
        'data.init_args.val_patch_size': 32,
        'data.init_args.val_stride': 64,
        'data.init_args.length': 4,
        'data.init_args.num_workers': 0,
        'model.init_args.num_filters': 4,
        'trainer.max_epochs': 1,
        'trainer.min_epochs': 1,
        'trainer.enable_progress_bar': 'false',
        'trainer.default_root_dir': out,
    }
    if sigma:
        args['data.init_args.prior_sigma'] = 5
        args['data.init_args.prior_kernel_size'] = 21
    return [item for key, value in args.items() for item in (f'--{key}', str(value))]


def _fit_test(config: str, extra: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from torchgeo_lsr.cli import main

    path = str(CONF / f'{config}.yaml')
    main(['fit', '--config', path, *extra])
    ckpt = Path('outputs') / config / 'checkpoints' / 'last.ckpt'
    assert ckpt.is_file()
    capsys.readouterr()
    main(['test', '--config', path, *extra, '--ckpt_path', str(ckpt)])
    table: str = capsys.readouterr().out
    assert 'prior argmax' in table
    return table


@pytest.mark.parametrize('config', ['chesapeake_nypa_qr', 'chesapeake_pa_rq'])
def test_chesapeake_configs_fit_and_test(
    config: str,
    chesapeake_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    table = _fit_test(config, _small(chesapeake_root, tmp_path, sigma=True), capsys)
    assert f'{config.rsplit("_")[-1].upper()} (r)' in table
    assert 'Tree Canop' in table


def test_enviroatlas_config_family_fit_and_test(
    enviroatlas_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The EnviroAtlas chain: HR, HR + aux, QR, learned prior, QR on it.

    HR in Pittsburgh, the learned prior of Durham written as rasters, QR on it from
    the HR checkpoint; plus QR from scratch.
    """
    from torchgeo_lsr.cli import main

    monkeypatch.chdir(tmp_path)
    small = _small(enviroatlas_root, tmp_path)
    assert 'HR (q)' in _fit_test('enviroatlas_pittsburgh_hr', small, capsys)
    assert 'HR + aux (r)' in _fit_test('enviroatlas_durham_hr_aux', small, capsys)
    assert 'QR (q)' in _fit_test('enviroatlas_durham_qr', small, capsys)
    assert 'RQ (r)' in _fit_test('enviroatlas_durham_rq_pretrained', small, capsys)
    _fit_test('enviroatlas_durham_learn_prior', small, capsys)
    learned = Path('outputs/enviroatlas_durham_learn_prior/learned_prior')
    main(
        [
            'predict',
            '--config',
            str(CONF / 'enviroatlas_durham_learn_prior.yaml'),
            *small,
            '--ckpt_path',
            'outputs/enviroatlas_durham_learn_prior/checkpoints/last.ckpt',
            '--out',
            str(learned),
            '--products',
            '[q]',
            '--map_source',
            'q',
        ]
    )
    (prior,) = learned.glob('*_q.tif')
    import rasterio

    with rasterio.open(prior) as src:
        assert src.count == 5
    # Named by its imagery tile, a probability per class (uint8 = 255 p).
    assert prior.name.endswith('_a_naip_q.tif')
    table = _fit_test('enviroatlas_durham_qr_learned', small, capsys)
    assert 'QR (r)' in table


def test_naip_nlcd_config_fit_and_test(
    tiny_scene: TinyScene,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    for i in range(tiny_scene.tiles):
        (tmp_path / 'data' / 'naip').mkdir(parents=True, exist_ok=True)
        shutil.copy(
            tiny_scene.naip / f'tile_{i}.tif',
            tmp_path / 'data' / 'naip' / f'm_390{i}_ne_17_1.tif',
        )
    (tmp_path / 'data' / 'nlcd').mkdir()
    shutil.copy(
        tiny_scene.nlcd / 'tile_0.tif',
        tmp_path / 'data' / 'nlcd' / 'Annual_NLCD_LndCov_2021_CU_C1V1.tif',
    )
    monkeypatch.chdir(tmp_path)
    small = _small(tmp_path, tmp_path, sigma=True)
    at = small.index('--data.init_args.root')
    del small[at : at + 2]  # NAIPNLCDDataModule takes paths, not a root
    vectors = [
        f'--data.init_args.{name}_paths={tiny_scene.vector(name)}'
        for name in ('roads', 'waterways', 'waterbodies')
    ]
    labels = ['--data.init_args.label_paths', str(tiny_scene.lc)]
    extra = [*small, '--data.init_args.osm', 'false', *vectors, *labels]
    table = _fit_test('naip_nlcd', extra, capsys)
    assert 'QR (r)' in table
