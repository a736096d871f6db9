"""Documents tables and the Coarse2Fine NYT adapter."""

import pickle
from pathlib import Path

import pytest

from tests.nongeo.text.common import EXAMPLE, write_csv
from torchgeo_lsr.nongeo.text.documents import load_coarse2fine_nyt, read_documents
from torchgeo_lsr.nongeo.text.taxonomy import NYT_TAXONOMY


def test_read_documents_formats(tmp_path: Path) -> None:
    table = read_documents(EXAMPLE)
    assert list(table.columns) == ['text', 'coarse', 'fine']
    assert len(table) == 90
    assert set(table['coarse']) == {'sports', 'business'}
    jsonl = tmp_path / 'docs.jsonl'
    jsonl.write_text(
        '{"body": "A putt", "group": "sports"}\n'
        '{"body": "Oil rose", "group": "business", "topic": "energy"}\n'
    )
    table = read_documents(jsonl, 'body', 'group', 'topic')
    assert list(table['fine']) == [None, 'energy']
    table = read_documents(jsonl, 'body', 'group', None)
    assert list(table['fine']) == [None, None]


def test_read_documents_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / 'docs.csv', [('a golf text', 'sports')], 'text,group')
    with pytest.raises(ValueError, match=r"no column 'coarse' \(coarse_column\)"):
        read_documents(path)
    with pytest.raises(ValueError, match="no column 'fine'"):
        read_documents(path, coarse_column='group')
    path = write_csv(tmp_path / 'blank.csv', [('', 'sports', '')], 'text,coarse,fine')
    with pytest.raises(ValueError, match="without a value in 'text'"):
        read_documents(path)
    with pytest.raises(FileNotFoundError):
        read_documents(tmp_path / 'absent.csv')
    (tmp_path / 'docs.xlsx').write_text('')
    with pytest.raises(ValueError, match='unknown format'):
        read_documents(tmp_path / 'docs.xlsx')


def test_coarse2fine_nyt_adapter(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            'text': ['yields rose', 'a late goal', 'the senate voted'],
            'label': ['stocks_and_bonds', 'soccer', 'politics'],
        }
    )
    with (tmp_path / 'df.pkl').open('wb') as handle:
        pickle.dump(frame, handle)
    table = load_coarse2fine_nyt(tmp_path)
    assert list(table['coarse']) == ['business', 'sports', 'politics']
    assert list(table['fine']) == ['stocks and bonds', 'soccer', None]
    assert read_documents(tmp_path).equals(table)
    assert set(NYT_TAXONOMY['politics']) >= {'gun control', 'military'}
    frame['label'] = ['stocks_and_bonds', 'cricket', 'politics']
    frame.to_pickle(tmp_path / 'bad.pkl')
    with pytest.raises(ValueError, match='cricket'):
        load_coarse2fine_nyt(tmp_path, file='bad.pkl')
    with pytest.raises(ValueError, match="no column 'body'"):
        load_coarse2fine_nyt(tmp_path, text_column='body')
    with pytest.raises(FileNotFoundError, match='Coarse2Fine'):
        load_coarse2fine_nyt(tmp_path / 'missing')
