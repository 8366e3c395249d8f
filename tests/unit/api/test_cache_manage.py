"""``glance-cache-manage`` (``glance_api.cache_manage``) without an API: what it does
before it sends anything."""

import io

import pytest

from glance_api import cache_manage


@pytest.mark.parametrize('command', ['delete-all-cached-images',
                                     'delete-all-queued-images'])
def test_delete_all_without_an_answer_deletes_nothing_and_says_so(
        monkeypatch, capsys, command):
    # From cron or a pipe, standard input is empty: input() raises EOFError.
    monkeypatch.setattr('sys.stdin', io.StringIO(''))
    sent = []
    monkeypatch.setattr(cache_manage, '_run', lambda *args: sent.append(args) or 0)
    assert cache_manage.main([command]) == 1
    assert sent == []
    assert 'Nothing deleted: no answer on standard input (--force deletes without ' \
           'asking).' in capsys.readouterr().err
