"""Draw the hand-drawn prior (and rough labels) of scikit-image's coffee photo.

``skimage.data.coffee()`` (400 x 600 px, ships with scikit-image) shows a cup of
coffee with a spoon on a saucer, on a wooden table. Like the boat prior of the
paper's Le Séducteur example, the prior is painted with a few rough shapes, one
channel per class, where overlapping strokes allow several classes:

======  =========  ========================================================
class   channel    allowed where
======  =========  ========================================================
table   red        everywhere except the middle of the crockery
dishes  green      a big ellipse around cup, saucer and spoon
coffee  blue       an ellipse around the coffee's surface (with the rim)
======  =========  ========================================================

so the prior shows red (table only), yellow (table or dishes: the whole ring
where the saucer's edge may be), green (dishes only), cyan (dishes or coffee: the
cup's white rim and the coffee's edge), blue (coffee only) and white (any class:
where the coffee ellipse crosses the table ring at the cup's top). The painted
shapes follow the picture only roughly, as a quick scribble would.

The labels (for scores only) trace the objects with ellipses and polygons fitted
by eye to the picture: saucer, cup with handle and spoon are ``dishes``, the
coffee's surface is ``coffee``, everything else ``table``. They are rough too
(a few pixels at the edges), but far more precise than the prior.

Run ``python torchgeo_lsr/nongeo/data/draw_image_prior.py`` to rewrite
``coffee_prior.png`` and ``coffee_labels.png`` beside this script (or pass
``--out DIR``).
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = (
    'CLASS_NAMES',
    'COFFEE_SHAPE',
    'draw_coffee_labels',
    'draw_coffee_prior',
    'ellipse',
    'main',
    'polygon',
)

#: Classes of the coffee prior, in channel order (red, green, blue).
CLASS_NAMES = ('table', 'dishes', 'coffee')

#: (height, width) of ``skimage.data.coffee()``.
COFFEE_SHAPE = (400, 600)


def ellipse(
    shape: tuple[int, int],
    center: tuple[float, float],
    axes: tuple[float, float],
    angle: float = 0.0,
) -> np.ndarray:
    """Pixels inside an ellipse.

    Args:
        shape: (height, width) of the picture.
        center: (x, y) of the centre in pixels.
        axes: half-axes (along x, along y before rotation) in pixels.
        angle: rotation of the first axis in degrees, from x towards y (clockwise
            on screen).

    Returns:
        (H, W) boolean mask.
    """
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    dx, dy = cols - center[0], rows - center[1]
    theta = np.deg2rad(angle)
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    inside: np.ndarray = (u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1
    return inside


def polygon(
    shape: tuple[int, int], points: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Pixels inside a polygon.

    Args:
        shape: (height, width) of the picture.
        points: (x, y) vertices in pixels.

    Returns:
        (H, W) boolean mask.
    """
    canvas = Image.new('1', (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in points], fill=1)
    return np.asarray(canvas, dtype=bool)


def _check_shape(shape: tuple[int, int]) -> None:
    """Reject shapes other than the coffee photo's (the strokes are in pixels).

    Args:
        shape: requested (height, width).

    Raises:
        ValueError: If it is not :data:`COFFEE_SHAPE`.
    """
    if tuple(shape) != COFFEE_SHAPE:
        raise ValueError(
            f'the coffee strokes are drawn for {COFFEE_SHAPE}, got {shape}'
        )


def draw_coffee_prior(shape: tuple[int, int] = COFFEE_SHAPE) -> np.ndarray:
    """Paint the prior of the coffee photo.

    Args:
        shape: (height, width); must be :data:`COFFEE_SHAPE`.

    Returns:
        (H, W, 3) uint8 picture: red, green and blue channels (0 or 255) allow
        table, dishes and coffee.
    """
    _check_shape(shape)
    # A generous ellipse over cup, saucer and spoon: dishes may be anywhere in it.
    dishes = ellipse(shape, (280, 215), (240, 200), 10)
    # Well inside the saucer and the cup the table cannot show; between these and
    # the big ellipse either class may.
    sure_dishes = ellipse(shape, (280, 225), (160, 125)) | ellipse(
        shape, (290, 118), (105, 78)
    )
    # The coffee's surface with the cup's rim around it: coffee or dishes (and,
    # where the stroke overshoots the cup's sides, the table too).
    coffee = ellipse(shape, (290, 138), (124, 84))
    sure_coffee = ellipse(shape, (288, 146), (60, 32))
    red = ~sure_dishes & ~sure_coffee
    green = dishes & ~sure_coffee
    blue = coffee
    return (np.stack([red, green, blue], -1) * 255).astype(np.uint8)


def draw_coffee_labels(shape: tuple[int, int] = COFFEE_SHAPE) -> np.ndarray:
    """Trace the classes of the coffee photo (rough labels, for scores only).

    Args:
        shape: (height, width); must be :data:`COFFEE_SHAPE`.

    Returns:
        (H, W, 3) uint8 picture, one channel at 255 per pixel (red table, green
        dishes, blue coffee), the coding :func:`~torchgeo_lsr.nongeo.image_prior.
        load_labels` reads.
    """
    _check_shape(shape)
    saucer = ellipse(shape, (278.5, 228.4), (208, 170), 12.6)
    cup = ellipse(shape, (290, 112), (118, 95)) | polygon(
        shape,
        [
            (175, 110),
            (190, 215),
            (210, 250),
            (240, 275),
            (290, 285),
            (340, 280),
            (375, 250),
            (395, 215),
            (408, 110),
        ],
    )
    handle = ellipse(shape, (228, 267), (33, 40))
    spoon = polygon(
        shape, [(398, 68), (420, 70), (418, 90), (392, 230), (375, 250), (370, 240)]
    ) | ellipse(shape, (365, 284), (41, 42))
    labels = np.zeros(shape, dtype=np.int64)
    labels[saucer | cup | handle | spoon] = 1
    labels[ellipse(shape, (288, 144), (85, 50))] = 2
    colours = np.eye(3, dtype=np.uint8) * 255
    painted: np.ndarray = colours[labels]
    return painted


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``coffee_prior.png`` and ``coffee_labels.png``.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out',
        default=str(Path(__file__).parent),
        help='output folder (default: beside this script)',
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, picture in (
        ('coffee_prior.png', draw_coffee_prior()),
        ('coffee_labels.png', draw_coffee_labels()),
    ):
        Image.fromarray(picture).save(out / name, optimize=True)
        print(f'Wrote {out / name}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
