"""Calibration figures of a synthetic scene: how hard is it, and is it solvable?

Two numbers frame the weak-supervision problem a scene poses:

* the accuracy and IoU of the *prior's argmax* against the 1 m labels, with the prior
  built by the package from the scene's own NLCD (co-occurrence estimated from the
  scene, Gaussian blur sigma 31, kernel 101): what the coarse labels alone give;
* the accuracy of a simple per-pixel *imagery classifier* that sees the true labels
  (class Gaussians with full covariance on the four bands, fit on tile 0, evaluated on
  tile 1): whether the imagery holds the information to do better.
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..priors import PriorBuilder, estimate_cooccurrence
from ..schemes import SCHEMES
from ._scene_fields import scene_rng
from ._scene_nlcd import NLCD_CELL

__all__ = (
    'PRIOR_KERNEL_SIZE',
    'PRIOR_SIGMA',
    'confusion_metrics',
    'measure_calibration',
)

PRIOR_SIGMA = 31.0
PRIOR_KERNEL_SIZE = 101

#: Pixels of the fitting tile sampled (with replacement) to fit the classifier.
FIT_SAMPLES = 200_000


def measure_calibration(
    pairs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    labels: Sequence[np.ndarray],
    coarse: Sequence[np.ndarray],
    imagery: Sequence[np.ndarray],
    seed: int,
) -> dict[str, Any]:
    """Measure a scene's calibration figures.

    Args:
        pairs: (NLCD path, label path) of each tile, for the co-occurrence matrix.
        labels: (H, W) EnviroAtlas codes of each tile.
        coarse: NLCD codes of each tile (30 m cells aligned with the labels).
        imagery: (4, H, W) imagery of each tile.
        seed: scene seed (for sampling the classifier's training pixels).

    Returns:
        A JSON-ready dictionary of the figures.
    """
    scheme = SCHEMES['enviroatlas']
    matrix = estimate_cooccurrence(pairs, 'nlcd', 'enviroatlas')
    builder = PriorBuilder(matrix, sigma=PRIOR_SIGMA, kernel_size=PRIOR_KERNEL_SIZE)
    classes = scheme.num_classes
    confusion = np.zeros((classes, classes), dtype=np.int64)
    for fine, codes in zip(labels, coarse, strict=True):
        upsampled = np.repeat(np.repeat(codes, NLCD_CELL, 0), NLCD_CELL, 1)
        prior, valid = builder(upsampled[: fine.shape[0], : fine.shape[1]])
        confusion += _confusion(scheme.to_index(fine), prior.argmax(0), valid, classes)
    prior_metrics = confusion_metrics(confusion, scheme.names)
    classifier = _imagery_classifier(labels, imagery, seed)
    return {
        'prior_sigma': PRIOR_SIGMA,
        'prior_kernel_size': PRIOR_KERNEL_SIZE,
        'prior_argmax_accuracy': prior_metrics['accuracy'],
        'prior_argmax_miou': prior_metrics['miou'],
        'prior_argmax_iou': prior_metrics['iou'],
        **classifier,
    }


def _confusion(
    truth: np.ndarray, predicted: np.ndarray, valid: np.ndarray, classes: int
) -> np.ndarray:
    """Confusion counts (rows: truth, columns: prediction) over labelled pixels.

    Args:
        truth: class indices (-1 for unlabelled).
        predicted: predicted class indices.
        valid: pixels with a prediction.
        classes: number of classes.

    Returns:
        (classes, classes) int64 counts.
    """
    keep = valid & (truth >= 0)
    joint = truth[keep].astype(np.int64) * classes + predicted[keep]
    return np.bincount(joint, minlength=classes * classes).reshape(classes, classes)


def confusion_metrics(confusion: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class IoU and mean IoU from confusion counts.

    Args:
        confusion: (classes, classes) counts, rows truth, columns prediction.
        names: class names.

    Returns:
        ``accuracy``, ``miou`` (over classes present in truth or prediction) and
        ``iou`` by class name (None for classes absent from both), rounded to 4
        decimals.
    """
    hits = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - hits
    present = union > 0
    iou = np.divide(hits, union, out=np.zeros_like(hits), where=present)
    total = max(int(confusion.sum()), 1)
    return {
        'accuracy': round(float(hits.sum() / total), 4),
        'miou': round(float(iou[present].mean()), 4) if present.any() else None,
        'iou': {
            name: round(float(value), 4) if ok else None
            for name, value, ok in zip(names, iou, present, strict=True)
        },
    }


def _imagery_classifier(
    labels: Sequence[np.ndarray], imagery: Sequence[np.ndarray], seed: int
) -> dict[str, Any]:
    """Per-pixel classifiers on the four bands, fit on one tile, tested on another.

    With a single tile, the western half fits and the eastern half tests.

    Args:
        labels: (H, W) EnviroAtlas codes of each tile.
        imagery: (4, H, W) imagery of each tile.
        seed: scene seed.

    Returns:
        Method, accuracy, mean IoU and per-class IoU of the Gaussian classifier, and
        the accuracy of nearest class means.
    """
    scheme = SCHEMES['enviroatlas']
    if len(labels) > 1:
        fit = (labels[0], imagery[0])
        test = (labels[1], imagery[1])
        split = 'fit on tile 0, evaluated on every other pixel of tile 1'
    else:
        half = labels[0].shape[1] // 2
        fit = (labels[0][:, :half], imagery[0][:, :, :half])
        test = (labels[0][:, half:], imagery[0][:, :, half:])
        split = 'fit on the west half, evaluated on every other pixel of the east half'
    rng = scene_rng(seed, 'calibration')
    sample = rng.integers(0, fit[0].size, FIT_SAMPLES)
    truth = scheme.to_index(fit[0].ravel()[sample])
    features = fit[1].reshape(4, -1)[:, sample].T.astype(np.float64)
    classes = scheme.num_classes
    seen = [c for c in range(classes) if (truth == c).sum() > 4]
    means = np.stack([features[truth == c].mean(0) for c in seen])
    covariances = np.stack(
        [np.cov(features[truth == c].T) + 1e-3 * np.eye(4) for c in seen]
    )
    log_priors = np.log([np.mean(truth == c) for c in seen])
    test_truth = scheme.to_index(test[0][::2, ::2]).ravel()
    # Bands first, (4, n): the products become large matrix multiplications.
    test_features = test[1][:, ::2, ::2].reshape(4, -1).astype(np.float32)
    scores = np.empty((len(seen), len(test_truth)), dtype=np.float32)
    distances = np.empty_like(scores)
    for row, (mean, covariance, log_prior) in enumerate(
        zip(means, covariances, log_priors, strict=True)
    ):
        centred = test_features - mean[:, None].astype(np.float32)
        # With covariance = L L^T, the Mahalanobis distance is |L^-1 x|^2.
        whitening = np.linalg.inv(np.linalg.cholesky(covariance)).astype(np.float32)
        whitened = whitening @ centred
        _, log_det = np.linalg.slogdet(covariance)
        scores[row] = log_prior - 0.5 * (
            np.einsum('ij,ij->j', whitened, whitened) + log_det
        )
        distances[row] = np.einsum('ij,ij->j', centred, centred)
    seen_index = np.asarray(seen)
    everywhere = np.ones(len(test_truth), dtype=bool)
    gaussian = confusion_metrics(
        _confusion(test_truth, seen_index[scores.argmax(0)], everywhere, classes),
        scheme.names,
    )
    nearest = confusion_metrics(
        _confusion(test_truth, seen_index[distances.argmin(0)], everywhere, classes),
        scheme.names,
    )
    return {
        'imagery_classifier': (
            'class Gaussians (full covariance, class priors) on the 4 bands, ' + split
        ),
        'imagery_classifier_accuracy': gaussian['accuracy'],
        'imagery_classifier_miou': gaussian['miou'],
        'imagery_classifier_iou': gaussian['iou'],
        'imagery_nearest_mean_accuracy': nearest['accuracy'],
    }
