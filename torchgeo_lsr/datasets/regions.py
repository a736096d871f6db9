"""Regions: a box or a vector file of polygons, as one geometry on the imagery CRS.

Held-out validation / test regions of the data module and region maps of the export
take the same argument (:data:`~torchgeo_lsr.grid.Region`); this is where it
becomes a geometry. It sits beside the vector readers, not in
:mod:`torchgeo_lsr.grid`, because it reads vector files: the grid module stays a
leaf that every layer may import.
"""

import os
from typing import Any

import shapely

from ..grid import Region
from .vector_files import read_vector_layer

__all__ = ('Region', 'region_geometry')


def region_geometry(region: Region, crs: Any) -> Any:
    """A region argument as a shapely geometry in a CRS.

    Args:
        region: a box ``(xmin, ymin, xmax, ymax)`` in ``crs``, or a vector file of
            polygons (any CRS; reprojected).
        crs: the imagery CRS.

    Returns:
        The geometry.

    Raises:
        ValueError: For a box that is not four increasing numbers, or a file
            without polygons.
    """
    if isinstance(region, str | os.PathLike):
        frame = read_vector_layer(region, crs=crs, layer='region')
        geometry = frame.geometry.union_all()
        if geometry.is_empty or geometry.area == 0:
            raise ValueError(f'region file {region} holds no polygon')
        return geometry
    values = [float(v) for v in region]
    if len(values) != 4 or values[0] >= values[2] or values[1] >= values[3]:
        raise ValueError(
            f'a region box is (xmin, ymin, xmax, ymax) in the imagery CRS, '
            f'got {list(region)}'
        )
    return shapely.box(*values)
