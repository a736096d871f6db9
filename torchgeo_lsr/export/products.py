"""Writing an export's files: temporary GeoTIFFs turned into COGs, and the QGIS style.

Every product of a tile is written block by block into a temporary tiled GeoTIFF
beside its final path (profile from :func:`~torchgeo_lsr.grid.geotiff_profile`),
then converted to a Cloud-Optimized GeoTIFF (deflate, overviews) and renamed into
place, so an interrupted export leaves no partial file.
"""

import math
import os
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from ..grid import geotiff_profile
from ..io import atomic_path
from ..plot import class_colormap
from ..schemes import ClassScheme
from .grids import TileGrid
from .options import MAP_NODATA, ExportOptions

__all__ = (
    'PROBABILITY_PRODUCTS',
    'ProductWriter',
    'class_colours',
    'product_tags',
    'write_distribution',
    'write_qml',
)

#: Products with one band per class.
PROBABILITY_PRODUCTS = ('q', 'r', 'prior')


def class_colours(scheme: ClassScheme) -> dict[int, tuple[int, int, int, int]]:
    """The RGBA colour (0-255) of each class index, as in the package's figures.

    Args:
        scheme: the class scheme.

    Returns:
        ``{index: (red, green, blue, alpha)}``.
    """
    cmap = class_colormap(scheme)
    colours: dict[int, tuple[int, int, int, int]] = {}
    for index in range(scheme.num_classes):
        red, green, blue, alpha = (round(255 * v) for v in cmap(index))
        colours[index] = (red, green, blue, alpha)
    return colours


def write_qml(path: str | os.PathLike[str], scheme: ClassScheme) -> Path:
    """A QGIS style file for a class map (QGIS loads ``<map>.qml`` by itself).

    Args:
        path: the class map's path (the style goes beside it).
        scheme: the map's class scheme.

    Returns:
        The style's path.
    """
    colours = class_colours(scheme)
    entries = []
    for index, name in enumerate(scheme.names):
        red, green, blue, _ = colours[index]
        colour = f'#{red:02x}{green:02x}{blue:02x}'
        label = name.replace('&', '&amp;').replace('"', '&quot;').replace('<', '&lt;')
        entries.append(
            f'        <paletteEntry value="{index}" color="{colour}" '
            f'label="{label}" alpha="255"/>'
        )
    text = '\n'.join(
        [
            "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
            '<qgis>',
            '  <pipe>',
            '    <rasterrenderer type="paletted" band="1" opacity="1">',
            '      <colorPalette>',
            *entries,
            '      </colorPalette>',
            '    </rasterrenderer>',
            '  </pipe>',
            '</qgis>',
            '',
        ]
    )
    target = Path(path).with_suffix('.qml')
    with atomic_path(target) as temporary:
        temporary.write_text(text)
    return target


def product_tags(
    scheme: ClassScheme, options: ExportOptions, hparams: Mapping[str, Any]
) -> dict[str, str]:
    """The metadata tags of every file of an export.

    Args:
        scheme: the class scheme.
        options: the export options.
        hparams: the task's hyper-parameters (``method``, ``loss``).

    Returns:
        The tags.
    """
    return {
        'scheme': scheme.name,
        'class_codes': ','.join(map(str, scheme.codes)),
        'class_names': ','.join(scheme.names),
        'map_source': options.map_source,
        'method': str(hparams.get('method', '')),
        'loss': str(hparams.get('loss', '')),
        'software': 'torchgeo-lsr',
    }


class ProductWriter:
    """Temporary GeoTIFFs of one tile's products, turned into COGs at the end."""

    def __init__(
        self,
        grid: TileGrid,
        paths: dict[str, Path],
        scheme: ClassScheme,
        options: ExportOptions,
        tags: dict[str, str],
        stack: ExitStack,
    ) -> None:
        """Open a temporary GeoTIFF per product.

        Args:
            grid: the tile's grid.
            paths: final path per product (``'map'`` and the optional products).
            scheme: class scheme.
            options: export options.
            tags: metadata for every file.
            stack: closes the files (and removes them) when the export ends.
        """
        self.paths = paths
        self.options = options
        self.files: dict[str, Any] = {}
        self.temporary: dict[str, Path] = {}
        # A small GDAL block cache: blocks are written once and never re-read, and
        # GDAL's default (5% of RAM) would make memory grow with the raster.
        stack.enter_context(
            rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=64)
        )
        for name, path in paths.items():
            temporary = self._temporary_path(path, stack)
            self.temporary[name] = temporary
            profile = self._profile(name, grid, scheme.num_classes)
            dst = stack.enter_context(rasterio.open(temporary, 'w', **profile))
            self.files[name] = dst
            dst.update_tags(**tags, product=name)
            self._describe(dst, name, scheme)

    @staticmethod
    def _temporary_path(path: Path, stack: ExitStack) -> Path:
        """A new hidden file beside ``path``, removed when the export ends."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f'.{path.stem}.', suffix='.part.tif', dir=path.parent
        )
        os.close(handle)
        stack.callback(Path(temporary).unlink, missing_ok=True)
        return Path(temporary)

    def _profile(self, name: str, grid: TileGrid, classes: int) -> dict[str, Any]:
        """The GeoTIFF profile of a product on the tile's grid."""
        if name == 'map':
            return geotiff_profile(
                grid.crs,
                grid.transform,
                grid.width,
                grid.height,
                1,
                'uint8',
                nodata=MAP_NODATA,
            )
        count = classes if name in PROBABILITY_PRODUCTS else 1
        return geotiff_profile(
            grid.crs,
            grid.transform,
            grid.width,
            grid.height,
            count,
            self.options.probability_dtype,
        )

    @staticmethod
    def _describe(dst: Any, name: str, scheme: ClassScheme) -> None:
        """Colour table and band names of a product's file."""
        if name == 'map':
            dst.write_colormap(1, class_colours(scheme))
            dst.set_band_description(1, 'class')
        elif name in PROBABILITY_PRODUCTS:
            for band, class_name in enumerate(scheme.names, start=1):
                dst.set_band_description(band, class_name)
        else:
            dst.set_band_description(1, name)

    def wants(self, name: str) -> bool:
        """Whether the export writes a product.

        Args:
            name: ``'map'`` or a product of :data:`~torchgeo_lsr.export.PRODUCTS`.

        Returns:
            True if it has a file.
        """
        return name in self.files

    def write(
        self, name: str, values: np.ndarray, valid: np.ndarray, window: Window
    ) -> None:
        """Write a block of a product (nothing if the product is not exported).

        Args:
            name: the product.
            values: (bands, h, w) values: class indices for the map, else
                probabilities or fractions in [0, 1].
            valid: (h, w) pixels with valid input.
            window: the block's window.
        """
        if name not in self.files:
            return
        dst = self.files[name]
        if name == 'map':
            data = np.where(valid, values, MAP_NODATA).astype(np.uint8)
            dst.write(data, window=window)
            return
        if self.options.probability_dtype == 'uint8':
            data = np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)
        else:
            data = values.astype(np.float32)
        dst.write(data, window=window)
        dst.write_mask(valid.astype(np.uint8) * 255, window=window)

    def finish(self) -> None:
        """Close the temporary files, convert them to COGs and move them in place."""
        for dst in self.files.values():
            dst.close()
        for name, path in self.paths.items():
            resampling = 'nearest' if name == 'map' else 'average'
            with atomic_path(path) as target:
                rasterio.shutil.copy(
                    self.temporary[name],
                    target,
                    driver='COG',
                    compress='deflate',
                    level=6,
                    blocksize=512,
                    overview_resampling=resampling,
                    num_threads='ALL_CPUS',
                    BIGTIFF='IF_SAFER',
                )


def write_distribution(
    products: ProductWriter,
    probabilities: np.ndarray,
    valid: np.ndarray,
    window: Window,
) -> None:
    """Write the class map, confidence and entropy of a block's distribution.

    Args:
        products: the tile's files.
        probabilities: (C, h, w) the distribution the map is the argmax of.
        valid: (h, w) pixels with valid input.
        window: the block's window.
    """
    products.write('map', probabilities.argmax(0)[None], valid, window)
    if products.wants('confidence'):
        products.write('confidence', probabilities.max(0)[None], valid, window)
    if products.wants('entropy'):
        p = np.clip(probabilities, 1e-12, 1)
        entropy = -(p * np.log(p)).sum(0) / math.log(probabilities.shape[0])
        products.write('entropy', entropy[None], valid, window)
