"""Whole-tile class totals of r in testing differ from batch totals, as intended.

Guards issue 16 item 16: ``test_whole_tile_posterior_equals_the_reference`` claimed
tile and batch totals give different r but asserted only that a cache was reset.
Here two tiles of different class balance are split across two batches (each
batch holds one sample of each tile), so a batch's totals mix the tiles while the
whole-tile totals do not.
"""

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from torchgeo_lsr.tasks import LSRSegmentation

CLASSES = 3
SIZE = 12


def sample(tile: int, seed: int) -> dict[str, torch.Tensor]:
    """A sample of a tile: tile 0 bright and mostly class 0, tile 1 dark, class 1.

    The contrast makes the (random) network's q differ between the tiles.
    """
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(4, SIZE, SIZE, generator=generator)
    image = image * 30.0 if tile == 0 else -image * 30.0
    prior = torch.rand(CLASSES, SIZE, SIZE, generator=generator)
    prior[tile] += 3.0
    return {
        'image': image,
        'prior': prior / prior.sum(0, keepdim=True),
        'valid': torch.ones(SIZE, SIZE, dtype=torch.bool),
        'mask': torch.randint(0, CLASSES, (SIZE, SIZE), generator=generator),
        'tile': torch.full((SIZE, SIZE), tile, dtype=torch.long),
    }


class Record(L.Callback):
    """Keep the outputs and r of every test batch."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, torch.Tensor]] = []

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        last = pl_module._last_outputs
        self.outputs.append({k: v.detach().clone() for k, v in last.items()})


def run(totals: str) -> list[dict[str, torch.Tensor]]:
    """Test a seeded task with the given totals of r; the recorded outputs."""
    torch.manual_seed(0)
    model = LSRSegmentation(
        num_filters=4,
        num_classes=CLASSES,
        border=0,
        normalize_input=False,
        posterior_totals=totals,  # type: ignore[arg-type]
        plot_every_n_epochs=0,
    )
    samples = [sample(tile, seed) for seed in range(2) for tile in (0, 1)]
    # Each batch: a sample of tile 0 and one of tile 1.
    loader: DataLoader[Any] = DataLoader(samples, batch_size=2)  # type: ignore[arg-type]
    record = Record()
    trainer = L.Trainer(
        logger=False, enable_progress_bar=False, callbacks=[record], accelerator='cpu'
    )
    trainer.test(model, loader, verbose=False)
    assert len(record.outputs) == 2
    return record.outputs


def test_whole_tile_r_differs_from_batch_r_and_matches_a_hand_computation() -> None:
    tile_outputs = run('tile')
    batch_outputs = run('batch')
    for whole, batch in zip(tile_outputs, batch_outputs, strict=True):
        torch.testing.assert_close(whole['log_q'], batch['log_q'])  # the same network
    # By hand: S[t, l] = sum of q_l over every pixel of tile t (both batches), then
    # r = q p / S normalised over classes.
    q = torch.cat([out['log_q'] for out in tile_outputs]).double().exp()
    prior = torch.cat([out['prior'] for out in tile_outputs]).double()
    prior = prior / prior.sum(1, keepdim=True)
    tiles = torch.cat([out['tile'] for out in tile_outputs])
    totals = torch.stack(
        [q.permute(0, 2, 3, 1)[tiles == t].sum(0) for t in range(2)]
    )  # (tiles, C)
    assert not torch.allclose(totals[0] / totals[0].sum(), totals[1] / totals[1].sum())
    unnormalised = q * prior / totals[tiles].permute(0, 3, 1, 2)
    expected = unnormalised / unnormalised.sum(1, keepdim=True)
    whole_r = torch.cat([out['log_r'] for out in tile_outputs]).double().exp()
    batch_r = torch.cat([out['log_r'] for out in batch_outputs]).double().exp()
    torch.testing.assert_close(whole_r, expected, atol=1e-5, rtol=1e-4)
    # Batch totals mix the tiles: another r, here by more than rounding.
    assert (whole_r - batch_r).abs().max() > 1e-3
