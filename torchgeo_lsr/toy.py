"""A toy label-super-resolution problem: coarse-cell priors resolved by QR and RQ.

Points carry a 2-D feature (their "colour") and sit in coarse cells (their "30 m
pixel"). Every cell mixes the classes in its own proportions, and the only supervision
is a prior per point built the way the land-cover priors are built: the cell's coarse
label (its dominant class) mapped through a co-occurrence matrix P(class | coarse
label). The prior's argmax is right only where a point belongs to its cell's dominant
class, and a rare class that is seldom dominant anywhere (the roads and small
buildings of a 30 m pixel) is almost never predicted. Cross-entropy on the soft prior
inherits that blind spot; training through the implied posterior (QR, RQ) recovers the
rare class, because its per-class normalisation lifts classes that are everywhere a
minority and the features tell the classes apart.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from .io import atomic_path
from .losses import LossName, QRForm, build_loss, implied_posterior

__all__ = (
    'TOY_LOSSES',
    'TOY_LOSS_NAMES',
    'ToyLoss',
    'ToyProblem',
    'make_toy_problem',
    'plot_toy_results',
    'run_toy_demo',
    'train_toy_model',
)

ToyLoss = Literal['ce', 'qr', 'qr_kl', 'rq']

#: Losses compared by the demo: soft cross-entropy, QR (free energy and KL), RQ.
TOY_LOSSES: tuple[ToyLoss, ...] = ('ce', 'qr', 'qr_kl', 'rq')

#: Each demo loss as :func:`~torchgeo_lsr.losses.build_loss` arguments: the loss
#: name and the QR form (used by QR only).
_TOY_LOSS_SPECS: dict[ToyLoss, tuple[LossName, QRForm]] = {
    'ce': ('ce', 'kl'),
    'qr': ('qr', 'free_energy'),
    'qr_kl': ('qr', 'kl'),
    'rq': ('rq', 'kl'),
}

#: Display names of the demo's losses.
TOY_LOSS_NAMES: dict[str, str] = {
    'ce': 'cross-entropy on the prior',
    'qr': 'QR (free energy)',
    'qr_kl': 'QR (KL form)',
    'rq': 'RQ',
}


@dataclass(frozen=True)
class ToyProblem:
    """Features, hidden true labels, coarse cells and the priors derived from them."""

    features: Tensor
    labels: Tensor
    cells: Tensor
    prior: Tensor
    cooccurrence: Tensor

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return int(self.prior.shape[1])


def make_toy_problem(
    num_classes: int = 4,
    num_cells: int = 64,
    points_per_cell: int = 32,
    concentration: float = 0.7,
    spread: float = 0.9,
    rare_fraction: float = 0.4,
    seed: int = 0,
) -> ToyProblem:
    """Generate a toy problem.

    Args:
        num_classes: number of classes (class centres lie on a circle).
        num_cells: number of coarse cells.
        points_per_cell: points per cell.
        concentration: Dirichlet concentration of the per-cell class mix (smaller:
            purer cells, so a more informative prior).
        spread: standard deviation of the features around their class centre.
        rare_fraction: the last class covers a uniform random share of each cell up
            to this fraction (like roads and buildings in 30 m pixels): it is rarely
            any cell's dominant class, so the prior's argmax rarely predicts it.
        seed: random seed.

    Returns:
        The problem; its prior rows are columns of the co-occurrence matrix.

    Raises:
        ValueError: For fewer than two classes or no points.
    """
    if num_classes < 2 or num_cells < 1 or points_per_cell < 1:
        raise ValueError('need at least two classes, one cell and one point per cell')
    rng = np.random.default_rng(seed)
    angles = 2 * math.pi * np.arange(num_classes) / num_classes
    centres = 2.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    mix = np.zeros((num_cells, num_classes))
    rare = rng.uniform(0, rare_fraction, size=num_cells)
    mix[:, :-1] = rng.dirichlet(np.full(num_classes - 1, concentration), num_cells)
    mix[:, :-1] *= (1 - rare)[:, None]
    mix[:, -1] = rare
    cells = np.repeat(np.arange(num_cells), points_per_cell)
    labels = np.array([rng.choice(num_classes, p=mix[c]) for c in cells])
    # Per-cell offsets play the part of illumination differences between places.
    offsets = rng.normal(0, 0.3, size=(num_cells, 2))
    noise = rng.normal(0, spread, size=(len(cells), 2))
    features = centres[labels] + noise + offsets[cells]

    fractions = np.zeros((num_cells, num_classes))
    np.add.at(fractions, (cells, labels), 1)
    fractions /= points_per_cell
    coarse = fractions.argmax(1)
    # P(class | coarse label): pooled over the cells with that coarse label.
    cooccurrence = np.full((num_classes, num_classes), 1e-3)
    for k in range(num_classes):
        if (coarse == k).any():
            cooccurrence[:, k] += fractions[coarse == k].sum(0)
    cooccurrence /= cooccurrence.sum(0, keepdims=True)
    prior = cooccurrence[:, coarse[cells]].T

    return ToyProblem(
        features=torch.tensor(features, dtype=torch.float32),
        labels=torch.tensor(labels),
        cells=torch.tensor(cells),
        prior=torch.tensor(prior, dtype=torch.float32),
        cooccurrence=torch.tensor(cooccurrence, dtype=torch.float32),
    )


def _build_toy_loss(name: ToyLoss) -> nn.Module:
    """The loss module of a demo loss name.

    Args:
        name: one of :data:`TOY_LOSSES`.

    Returns:
        The loss, called as ``loss(log_q, prior)``.
    """
    loss, qr_form = _TOY_LOSS_SPECS[name]
    return build_loss(loss, qr_form=qr_form)


def train_toy_model(
    problem: ToyProblem,
    loss: ToyLoss,
    steps: int = 300,
    warmup_steps: int | None = None,
    learning_rate: float = 1e-2,
    seed: int = 0,
) -> nn.Module:
    """Train a small MLP ``q(l | x)`` on the priors alone (full batch).

    The first ``warmup_steps`` use cross-entropy on the soft prior, the start the
    paper recommends when no pretrained model exists (REFERENCE §1.7): from a random
    initialisation, QR and RQ can lock in the network's initial arbitrary labelling.

    Args:
        problem: the toy problem.
        loss: one of :data:`TOY_LOSSES`.
        steps: optimisation steps in all.
        warmup_steps: leading steps trained with cross-entropy on the prior
            (default: a quarter of ``steps``).
        learning_rate: Adam learning rate.
        seed: initialisation seed.

    Returns:
        The trained model (outputs logits).
    """
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(2, 64),
        nn.LeakyReLU(),
        nn.Linear(64, 64),
        nn.LeakyReLU(),
        nn.Linear(64, problem.num_classes),
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    if warmup_steps is None:
        warmup_steps = steps // 4
    warmup, criterion = _build_toy_loss('ce'), _build_toy_loss(loss)
    for step in range(steps):
        optimiser.zero_grad()
        log_q = model(problem.features).log_softmax(1)
        current = warmup if step < warmup_steps else criterion
        value: Tensor = current(log_q, problem.prior)
        value.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    return model


def _scores(prediction: Tensor, labels: Tensor) -> dict[str, float]:
    """Accuracy, and recall of the rare (last) class.

    Args:
        prediction: predicted labels.
        labels: true labels.

    Returns:
        ``{'accuracy': .., 'rare_recall': ..}``.
    """
    rare = labels == labels.max()
    return {
        'accuracy': float((prediction == labels).float().mean()),
        'rare_recall': float((prediction[rare] == labels[rare]).float().mean()),
    }


def run_toy_demo(
    out_dir: str | Path | None = None,
    seed: int = 0,
    steps: int = 300,
    problem: ToyProblem | None = None,
) -> dict[str, object]:
    """Train with every loss of :data:`TOY_LOSSES` and compare with the prior.

    Args:
        out_dir: where to write ``toy_results.json`` and ``toy.png`` (None: nothing).
        seed: seed for the problem and the models.
        steps: optimisation steps per model.
        problem: a ready problem (default: :func:`make_toy_problem` with ``seed``).

    Returns:
        Scores (accuracy and rare-class recall) of the prior's argmax and, per loss,
        of argmax q and argmax r: ``{'prior_argmax': {...}, '<loss>': {'q': {...},
        'r': {...}}, ...}``.
    """
    problem = problem or make_toy_problem(seed=seed)
    results: dict[str, object] = {
        'prior_argmax': _scores(problem.prior.argmax(1), problem.labels)
    }
    predictions: dict[str, Tensor] = {}
    for name in TOY_LOSSES:
        model = train_toy_model(problem, name, steps=steps, seed=seed)
        with torch.no_grad():
            log_q = model(problem.features).log_softmax(1)
            log_r = implied_posterior(log_q, problem.prior)
        predictions[name] = log_q.argmax(1)
        results[name] = {
            'q': _scores(log_q.argmax(1), problem.labels),
            'r': _scores(log_r.argmax(1), problem.labels),
        }
    if out_dir is not None:
        out = Path(out_dir)
        with atomic_path(out / 'toy_results.json') as path:
            path.write_text(json.dumps(results, indent=2) + '\n')
        plot_toy_results(problem, predictions, results, out / 'toy.png')
    return results


def plot_toy_results(
    problem: ToyProblem,
    predictions: dict[str, Tensor],
    results: dict[str, object],
    path: str | Path,
) -> None:
    """Scatter the features coloured by truth, prior argmax and each model's argmax q.

    Args:
        problem: the toy problem.
        predictions: argmax q per loss name.
        results: accuracies as returned by :func:`run_toy_demo`.
        path: PNG file to write (atomically).
    """
    # Imported here: only the demo's figure needs matplotlib (and its Agg backend).
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    panels = [('truth', problem.labels), ('prior argmax', problem.prior.argmax(1))]
    panels += [(name, predictions[name]) for name in predictions]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False
    )
    x, y = problem.features[:, 0].numpy(), problem.features[:, 1].numpy()
    for ax, (title, colours) in zip(axes[0], panels, strict=True):
        ax.scatter(x, y, c=colours.numpy(), cmap='tab10', vmin=0, vmax=9, s=3)
        if title != 'truth':
            entry = results[title.replace(' ', '_')]
            assert isinstance(entry, dict)
            scores = entry.get('q', entry)
            if title in TOY_LOSS_NAMES:
                title = f'{TOY_LOSS_NAMES[title]}: argmax q'
            title += (
                f'\nacc {scores["accuracy"]:.1%}, '
                f'rare class {scores["rare_recall"]:.1%}'
            )
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format='png', dpi=110)
    plt.close(figure)
