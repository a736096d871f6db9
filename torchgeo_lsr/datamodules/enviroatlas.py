"""EnviroAtlas (Pittsburgh, Durham, Austin, Phoenix) as TorchGeo distributes it.

The data set of the paper's generalisation experiments (REFERENCE §3.2), in the
on-disk layout of TorchGeo's :class:`~torchgeo.datasets.EnviroAtlas`:
``<root>/enviroatlas_lotp/spatial_index.geojson`` and one folder per split,
``<city>-<split>_tiles-debuffered/<tile>_<layer>.tif``, all layers at 1 m on the
NAIP tile's UTM grid.

Class handling: labels are EnviroAtlas MULC codes scored in the 5 task classes
(water, impervious, barren, trees, grass) with shrubs, agriculture, orchards,
wetlands and unclassified pixels ignored (scheme ``enviroatlas-eval``); priors and
the learned prior's targets count shrubs as trees (scheme ``enviroatlas``). NLCD is
stored as class indices 0..16 and read through a lookup into NLCD codes.

Priors: the data set's ``prior`` (hand-coded: NLCD + OSM roads, water and
buildings) or ``prior_no_osm_no_buildings`` layers, read as float probabilities
(normalised here; the task adds the paper's smoothing ε), or the same priors built
on the fly by :class:`~torchgeo_lsr.priors.PriorBuilder` from the ``nlcd``,
``buildings``, ``roads``, ``waterways`` and ``waterbodies`` layers with the
city's published co-occurrence matrix, or a learned prior (REFERENCE §2.5) written
by :class:`~torchgeo_lsr.tasks.PriorLearning`.

We index each stage's tiles with our raster datasets instead of sampling
TorchGeo's ``EnviroAtlas`` class: that class indexes in EPSG:3857 and crops each
read in the tile's CRS, so patch sizes vary and on-the-fly priors could not be
read with the margin that makes them equal the stored ones. Its names, splits and
download location are used as they are.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from torchgeo.datasets import EnviroAtlas

from ..schemes import SCHEMES
from .inputs import Paths, path_list
from .tile_index import TileIndex, TileIndexDataModule, split_names

__all__ = ('CITIES', 'NLCD_INDEX_CODES', 'EnviroAtlasLSRDataModule', 'EnviroAtlasPrior')

#: Short city names -> TorchGeo's city names.
CITIES = {name.split('_')[0]: name for name in EnviroAtlas.cities}

#: NLCD codes of the class indices 0..16 of EnviroAtlas's ``nlcd`` layer (0: none).
NLCD_INDEX_CODES = (0, *SCHEMES['nlcd'].codes)

#: Where the prior comes from: the data set's layers, or a learned prior.
EnviroAtlasPrior = Literal['prior', 'prior_no_osm_no_buildings', 'learned']

#: Our layer names -> the index's columns.
_AUX_LAYERS = {
    'buildings': 'buildings',
    'roads': 'roads',
    'waterways': 'waterways',
    'waterbodies': 'waterbodies',
}

_PRIOR_FILES = {
    'prior': 'prior_from_cooccurrences_101_31',
    'prior_no_osm_no_buildings': 'prior_from_cooccurrences_101_31_no_osm_no_buildings',
}


def resolve_city(city: str) -> str:
    """TorchGeo's name of a city (``'durham'`` or ``'durham_nc-2012_1m'``).

    Args:
        city: short or full city name.

    Returns:
        The full name.

    Raises:
        ValueError: If the city is not in the data set (lists the valid ones).
    """
    if city in CITIES.values():
        return city
    if city.lower() in CITIES:
        return CITIES[city.lower()]
    raise ValueError(
        f'EnviroAtlas has no city {city!r}; choose from {sorted(CITIES)} '
        f'(or {list(CITIES.values())})'
    )


class EnviroAtlasLSRDataModule(TileIndexDataModule):
    """LSR batches from EnviroAtlas, one city (or any splits of the four).

    The default is the paper's transductive protocol on a city's 10 test tiles:
    train, validate and test on ``<city>-test``, labels for metrics only.
    """

    aux_layers = _AUX_LAYERS

    def __init__(
        self,
        root: str = 'data',
        city: str = 'pittsburgh',
        train_split: str | Sequence[str] = 'test',
        val_split: str | Sequence[str] | None = None,
        test_split: str | Sequence[str] | None = None,
        predict_split: str | Sequence[str] | None = None,
        prior: EnviroAtlasPrior = 'prior',
        build_prior: bool = False,
        learned_prior_paths: Paths | None = None,
        learned_prior_glob: str = '*_q.tif',
        cooccurrence: str | None = None,
        prior_sigma: float = 31.0,
        prior_kernel_size: int = 101,
        label_scheme: str = 'enviroatlas-eval',
        inputs: Sequence[str] = ('imagery',),
        train_labels: bool = False,
        batch_size: int = 128,
        patch_size: int = 128,
        eval_patch_size: int | None = None,
        eval_batch_size: int | None = None,
        val_patch_size: int | None = None,
        val_stride: int | None = None,
        context: int = 5,
        length: int | None = None,
        num_workers: int = 0,
        download: bool = False,
    ) -> None:
        """Initialise the data module.

        Args:
            root: folder holding ``enviroatlas_lotp/`` (TorchGeo's ``root``).
            city: ``'pittsburgh'``, ``'durham'``, ``'austin'`` or ``'phoenix'``
                (or TorchGeo's full names); bare split names below are this
                city's.
            train_split: split(s) to train on: ``'test'``, ``'val5'``, ``'train'``,
                ``'val'`` (the last two exist for Pittsburgh only), or
                ``'<city>-<split>'`` for another city's.
            val_split: split(s) to validate on (default: the training splits).
            test_split: split(s) to test on (default: the training splits).
            predict_split: split(s) to predict (default: the test splits).
            prior: ``'prior'`` (hand-coded), ``'prior_no_osm_no_buildings'``
                (NLCD only) or ``'learned'`` (``learned_prior_paths``).
            build_prior: build ``prior`` / ``prior_no_osm_no_buildings`` on the fly
                from the NLCD and auxiliary layers instead of reading the stored
                layer.
            learned_prior_paths: learned-prior rasters (files or folders, e.g. a
                ``predict --out`` folder of the prior-learning task).
            learned_prior_glob: pattern of the learned-prior files.
            cooccurrence: matrix for on-the-fly priors (default: the city's
                bundled ``enviroatlas-<city>`` matrix).
            prior_sigma: blur sigma in pixels (paper: 31).
            prior_kernel_size: blur kernel size in pixels (paper: 101).
            label_scheme: scheme scoring the labels (``'enviroatlas-eval'``:
                shrubs ignored; ``'enviroatlas'``: shrubs are trees, the learned
                prior's targets).
            inputs: the network's input channels (see
                :class:`~torchgeo_lsr.datamodules.LSRDataModule`); the learned
                prior network uses ``['prior', 'buildings', 'roads', 'waterbodies',
                'waterways']`` with ``prior='prior_no_osm_no_buildings'``.
            train_labels: read labels into training batches (supervised models).
            batch_size: patches per batch (paper: 128).
            patch_size: patch side in pixels (paper: 128).
            eval_patch_size: patch side of evaluation grids.
            eval_batch_size: patches per evaluation batch (default: ``batch_size``).
            val_patch_size: patch side of the validation grid (default:
                ``eval_patch_size``; paper: 128).
            val_stride: step of the validation grid (default: ``val_patch_size``;
                paper: the sampled box, Chesapeake 512, EnviroAtlas 384).
            context: pixels of context for the network's receptive field.
            length: training patches per epoch (paper: 800 per tile).
            num_workers: data-loader workers.
            download: download and extract the data set with TorchGeo when it is
                missing (about 6 GB).

        Raises:
            ValueError: On an unknown city, split or prior.
            FileNotFoundError: If a requested layer or split is missing.
            RuntimeError: If the download fails.
        """
        _check_prior(prior, build_prior, learned_prior_paths)
        self.city = resolve_city(city)
        self.root = root
        if download:
            _download(root)
        splits = _stage_splits(
            self.city, train_split, val_split, test_split, predict_split
        )
        layers = [n for n in inputs if n in _AUX_LAYERS]
        if build_prior and prior == 'prior':
            layers = sorted({*layers, *_AUX_LAYERS})
        learned = (
            sorted(_learned_files(learned_prior_paths, learned_prior_glob))
            if prior == 'learned'
            else []
        )
        paths = self._init_index(
            _tile_index(root),
            splits,
            None if build_prior or prior == 'learned' else prior,
            prior_files=learned,
            with_labels=True,
            layers=layers,
        )
        short = self.city.split('_')[0]
        super().__init__(
            **paths,
            train_labels=train_labels,
            cooccurrence=(cooccurrence or f'enviroatlas-{short}')
            if build_prior
            else None,
            prior_sigma=prior_sigma,
            prior_kernel_size=prior_kernel_size,
            coarse_nodata=(0,),
            fusion_rules='enviroatlas' if build_prior and prior == 'prior' else 'none',
            label_scheme=label_scheme,
            batch_size=batch_size,
            patch_size=patch_size,
            eval_patch_size=eval_patch_size,
            eval_batch_size=eval_batch_size,
            val_patch_size=val_patch_size,
            val_stride=val_stride,
            context=context,
            length=length,
            num_workers=num_workers,
            prior_glob=learned_prior_glob if prior == 'learned' else '*.tif',
            coarse_lookup=NLCD_INDEX_CODES if build_prior else None,
            inputs=inputs,
        )


def _check_prior(
    prior: str, build_prior: bool, learned_prior_paths: Paths | None
) -> None:
    """Refuse prior arguments that do not fit together.

    Args:
        prior: the ``prior`` argument.
        build_prior: the ``build_prior`` argument.
        learned_prior_paths: the ``learned_prior_paths`` argument.

    Raises:
        ValueError: On an unknown prior, a learned prior without its files, or a
            learned prior to build on the fly.
    """
    if prior not in ('prior', 'prior_no_osm_no_buildings', 'learned'):
        raise ValueError(
            f"prior must be 'prior', 'prior_no_osm_no_buildings' or 'learned', "
            f'got {prior!r}'
        )
    if prior == 'learned' and learned_prior_paths is None:
        raise ValueError(
            "prior='learned' needs learned_prior_paths (rasters written by "
            'torchgeo-lsr predict with a PriorLearning checkpoint)'
        )
    if build_prior and prior == 'learned':
        raise ValueError('a learned prior cannot be built on the fly')


def _tile_index(root: str) -> TileIndex:
    """EnviroAtlas's tile index under a root, with the prior layers' file names.

    Args:
        root: the data module's root.

    Returns:
        The index.
    """
    return TileIndex(
        folder=Path(root) / 'enviroatlas_lotp',
        dataset='EnviroAtlas',
        download=EnviroAtlas.url,
        derived={
            name: ('naip', 'a_naip', stored) for name, stored in _PRIOR_FILES.items()
        },
    )


def _stage_splits(
    city: str,
    train: str | Sequence[str],
    val: str | Sequence[str] | None,
    test: str | Sequence[str] | None,
    predict: str | Sequence[str] | None,
) -> dict[str, list[str]]:
    """The index's split names of every stage, with their defaults.

    Args:
        city: the data module's city (full name).
        train: the training split(s).
        val: the validation split(s) (None: the training splits).
        test: the test split(s) (None: the training splits).
        predict: the prediction split(s) (None: the test splits).

    Returns:
        Split names by stage.

    Raises:
        ValueError: If a split does not exist.
    """

    def resolve(split: str) -> str:
        return _resolve_split(split, city)

    fit = split_names(train, [], resolve)
    validate = split_names(val, fit, resolve)
    tested = split_names(test, fit, resolve)
    return {
        'fit': fit,
        'validate': validate,
        'test': tested,
        'predict': split_names(predict, tested, resolve),
    }


def _resolve_split(split: str, city: str) -> str:
    """The index's name of a split (``'test'`` -> ``'<city>-test'``).

    Args:
        split: ``'<split>'`` or ``'<city>-<split>'`` (short or full city name).
        city: the data module's city (full name).

    Returns:
        The split name of the index.

    Raises:
        ValueError: If the split does not exist (lists the valid ones).
    """
    if '-' in split and not split.startswith(tuple(CITIES.values())):
        head, _, tail = split.rpartition('-')
        if head.lower() in CITIES:
            split = f'{CITIES[head.lower()]}-{tail}'
    name = split if split in EnviroAtlas.splits else f'{city}-{split}'
    if name not in EnviroAtlas.splits:
        valid = sorted(
            s.rpartition('-')[2] for s in EnviroAtlas.splits if s.startswith(city)
        )
        raise ValueError(
            f'EnviroAtlas has no split {split!r} for {city}: choose from {valid}, '
            f'or one of {list(EnviroAtlas.splits)}'
        )
    return name


def _learned_files(paths: Paths | None, glob: str) -> list[str]:
    """Learned-prior rasters among files and folders.

    Args:
        paths: files or folders.
        glob: pattern of files inside folders.

    Returns:
        The files.

    Raises:
        FileNotFoundError: If there are none.
    """
    files: list[str] = []
    for path in path_list(paths):
        folder = Path(path)
        if folder.is_dir():
            files += [str(f) for f in sorted(folder.glob(glob))]
        elif folder.exists():
            files.append(str(folder))
    if not files:
        raise FileNotFoundError(
            f'no learned-prior rasters matching {glob!r} in {path_list(paths)}; '
            'make them with torchgeo-lsr predict --config '
            'conf/enviroatlas_<city>_learn_prior.yaml --ckpt_path <ckpt> --out <folder> '
            '--products [q]'
        )
    return files


def _download(root: str) -> None:
    """Download and extract EnviroAtlas with TorchGeo, with a clear offline error.

    Args:
        root: the data module's root.

    Raises:
        RuntimeError: If the download fails.
    """
    try:
        _fetch(root)
    except Exception as error:  # urllib, ssl, socket and checksum errors alike
        raise RuntimeError(
            f'could not download EnviroAtlas from {EnviroAtlas.url} into {root}: '
            f'{error}. Without network, download the archive by hand and extract it '
            f'into {root} (so that {Path(root) / "enviroatlas_lotp"} exists)'
        ) from error


def _fetch(root: str) -> None:
    """Download and extract the archive with TorchGeo (network).

    Args:
        root: the data module's root.
    """
    EnviroAtlas(root, splits=list(EnviroAtlas.splits), download=True)
