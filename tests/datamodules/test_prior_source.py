"""The prior source: precomputed or built, fusion rules, per-tile matrices."""

from importlib import resources
from pathlib import Path

import pytest

from torchgeo_lsr.datamodules.prior_source import PriorSource, fusion_rule_set
from torchgeo_lsr.priors import load_cooccurrence


def load_cooccurrence_text(name: str) -> str:
    """A bundled matrix's CSV text."""
    return (resources.files('torchgeo_lsr.priors') / 'data' / f'{name}.csv').read_text()


def test_fusion_rule_set() -> None:
    assert fusion_rule_set(None, []) is None
    assert fusion_rule_set('none', ['roads', 'buildings']) is None
    # The paper's rules, restricted to the layers given.
    rules = fusion_rule_set(None, ['roads'])
    assert rules is not None
    assert set(rules.layers) == {'roads'}
    full = fusion_rule_set(
        'enviroatlas', ['roads', 'buildings', 'waterways', 'waterbodies']
    )
    assert full is not None
    assert set(full.layers) == {'roads', 'buildings', 'waterways', 'waterbodies'}
    with pytest.raises(ValueError, match='the fusion rules need layers'):
        fusion_rule_set('enviroatlas', ['roads'])


def test_prior_source_builds_or_reads() -> None:
    with pytest.raises(ValueError, match='prior_paths, or coarse_paths'):
        PriorSource(cooccurrence=None, precomputed=False, coarse=True)
    with pytest.raises(ValueError, match='prior_paths, or coarse_paths'):
        PriorSource(
            cooccurrence='enviroatlas-pittsburgh', precomputed=False, coarse=False
        )
    with pytest.raises(TypeError):
        PriorSource('enviroatlas-pittsburgh', False, True)  # type: ignore[call-arg]
    built = PriorSource(
        cooccurrence='enviroatlas-pittsburgh',
        precomputed=False,
        coarse=True,
        sigma=4.0,
        kernel_size=9,
        layers=['roads'],
        coarse_lookup=[0, 11],
    )
    assert built.builder is not None
    assert built.builder.sigma == 4.0
    assert built.builder.coarse_nodata == (0.0,)
    assert built.rule_layers == ('roads',)
    assert built.halo == built.builder.halo >= 4
    assert built.scheme is built.builder.scheme
    assert built.coarse_lookup == [0, 11]
    read = PriorSource(
        cooccurrence='enviroatlas-pittsburgh',
        precomputed=True,
        coarse=False,
        label_scheme='enviroatlas-eval',
    )
    assert read.builder is None
    assert read.halo == 0
    assert read.rule_layers == ()
    assert read.tile_priors(['a.tif']) is None
    assert read.scheme is not None
    assert read.scheme.name == 'enviroatlas-eval'


def test_per_tile_builders_share_a_matrix(tmp_path: Path) -> None:
    source = PriorSource(
        cooccurrence='enviroatlas-pittsburgh',
        precomputed=False,
        coarse=True,
        coarse_lookup=[0, 11],
    )
    assert source.tile_builders(['a.tif', 'b.tif']) is None
    priors = source.tile_priors(['a.tif'])
    assert priors is not None
    assert priors.builder is source.builder
    assert priors.tile_builders is None
    assert priors.coarse_lookup == (0.0, 11.0)
    source.tile_cooccurrences.update(
        {'b.tif': 'enviroatlas-durham', 'c.tif': 'enviroatlas-durham'}
    )
    builders = source.tile_builders(['a.tif', 'b.tif', 'c.tif'])
    assert builders is not None
    assert builders[0] is source.builder
    assert builders[1] is builders[2] is not source.builder
    assert builders[1].sigma == source.builder.sigma
    durham = load_cooccurrence('enviroatlas-durham')
    assert builders[1].cooccurrence.matrix.tolist() == durham.matrix.tolist()
    # Grass merged into trees: a matrix with other fine classes cannot serve the
    # same data module.
    header, *rows = load_cooccurrence_text('enviroatlas-durham').splitlines()
    *kept, trees, grass = (row.split(',') for row in rows)
    merged = trees[:2] + [
        str(float(a) + float(b)) for a, b in zip(trees[2:], grass[2:], strict=True)
    ]
    lines = [header, *(','.join(row) for row in (*kept, merged))]
    (tmp_path / 'four.csv').write_text('\n'.join(lines) + '\n')
    source.tile_cooccurrences['d.tif'] = str(tmp_path / 'four.csv')
    with pytest.raises(ValueError, match='has fine classes'):
        source.tile_builders(['d.tif'])
