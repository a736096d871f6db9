"""NAIP + NLCD (+ buildings, OpenStreetMap) anywhere in the contiguous US.

The paper's inputs on fresh tiles, with no prepared data set: NAIP quarter-quads as
TorchGeo's :class:`~torchgeo.datasets.NAIP` names them (``m_*.tif``), Annual NLCD
as TorchGeo's :class:`~torchgeo.datasets.NLCD` names it
(``Annual_NLCD_LndCov_<year>_CU_C1V1.tif``, 30 m, any CRS: read onto the NAIP grid),
building footprints from local files, and roads, waterways and water bodies from
OpenStreetMap through osmnx for the imagery's extent (downloaded once in
:meth:`~NAIPNLCDDataModule.prepare_data`, cached on disk; offline it fails fast and
asks for local files). Priors are built on the fly with a co-occurrence matrix
(default: the bundled Pittsburgh one; estimate your own with ``torchgeo-lsr
cooccurrence`` where you have some high-res labels) and, with auxiliary layers, the
paper's hand-coded fusion rules.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torchgeo.datasets import NLCD

from ..datasets.rasters import ImageryRaster
from ..datasets.vectors import OSM_LAYERS, download_osm_layers, osm_cache_paths
from .inputs import Paths, path_list
from .lsr import LSRDataModule

__all__ = ('NAIP_GLOB', 'NAIPNLCDDataModule', 'nlcd_glob')

#: NAIP quarter-quad GeoTIFFs (TorchGeo's NAIP pattern, GeoTIFF only).
NAIP_GLOB = 'm_*.tif'


def nlcd_glob(year: int | None) -> str:
    """TorchGeo's Annual NLCD file pattern, for one year or any.

    Args:
        year: the NLCD year (None: any year).

    Returns:
        The glob.
    """
    return NLCD.filename_glob.replace('*', str(year)) if year else NLCD.filename_glob


class NAIPNLCDDataModule(LSRDataModule):
    """LSR batches from NAIP and NLCD, with optional buildings and OSM layers."""

    def __init__(
        self,
        naip_paths: Paths,
        nlcd_paths: Paths,
        nlcd_year: int | None = 2021,
        download_nlcd: bool = False,
        osm: bool = False,
        osm_layers: Sequence[str] = ('roads', 'waterways', 'waterbodies'),
        osm_cache: str = 'data/osm',
        cooccurrence: str = 'enviroatlas-pittsburgh',
        image_glob: str = NAIP_GLOB,
        coarse_glob: str | None = None,
        coarse_nodata: Sequence[float] = (0, 250),
        **kwargs: Any,
    ) -> None:
        """Initialise the data module.

        Args:
            naip_paths: NAIP files or folders.
            nlcd_paths: NLCD files or folders (the download goes to the first).
            nlcd_year: NLCD year to read (None: any file of the pattern).
            download_nlcd: download that year's CONUS NLCD with TorchGeo when it
                is missing (several GB).
            osm: take roads, waterways and water bodies from OpenStreetMap for the
                imagery's extent (needs the network once; cached).
            osm_layers: which OSM layers (from roads, waterways, waterbodies,
                buildings).
            osm_cache: folder of the OSM cache.
            cooccurrence: NLCD -> high-res matrix (bundled name or CSV).
            image_glob: pattern of NAIP files.
            coarse_glob: pattern of NLCD files (default: that of ``nlcd_year``).
            coarse_nodata: NLCD codes meaning nodata (Annual NLCD: 250).
            **kwargs: any other argument of
                :class:`~torchgeo_lsr.datamodules.LSRDataModule` (``label_paths``,
                ``buildings_paths``, ``fusion_rules``, ``prior_sigma``,
                ``batch_size``, ...).

        Raises:
            ValueError: If an OSM layer is unknown or also given as files.
            RuntimeError: If the NLCD download fails.
        """
        unknown = sorted(set(osm_layers) - set(OSM_LAYERS))
        if unknown:
            raise ValueError(f'unknown OSM layers {unknown}; choose from {OSM_LAYERS}')
        if download_nlcd:
            _download_nlcd(path_list(nlcd_paths), nlcd_year)
        self.osm_paths: dict[str, Path] = {}
        self.osm_cache = osm_cache
        if osm:
            clash = [n for n in osm_layers if kwargs.get(f'{n}_paths') is not None]
            if clash:
                raise ValueError(
                    f'{clash} are given as files and asked from OSM: choose one'
                )
            imagery = ImageryRaster(path_list(naip_paths), filename_glob=image_glob)
            bounds = imagery.index.geometry.union_all().bounds
            self.osm_bounds = (bounds, imagery.crs)
            self.osm_paths = osm_cache_paths(bounds, imagery.crs, osm_cache, osm_layers)
            for name, path in self.osm_paths.items():
                kwargs[f'{name}_paths'] = str(path)
        super().__init__(
            image_paths=naip_paths,
            coarse_paths=nlcd_paths,
            cooccurrence=cooccurrence,
            image_glob=image_glob,
            coarse_glob=coarse_glob or nlcd_glob(nlcd_year),
            coarse_nodata=coarse_nodata,
            **kwargs,
        )

    def prepare_data(self) -> None:
        """Download the OpenStreetMap layers not cached yet (one process only).

        Raises:
            RuntimeError: If OpenStreetMap cannot be reached (offline); pass local
                files instead.
        """
        if not self.osm_paths or all(p.exists() for p in self.osm_paths.values()):
            return
        bounds, crs = self.osm_bounds
        download_osm_layers(bounds, crs, self.osm_cache, tuple(self.osm_paths))

    def setup(self, stage: str) -> None:
        """Check the OSM layers are there, then build datasets and samplers.

        Args:
            stage: ``'fit'``, ``'validate'``, ``'test'`` or ``'predict'``.

        Raises:
            FileNotFoundError: If an OSM layer was not downloaded.
        """
        missing = [str(p) for p in self.osm_paths.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f'OpenStreetMap layers {missing} are not cached: run prepare_data() '
                'once with network (Lightning does), or pass local files'
            )
        super().setup(stage)


def _download_nlcd(paths: list[str], year: int | None) -> None:
    """Download one year of NLCD with TorchGeo, with a clear offline error.

    Args:
        paths: the NLCD paths (the first is the download folder).
        year: the year.

    Raises:
        ValueError: Without a year or a folder to download to.
        RuntimeError: If the download fails.
    """
    if year is None or not paths:
        raise ValueError('download_nlcd needs nlcd_year and a folder in nlcd_paths')
    folder = paths[0]
    os.makedirs(folder, exist_ok=True)
    try:
        _fetch_nlcd(folder, year)
    except Exception as error:  # urllib, ssl, socket errors alike
        raise RuntimeError(
            f'could not download NLCD {year} from {NLCD.url.format(year)} into '
            f'{folder}: {error}. Without network, download and unzip it by hand '
            'into nlcd_paths'
        ) from error


def _fetch_nlcd(folder: str, year: int) -> None:
    """Download and unzip one year of NLCD with TorchGeo (network).

    Args:
        folder: download folder.
        year: the year.
    """
    NLCD(paths=folder, years=[year], download=True, checksum=False)
