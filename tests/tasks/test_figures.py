from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from lightning.pytorch.loggers import CSVLogger, Logger
from matplotlib.figure import Figure

from torchgeo_lsr.schemes import generic_scheme
from torchgeo_lsr.tasks.figures import FIGURE_TAG, log_figure, validation_figure


def outputs(size: int = 12, classes: int = 3) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    prior = torch.rand(2, classes, size, size, generator=generator)
    return {
        'prior': prior / prior.sum(1, keepdim=True),
        'log_q': torch.randn(2, classes, size, size, generator=generator).log_softmax(
            1
        ),
        'target': torch.randint(0, classes + 1, (2, size, size), generator=generator),
    }


def test_validation_figure_shows_the_cropped_first_sample() -> None:
    out = outputs()
    image = torch.rand(2, 4, 16, 16)
    scheme = generic_scheme(range(3))
    figure = validation_figure(
        image, out, out['log_q'], scheme, border=2, title='epoch 3'
    )
    assert isinstance(figure, Figure)
    # Image, prior, q, r and labels.
    shown = [ax for ax in figure.axes if ax.images]
    assert len(shown) == 5
    assert all(ax.images[0].get_array().shape[:2] == (12, 12) for ax in shown)
    assert figure.get_suptitle() == 'epoch 3'
    titles = [ax.get_title() for ax in shown]
    assert titles[0] == 'image'
    assert 'labels' in titles
    without_labels = {k: v for k, v in out.items() if k != 'target'}
    figure2 = validation_figure(
        image, without_labels, out['log_q'], scheme, border=2, title='t'
    )
    assert len([ax for ax in figure2.axes if ax.images]) == 4
    plt.close('all')


class _Board:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, int]] = []

    def add_figure(self, tag: str, figure: Any, global_step: int) -> None:
        self.calls.append((tag, figure, global_step))


class _BoardLogger(CSVLogger):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.board = _Board()

    @property
    def experiment(self) -> Any:
        return self.board


def test_tensorboard_loggers_get_the_figure(tmp_path: Path) -> None:
    logger = _BoardLogger(tmp_path)
    figure = plt.figure()
    assert log_figure(logger, figure, epoch=1, step=7) is None
    assert logger.board.calls == [(FIGURE_TAG, figure, 7)]
    assert not plt.fignum_exists(figure.number)
    assert not (tmp_path / 'lightning_logs').exists()


def test_other_loggers_get_a_png(tmp_path: Path) -> None:
    logger: Logger = CSVLogger(tmp_path)
    figure = plt.figure()
    path = log_figure(logger, figure, epoch=3, step=0)
    assert path is not None
    assert path == Path(logger.log_dir or '') / 'figures' / 'val_epoch_003.png'
    assert path.read_bytes().startswith(b'\x89PNG')
    assert not plt.fignum_exists(figure.number)
