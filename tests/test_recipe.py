import math

import pytest

from torchgeo_lsr.recipe import (
    MAX_TRAINING_STEPS,
    MIN_TRAINING_STEPS,
    PIXEL_VISITS,
    blur_for_cell,
    training_patches,
)


def test_blur_is_one_coarse_cell_with_the_papers_kernel() -> None:
    # REFERENCE §2.4: sigma 31, kernel 101 for 30 m NLCD on 1 m NAIP.
    assert blur_for_cell(31) == (31, 101)
    sigma, kernel = blur_for_cell(8)
    assert sigma == 8
    assert kernel % 2 == 1
    assert kernel == 2 * round(8 * 50 / 31) + 1


def test_blur_of_cells_smaller_than_a_pixel_keeps_a_kernel() -> None:
    sigma, kernel = blur_for_cell(0.1)
    assert sigma == 0.5
    assert kernel >= 3


@pytest.mark.parametrize('cell', [0.0, -3.0, math.nan, math.inf])
def test_blur_refuses_meaningless_cells(cell: float) -> None:
    with pytest.raises(ValueError, match='coarse cell'):
        blur_for_cell(cell)


def test_training_length_grows_with_pixels_between_floor_and_ceiling() -> None:
    batch, patch = 16, 64
    small = training_patches(1_000, patch, batch)
    assert small == MIN_TRAINING_STEPS * batch
    huge = training_patches(1e12, patch, batch)
    assert huge == MAX_TRAINING_STEPS * batch
    steps = (MIN_TRAINING_STEPS + MAX_TRAINING_STEPS) // 2
    pixels = steps * batch * patch**2 / PIXEL_VISITS
    middle = training_patches(pixels, patch, batch)
    assert middle == steps * batch
    assert middle % batch == 0


def test_training_length_refuses_empty_inputs() -> None:
    with pytest.raises(ValueError, match='need pixels'):
        training_patches(0, 64, 16)
    with pytest.raises(ValueError, match='need pixels'):
        training_patches(100, 0, 16)
