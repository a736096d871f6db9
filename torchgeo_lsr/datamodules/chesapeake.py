"""Chesapeake Land Cover (CVPR 2019) per state, as TorchGeo distributes it.

The data set of the paper's Table 1 (REFERENCE §3.1), in the on-disk layout of
TorchGeo's :class:`~torchgeo.datasets.ChesapeakeCVPR`: ``<root>/spatial_index.geojson``
and one folder per state and split,
``<state>_1m_<year>_extended-debuffered-<split>_tiles/<tile>_<layer>.tif``; the
Zenodo prior extension extracts its ``..._prior_from_cooccurrences_101_31_no_osm_no_buildings.tif``
files into the same folders.

Labels are the Chesapeake Conservancy codes in the 4 task classes (water, tree
canopy, low vegetation, impervious with barren and roads; scheme ``chesapeake``),
no-data ignored. Priors are NLCD-only: built on the fly from the ``nlcd`` layer
(raw NLCD codes at 1 m) with co-occurrences estimated on the states' train tiles
(computed once and cached under ``<root>/torchgeo-lsr/``), or the Zenodo prior layer
read as float probabilities (TorchGeo's own data module casts it to integers).

As for EnviroAtlas, each stage's tiles are indexed by our raster datasets on their
own UTM grid rather than sampled through TorchGeo's EPSG:3857 class.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from torchgeo.datasets import ChesapeakeCVPR

from ..priors.cooccurrence import estimate_cooccurrence
from .tile_index import TileIndex, TileIndexDataModule

__all__ = ('ChesapeakeLSRDataModule', 'ChesapeakePrior', 'resolve_states')

#: Where the prior comes from: built from NLCD, or the Zenodo layer.
ChesapeakePrior = Literal['nlcd', 'dataset']


def resolve_states(states: str | Sequence[str]) -> list[str]:
    """State codes from ``'ny'``, ``'ny+pa'`` or ``['ny', 'pa']``.

    Args:
        states: one or more states.

    Returns:
        Lower-case state codes.

    Raises:
        ValueError: If a state is not in the data set (lists the valid ones).
    """
    names = states.split('+') if isinstance(states, str) else list(states)
    names = [name.strip().lower() for name in names]
    unknown = [name for name in names if name not in ChesapeakeCVPR.states]
    if unknown or not names:
        raise ValueError(
            f'ChesapeakeCVPR has no state {unknown or states!r}; choose from '
            f'{list(ChesapeakeCVPR.states)} (several joined by +, e.g. ny+pa)'
        )
    return names


class ChesapeakeLSRDataModule(TileIndexDataModule):
    """LSR batches from Chesapeake Land Cover, one state or several.

    The default is the paper's transductive protocol on the states' test tiles:
    train, validate and test on ``<state>-test``, labels for metrics only.
    """

    image_layer = 'naip-new'

    def __init__(
        self,
        root: str = 'data',
        states: str | Sequence[str] = 'ny',
        train_split: str | Sequence[str] = 'test',
        val_split: str | Sequence[str] | None = None,
        test_split: str | Sequence[str] | None = None,
        predict_split: str | Sequence[str] | None = None,
        prior: ChesapeakePrior = 'nlcd',
        cooccurrence: str | None = None,
        cooccurrence_split: str = 'train',
        prior_sigma: float = 31.0,
        prior_kernel_size: int = 101,
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
            root: the data set's folder (TorchGeo's ``root``).
            states: ``'ny'``, ``'pa'``, ``'ny+pa'``, ``'de'``, ... ; bare split names
                below mean these states' splits.
            train_split: split(s) to train on: ``'train'``, ``'val'``, ``'test'`` or
                ``'<state>-<split>'``.
            val_split: split(s) to validate on (default: the training splits).
            test_split: split(s) to test on (default: the training splits).
            predict_split: split(s) to predict (default: the test splits).
            prior: ``'nlcd'`` (built on the fly from NLCD) or ``'dataset'`` (the
                Zenodo prior layer, read as float).
            cooccurrence: matrix CSV for ``'nlcd'`` priors (default: estimated on
                the states' ``cooccurrence_split`` tiles and cached).
            cooccurrence_split: split whose tiles estimate the matrix.
            prior_sigma: blur sigma in pixels (paper: 31).
            prior_kernel_size: blur kernel size in pixels (paper: 101).
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
            length: training patches per epoch (paper: 400 per tile).
            num_workers: data-loader workers.
            download: download and extract the data set (and, for
                ``prior='dataset'``, the prior extension) with TorchGeo.

        Raises:
            ValueError: On an unknown state, split or prior.
            FileNotFoundError: If a requested layer or split is missing.
            RuntimeError: If the download fails.
        """
        if prior not in ('nlcd', 'dataset'):
            raise ValueError(f"prior must be 'nlcd' or 'dataset', got {prior!r}")
        self.states = resolve_states(states)
        self.root = root
        if download:
            _download(root, prior == 'dataset')
        paths = self._init_index(
            _tile_index(root),
            _stage_splits(
                self.states, train_split, val_split, test_split, predict_split
            ),
            ChesapeakeCVPR.prior_layer if prior == 'dataset' else None,
            prior_hint=(
                'The prior layer is the Zenodo prior extension: download it from '
                f'{ChesapeakeCVPR.urls["prior_extension"]} and extract it into '
                f'{root}, or use prior: nlcd.'
            ),
        )
        per_state: dict[str, str] = {}
        if prior == 'nlcd' and cooccurrence is None:
            # The paper's priors: each state's own co-occurrences (REFERENCE §2.8).
            per_state = {
                state: str(self._estimate(_resolve_split(cooccurrence_split, [state])))
                for state in self.states
            }
        super().__init__(
            **paths,
            train_labels=train_labels,
            cooccurrence=cooccurrence or per_state.get(self.states[0]),
            prior_sigma=prior_sigma,
            prior_kernel_size=prior_kernel_size,
            coarse_nodata=(0, 128),
            label_scheme='chesapeake',
            batch_size=batch_size,
            patch_size=patch_size,
            eval_patch_size=eval_patch_size,
            eval_batch_size=eval_batch_size,
            val_patch_size=val_patch_size,
            val_stride=val_stride,
            context=context,
            length=length,
            num_workers=num_workers,
        )
        if len(per_state) > 1:
            self._assign_state_cooccurrences(per_state)

    def _assign_state_cooccurrences(self, per_state: dict[str, str]) -> None:
        """Give every stage's tiles their state's co-occurrence matrix.

        Args:
            per_state: matrix (CSV) by state code.
        """
        for inputs in self._stages.values():
            for path in inputs.image:
                # Tile folders start with the state: ``ny_1m_2013_extended-...``.
                state = Path(path).parent.name.split('_', 1)[0]
                if state in per_state:
                    self.tile_cooccurrences[path] = per_state[state]

    def _estimate(self, names: list[str]) -> Path:
        """Estimate (or reuse) the NLCD -> Chesapeake co-occurrence of some splits.

        Counts are pooled over the splits' tiles and cached as CSV under
        ``<root>/torchgeo-lsr/``; delete the file to estimate again.

        Args:
            names: index split names.

        Returns:
            The cached CSV.
        """
        cache = (
            Path(self.root)
            / 'torchgeo-lsr'
            / f'cooccurrence-{"+".join(names)}.csv'.replace('/', '_')
        )
        if cache.exists():
            return cache
        frame = self.index_frame
        coarse = self.tile_index.files(frame, names, 'nlcd')
        fine = self.tile_index.files(frame, names, 'lc')
        matrix = estimate_cooccurrence(
            zip(coarse, fine, strict=True), 'nlcd', 'chesapeake'
        )
        matrix.to_csv(cache)
        return cache


def _tile_index(root: str) -> TileIndex:
    """ChesapeakeCVPR's tile index under a root, with the prior layer's file names.

    Args:
        root: the data module's root.

    Returns:
        The index.
    """
    return TileIndex(
        folder=Path(root),
        dataset='ChesapeakeCVPR',
        download=(
            f'{ChesapeakeCVPR.urls["base"]} (prior layer: '
            f'{ChesapeakeCVPR.urls["prior_extension"]})'
        ),
        derived={
            ChesapeakeCVPR.prior_layer: (
                'lc',
                'lc.tif',
                f'{ChesapeakeCVPR.prior_layer}.tif',
            )
        },
    )


def _stage_splits(
    states: Sequence[str],
    train: str | Sequence[str],
    val: str | Sequence[str] | None,
    test: str | Sequence[str] | None,
    predict: str | Sequence[str] | None,
) -> dict[str, list[str]]:
    """The index's split names of every stage, with their defaults.

    Args:
        states: the data module's states.
        train: the training split(s).
        val: the validation split(s) (None: the training splits).
        test: the test split(s) (None: the training splits).
        predict: the prediction split(s) (None: the test splits).

    Returns:
        Split names by stage.

    Raises:
        ValueError: If a split does not exist.
    """

    def flat(splits: str | Sequence[str] | None, default: list[str]) -> list[str]:
        if splits is None:
            return list(default)
        items = [splits] if isinstance(splits, str) else list(splits)
        return [name for item in items for name in _resolve_split(item, states)]

    fit = flat(train, [])
    validate = flat(val, fit)
    tested = flat(test, fit)
    return {
        'fit': fit,
        'validate': validate,
        'test': tested,
        'predict': flat(predict, tested),
    }


def _resolve_split(split: str, states: Sequence[str]) -> list[str]:
    """Index split names: ``'test'`` -> each state's, ``'de-test'`` as it is.

    Args:
        split: ``'<split>'`` or ``'<state>-<split>'``.
        states: the data module's states.

    Returns:
        Index split names.

    Raises:
        ValueError: If a split does not exist (lists the valid ones).
    """
    names = [split] if '-' in split else [f'{state}-{split}' for state in states]
    for name in names:
        if name not in ChesapeakeCVPR.splits:
            raise ValueError(
                f'ChesapeakeCVPR has no split {name!r}: choose from train, val, test '
                f'(or one of {list(ChesapeakeCVPR.splits)})'
            )
    return names


def _download(root: str, with_prior: bool) -> None:
    """Download and extract the data set with TorchGeo, with a clear offline error.

    Args:
        root: the data module's root.
        with_prior: also the prior extension.

    Raises:
        RuntimeError: If the download fails.
    """
    layers = ['naip-new', 'nlcd', 'lc']
    if with_prior:
        layers.append(ChesapeakeCVPR.prior_layer)
    try:
        ChesapeakeCVPR(root, layers=layers, download=True)
    except Exception as error:  # urllib, ssl, socket and checksum errors alike
        raise RuntimeError(
            f'could not download ChesapeakeCVPR from {ChesapeakeCVPR.urls["base"]} '
            f'into {root}: {error}. Without network, download the archive(s) by '
            f'hand and extract them into {root}'
        ) from error
