"""What an export writes: its options, the optional products and their file names."""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..grid import Region

__all__ = ('MAP_NODATA', 'PRODUCTS', 'ExportOptions', 'output_paths')

#: Optional products beside the class map.
PRODUCTS = ('q', 'r', 'prior', 'confidence', 'entropy')

#: Class-map value of pixels without valid input.
MAP_NODATA = 255


@dataclass(frozen=True)
class ExportOptions:
    """What an export writes and how.

    Attributes:
        products: optional products beside the class map (see :data:`PRODUCTS`).
        map_source: the class map is the argmax of ``'r'`` (the implied posterior
            with whole-tile totals; default) or of ``'q'`` (the network alone).
        window: block side in pixels.
        probability_dtype: ``'uint8'`` (round(255 p), small files) or
            ``'float32'``.
        overwrite: export tiles whose outputs already exist (default: skip them).
        region: export one map of a region instead of one per tile: a box
            ``(xmin, ymin, xmax, ymax)`` in the imagery CRS or a vector file of
            polygons (any CRS). The map is on the imagery's pixel grid, cut to
            the region's bounding box, across tiles; pixels outside the region are
            nodata and r uses the class totals of the whole region.
    """

    products: Sequence[str] = ()
    map_source: Literal['r', 'q'] = 'r'
    window: int = 1024
    probability_dtype: Literal['uint8', 'float32'] = 'uint8'
    overwrite: bool = False
    region: Region | None = None

    def __post_init__(self) -> None:
        """Check the options.

        Raises:
            ValueError: On an unknown product, map source, dtype or a bad window.
        """
        unknown = sorted(set(self.products) - set(PRODUCTS))
        if unknown:
            raise ValueError(f'unknown products {unknown}; choose from {PRODUCTS}')
        if self.map_source not in ('r', 'q'):
            raise ValueError(f"map_source must be 'r' or 'q', got {self.map_source!r}")
        if self.probability_dtype not in ('uint8', 'float32'):
            raise ValueError(
                f"probability_dtype must be 'uint8' or 'float32', "
                f'got {self.probability_dtype!r}'
            )
        if self.window < 16:
            raise ValueError(f'window must be at least 16 px, got {self.window}')

    @property
    def needs_r(self) -> bool:
        """Whether the second (whole-tile r) pass runs."""
        return self.map_source == 'r' or 'r' in self.products


def output_paths(
    out: str | os.PathLike[str],
    tile: str | os.PathLike[str],
    folder: bool,
    products: Sequence[str],
) -> dict[str, Path]:
    """Where each product of a tile goes.

    Args:
        out: a ``.tif`` file (single tile) or a folder (one map per tile, named
            after the tile).
        tile: the imagery file.
        folder: whether ``out`` is a folder.
        products: the optional products.

    Returns:
        ``{'map': path, product: sibling path, ...}``.
    """
    base = Path(out) / f'{Path(tile).stem}.tif' if folder else Path(out)
    paths = {'map': base}
    for product in products:
        paths[product] = base.with_name(f'{base.stem}_{product}{base.suffix}')
    return paths
