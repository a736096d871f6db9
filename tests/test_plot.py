import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from torchgeo_lsr.plot import (
    class_colormap,
    image_rgb,
    plot_class_maps,
    plot_class_scores,
    plot_cooccurrence,
    plot_prediction,
    plot_prior_stages,
    plot_probabilities,
)
from torchgeo_lsr.priors import Cooccurrence, PriorBuilder
from torchgeo_lsr.schemes import generic_scheme, get_scheme

SCHEME = get_scheme('enviroatlas')


@pytest.fixture(autouse=True)
def _close_figures() -> None:
    yield
    plt.close('all')


def legend_labels(fig: plt.Figure) -> list[str]:
    return [text.get_text() for legend in fig.legends for text in legend.get_texts()]


def test_colormap_uses_the_scheme_colours_and_white_for_ignored() -> None:
    cmap = class_colormap(SCHEME)
    assert SCHEME.num_classes + 1 == cmap.N
    for index, colour in enumerate(SCHEME.colors):
        assert matplotlib.colors.to_hex(cmap(index)) == colour.lower()
    assert matplotlib.colors.to_hex(cmap(SCHEME.num_classes)) == '#ffffff'
    # Schemes without colours get generated ones, one per class.
    plain = generic_scheme([3, 7, 9])
    assert class_colormap(plain).N == 4


def test_image_rgb_stretches_to_unit_range() -> None:
    image = torch.linspace(0, 1000, 4 * 20 * 20).reshape(4, 20, 20)
    rgb = image_rgb(image)
    assert rgb.shape == (20, 20, 3)
    assert rgb.min() == 0
    assert rgb.max() == 1
    grey = image_rgb(image[:1])
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])


def test_class_maps_and_prediction_panels() -> None:
    labels = torch.randint(0, SCHEME.num_classes, (16, 16))
    fig = plot_class_maps(torch.rand(4, 16, 16), {'a': labels, 'b': labels}, SCHEME)
    assert [axis.get_title() for axis in fig.axes] == ['image', 'a', 'b']
    assert legend_labels(fig) == list(SCHEME.names)
    prior = torch.rand(SCHEME.num_classes, 16, 16)
    fig = plot_prediction(
        torch.rand(4, 16, 16), prior, prior.log(), prior.log(), SCHEME, labels
    )
    assert [axis.get_title() for axis in fig.axes][-1] == 'labels'
    assert len(fig.axes) == 5


def test_probabilities_one_panel_per_class() -> None:
    prior = torch.softmax(torch.randn(SCHEME.num_classes, 12, 12), 0)
    fig = plot_probabilities(prior, SCHEME, title='prior')
    titles = [axis.get_title() for axis in fig.axes if axis.get_title()]
    # Long names wrap onto two lines.
    assert [title.replace('\n', ' ') for title in titles] == list(SCHEME.names)
    assert fig.get_suptitle() == 'prior'
    with pytest.raises(ValueError, match=r'expected \(5, H, W\)'):
        plot_probabilities(prior[:3], SCHEME)


def test_prior_stages_grid() -> None:
    fine = generic_scheme([1, 2, 3], ['water', 'built', 'green'])
    matrix = Cooccurrence(np.eye(3), fine, (11, 21, 41))
    codes = np.repeat(np.array([[11, 21, 41]]), 30, axis=0).repeat(10, axis=1)
    stages = PriorBuilder(matrix, sigma=2.0, kernel_size=7).stages(codes)
    fig = plot_prior_stages(stages, fine, classes=['built'])
    assert len(fig.axes) == len(stages) * 2
    assert [axis.get_ylabel() for axis in fig.axes[::2]] == list(stages)
    assert fig.axes[1].get_title() == 'built'


def test_cooccurrence_heat_map_names_both_schemes() -> None:
    nlcd = get_scheme('nlcd')
    fine = generic_scheme([1, 2], ['water', 'land'])
    matrix = Cooccurrence(
        np.array([[0.9, 0.2, 0.0], [0.1, 0.8, 0.0]]), fine, (11, 41, 95)
    )
    fig = plot_cooccurrence(matrix, nlcd)
    axis = fig.axes[0]
    columns = [label.get_text() for label in axis.get_xticklabels()]
    assert columns == ['11 Open Water', '41 Deciduous Forest']  # 95: no information
    assert [label.get_text() for label in axis.get_yticklabels()] == ['water', 'land']
    assert sorted(text.get_text() for text in axis.texts) == ['10', '20', '80', '90']
    everything = plot_cooccurrence(matrix, informative_only=False, annotate=False)
    ticks = everything.axes[0].get_xticklabels()
    assert [label.get_text() for label in ticks] == ['11', '41', '95']
    assert not everything.axes[0].texts


def test_class_scores_bars() -> None:
    rows = {
        'prior argmax': {'miou': 0.4, 'per_class_iou': {'water': 0.5, 'land': 0.3}},
        'r': {'miou': 0.6, 'per_class_iou': {'water': 0.7, 'land': 0.5}},
        'no classes': {'miou': 0.1},
    }
    fig = plot_class_scores(rows)
    axis = fig.axes[0]
    heights = sorted(round(patch.get_height()) for patch in axis.patches)
    assert heights == [30, 50, 50, 70]
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert labels == ['prior argmax (mIoU 40.0)', 'r (mIoU 60.0)']
    with pytest.raises(ValueError, match='no row has'):
        plot_class_scores({'x': {'miou': 0.2}})
