from torchgeo_lsr.cli import build_parser


def test_snake_and_kebab_case_spellings_agree() -> None:
    common = ['evaluate', '--pred', 'a.tif', 'b.tif', '--labels', 'c.tif', 'd.tif']
    snake = build_parser().parse_args([*common, '--map_scheme', 'nlcd'])
    kebab = build_parser().parse_args([*common, '--map-scheme', 'nlcd'])
    assert vars(snake) == vars(kebab)
    assert snake.map_scheme == 'nlcd'
    assert snake.pred == ['a.tif', 'b.tif']
    assert build_parser().parse_args(common).map_scheme is None
