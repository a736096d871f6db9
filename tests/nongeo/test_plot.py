import matplotlib.pyplot as plt
import pytest
import torch

from torchgeo_lsr.nongeo.plot import (
    plot_accuracy_vs_k,
    plot_confusions,
    plot_learning_curves,
)


@pytest.fixture(autouse=True)
def _close_figures() -> None:
    yield
    plt.close('all')


def test_accuracy_vs_k_from_fractions_and_run_results() -> None:
    fig = plot_accuracy_vs_k(
        {
            'ce': {1: 0.9, 9: 0.98},
            'rq': {
                '1': {'final_test_accuracy': 0.96},
                '9': {'final_test_accuracy': 0.98},
            },
        }
    )
    axis = fig.axes[0]
    lines = axis.get_lines()
    assert [line.get_label() for line in lines] == ['CE', 'RQ']
    assert list(lines[0].get_xdata()) == [1, 9]
    assert list(lines[1].get_ydata()) == pytest.approx([96.0, 98.0])
    # The top axis gives the label information of each plotted k in bits.
    top = axis.child_axes[0]
    assert [t.get_text() for t in top.get_xticklabels()] == ['0.15', '3.3']
    with pytest.raises(ValueError, match='no results'):
        plot_accuracy_vs_k({})


def test_learning_curves() -> None:
    fig = plot_learning_curves(
        {'rq': [0.5, 0.9], 'ce': [0.4, 0.8, 0.85]}, title='k = 1'
    )
    assert fig.axes[0].get_title() == 'k = 1'
    lines = fig.axes[0].get_lines()
    assert list(lines[1].get_xdata()) == [1, 2, 3]
    assert list(lines[0].get_ydata()) == pytest.approx([50, 90])


def test_confusions_pick_doubling_steps() -> None:
    eye = torch.eye(3, dtype=torch.int64) * 5
    confusions = [(step, eye + (step < 40)) for step in range(10, 101, 10)]
    fig = plot_confusions(confusions)
    titles = [axis.get_title() for axis in fig.axes if axis.get_title()]
    assert [title.split(':')[0] for title in titles] == [
        'step 10',
        'step 20',
        'step 40',
        'step 80',
    ]
    assert titles[-1].endswith('100%')
    chosen = plot_confusions(confusions, steps=[15, 1000], class_names=['a', 'b', 'c'])
    assert [a.get_title() for a in chosen.axes if a.get_title()] == ['step 20: 75%']
    # A record at step 0 still gives a finite doubling sequence.
    assert plot_confusions([(0, eye), (1, eye), (2, eye)]).axes
    with pytest.raises(ValueError, match='no confusion matrices'):
        plot_confusions([])
