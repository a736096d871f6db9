import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from torchgeo_lsr.losses import implied_posterior
from torchgeo_lsr.tasks.tile_totals import (
    TileTotals,
    batches_within_limits,
    log_posterior,
    pixel_log_mass,
    whole_tile_log_mass,
)


def probabilities(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    q = torch.rand(shape, generator=generator)
    return q / q.sum(1, keepdim=True)


def test_totals_over_tiles_and_batches_equal_a_direct_sum() -> None:
    generator = torch.Generator().manual_seed(0)
    batches = []
    for seed in range(3):
        q = probabilities((2, 4, 6, 5), seed)
        tile = torch.randint(-1, 3, (2, 6, 5), generator=generator)
        valid = torch.rand(2, 6, 5, generator=generator) > 0.2
        batches.append((q, valid, tile))
    # Tile 3 only in the last batch: the totals grow.
    batches[-1][2][0, 0, 0] = 3
    batches[-1][1][0, 0, 0] = True
    totals = TileTotals(4)
    for q, valid, tile in batches:
        totals.add(q, valid, tile)
    assert totals.sums.dtype == torch.float64
    assert totals.tiles == 4
    for index in range(4):
        expected = sum(
            q.permute(0, 2, 3, 1)[valid & (tile == index)].double().sum(0)
            for q, valid, tile in batches
        )
        torch.testing.assert_close(totals.sums[index], expected)
    # Pixels of no tile (-1) are not counted anywhere.
    counted = sum((valid & (tile >= 0)).sum() for _, valid, tile in batches)
    assert totals.sums.sum() == pytest.approx(float(counted))


def test_one_grid_is_tile_zero() -> None:
    q = probabilities((1, 3, 8, 8), 1)
    valid = torch.ones(1, 8, 8, dtype=torch.bool)
    valid[0, :2] = False
    totals = TileTotals(3)
    totals.add(q, valid)
    totals.add(q, valid)
    assert totals.tiles == 1
    expected = 2 * q[0][:, valid[0]].double().sum(1)
    torch.testing.assert_close(totals.sums[0], expected)
    # The same as giving every pixel tile 0.
    tiled = TileTotals(3)
    for _ in range(2):
        tiled.add(q, valid, torch.zeros(1, 8, 8, dtype=torch.long))
    torch.testing.assert_close(tiled.sums, totals.sums)


def test_log_totals() -> None:
    totals = TileTotals(2)
    q = torch.tensor([0.25, 0.75]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    tile = torch.tensor([[[0, 0], [2, 2]]])
    totals.add(q, torch.ones(1, 2, 2, dtype=torch.bool), tile)
    log = totals.log()
    assert log.dtype == torch.float32
    torch.testing.assert_close(log[0], torch.tensor([0.5, 1.5]).log())
    torch.testing.assert_close(log[2], log[0])
    # A tile without pixels gets the floor, not -inf.
    torch.testing.assert_close(log[1], torch.full((2,), 1e-30).log())
    mass = pixel_log_mass(log, torch.tensor([[[2, -1]]]))
    assert mass.shape == (1, 2, 1, 2)
    torch.testing.assert_close(mass[0, :, 0, 0], log[2])
    torch.testing.assert_close(mass[0, :, 0, 1], log[0])


def test_reduce_is_a_no_op_in_one_process() -> None:
    totals = TileTotals(2)
    totals.reduce()
    assert totals.tiles == 0
    totals.add(probabilities((1, 2, 3, 3), 0), torch.ones(1, 3, 3, dtype=torch.bool))
    before = totals.sums.clone()
    totals.reduce()
    torch.testing.assert_close(totals.sums, before)


def _reduce_worker(rank: int, init: str, folder: Path) -> None:
    dist.init_process_group('gloo', init_method=init, rank=rank, world_size=2)
    totals = TileTotals(2)
    if rank == 0:
        # Tiles 0 and 2; rank 1 sees no batch at all and still reduces.
        q = torch.tensor([0.25, 0.75]).view(1, 2, 1, 1).expand(1, 2, 1, 2)
        totals.add(q, torch.ones(1, 1, 2, dtype=torch.bool), torch.tensor([[[0, 2]]]))
    totals.reduce()
    torch.save(totals.sums, folder / f'{rank}.pt')
    dist.destroy_process_group()


@pytest.mark.slow
def test_reduce_pads_ranks_to_the_largest_tile_count(tmp_path: Path) -> None:
    init = f'file://{os.fspath(tmp_path / "init")}'
    mp.spawn(_reduce_worker, args=(init, tmp_path), nprocs=2, join=True)
    expected = torch.tensor(
        [[0.25, 0.75], [0.0, 0.0], [0.25, 0.75]], dtype=torch.float64
    )
    for rank in range(2):
        torch.testing.assert_close(torch.load(tmp_path / f'{rank}.pt'), expected)


def test_whole_tile_log_mass_and_posterior() -> None:
    q = probabilities((2, 3, 4, 4), 2)
    tile = torch.tensor([0, 1]).view(2, 1, 1).expand(2, 4, 4).clone()
    batch = {'log_q': q.log(), 'valid': torch.ones(2, 4, 4, dtype=torch.bool)}
    prior = probabilities((2, 3, 4, 4), 3)

    def outputs(data: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {**data, 'prior': prior}

    log_totals = whole_tile_log_mass(
        [dict(batch, tile=tile)], outputs, 3, torch.device('cpu')
    )
    assert log_totals is not None
    assert log_totals.shape == (2, 3)
    # Each sample is one whole tile here: r equals r with the sample's own totals.
    out = outputs(dict(batch, tile=tile))
    log_r = log_posterior(out, log_totals)
    for index in range(2):
        expected = implied_posterior(
            q[index : index + 1].log(), prior[index : index + 1], distributed=False
        )
        torch.testing.assert_close(log_r[index : index + 1], expected)
    # Without totals r uses the batch's.
    torch.testing.assert_close(
        log_posterior(out, None), implied_posterior(q.log(), prior, mask=out['valid'])
    )
    # No batch: no tile, no totals.
    assert whole_tile_log_mass([], outputs, 3, torch.device('cpu')) is None


def test_whole_tile_totals_refuse_batches_without_tiles() -> None:
    """Guards issue 16 item 8: r silently used batch totals without ``tile``.

    The old first pass returned None for batches without ``tile``, and the test
    then scored r with each batch's totals while reporting it as whole-tile r.
    """
    batch = {
        'log_q': probabilities((1, 3, 4, 4), 0).log(),
        'valid': torch.ones(1, 4, 4, dtype=torch.bool),
    }
    with pytest.raises(ValueError, match="posterior_totals='tile' needs each test"):
        whole_tile_log_mass([batch], dict, 3, torch.device('cpu'))


def test_batches_respect_the_loader_limits() -> None:
    assert list(batches_within_limits([[1, 2, 3], [4, 5]], [2, float('inf')])) == [
        1,
        2,
        4,
        5,
    ]
    assert list(batches_within_limits(range(3), [1])) == [0]
