"""The plumbing both daemons share: one way to start, one way to refuse."""

import logging
import os

import pytest
from oslo_config import cfg

from glance_registry import process


@pytest.fixture(autouse=True)
def no_request_bound():
    """Lines logged outside a request read ``[-]``: in-process app tests of the
    same run leave their last request bound to this thread (gunicorn's access
    line unbinds it in a daemon)."""
    process.unbind_request()


def _register(conf):
    conf.register_opts(process.server_opts('127.0.0.1', 9999, 4))
    conf.register_opt(cfg.StrOpt('registry_auth_secret'))


def test_a_command_returns_what_starting_returns(tmp_path):
    config = tmp_path / 'good.conf'
    config.write_text('[DEFAULT]\nbind_port = 1234\n')
    seen = []

    def start(conf):
        seen.append(conf.bind_port)
        return 0
    status = process.run(['--config-file', str(config)], _register, 'test', start,
                         logging.getLogger('test'))
    assert (status, seen) == (0, [1234])


def test_a_bad_option_value_refuses_to_start_with_one_line_on_stderr(tmp_path, capsys):
    config = tmp_path / 'bad.conf'
    config.write_text('[DEFAULT]\nworkers = abc\n')
    status = process.run(['--config-file', str(config)], _register, 'test',
                         lambda conf: 0, logging.getLogger('test'))
    assert status == process.EXIT_REFUSED == 2
    err = capsys.readouterr().err
    assert err.startswith('configuration error:') and 'workers' in err
    assert err.count('\n') == 1


@pytest.mark.parametrize('section, line, says', [
    ('DEFAULT', 'workers = 0', '[DEFAULT] workers in {} is not valid: Should be '
                               'greater than or equal to 1'),
    ('DEFAULT', 'bind_port = abc', "[DEFAULT] bind_port in {} is not valid: invalid "
                                   "literal for int() with base 10: 'abc'"),
    ('extra', 'flag = perhaps', '[extra] flag in {} is not valid: Unexpected boolean '
                                'value'),
])
def test_a_bad_value_is_named_with_its_section_and_file(tmp_path, capsys, section,
                                                        line, says):
    # oslo.config says "Value for option workers from LocationInfo(location=
    # <Locations.user: (4, True)>, detail='...') is not valid".
    config = tmp_path / 'glance.conf'
    config.write_text('[%s]\n%s\n' % (section, line))

    def register(conf):
        _register(conf)
        conf.register_opt(cfg.BoolOpt('flag'), group='extra')
    status = process.run(['--config-file', str(config)], register, 'test',
                         lambda conf: 0, logging.getLogger('test'))
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith('configuration error: Value for option ' +
                          says.format(config)), err
    assert 'LocationInfo' not in err and err.count('\n') == 1


def test_a_bad_value_is_named_with_the_file_that_sets_it_of_several(tmp_path,
                                                                     capsys):
    # oslo.config names the last file read with a section of that name: an
    # operator's override file, which the bad value is not in.
    config, override = tmp_path / 'glance-api.conf', tmp_path / 'override.conf'
    config.write_text('[DEFAULT]\nworkers = abc\n')
    override.write_text('[DEFAULT]\ndebug = false\n')
    status = process.run(['--config-file', str(config), '--config-file',
                          str(override)], _register, 'test', lambda conf: 0,
                         logging.getLogger('test'))
    assert status == 2
    assert ('[DEFAULT] workers in %s is not valid' % config) in \
        capsys.readouterr().err


def test_refusing_in_start_logs_the_reason_and_exits_2(caplog):
    def start(conf):
        process.require_secret(conf, 'cannot sign')
        raise AssertionError('not reached')
    log = logging.getLogger('test')
    # oslo.log's setup replaces the root logger's handlers, caplog's among them.
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.ERROR, logger='test'):
            status = process.run([], _register, 'test', start, log)
    finally:
        log.removeHandler(caplog.handler)
    assert status == 2
    assert caplog.messages == ['registry_auth_secret is not set: cannot sign']


def _refuse(conf):
    raise process.Refused('registry_auth_secret is not set: cannot sign')


def test_a_refusal_is_on_stderr_too_when_the_log_is_a_file(tmp_path, capsys):
    # A daemon started by a terminal or a service manager with upstream's log_file
    # must still say why it stopped where it was started.
    log_file = tmp_path / 'glance-api.log'
    config = tmp_path / 'logged.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n' % log_file)
    status = process.run(['--config-file', str(config)], _register, 'test', _refuse,
                         logging.getLogger('test'))
    assert status == 2
    assert capsys.readouterr().err == 'registry_auth_secret is not set: cannot sign\n'
    lines = log_file.read_text().splitlines()
    assert len(lines) == 1 and ' ERROR test ' in lines[0], lines
    # Said once: not followed by the exception that carried it.
    assert lines[0].endswith('] registry_auth_secret is not set: cannot sign'), lines


def test_a_refusal_logged_to_stderr_is_said_once(capsys):
    status = process.run([], _register, 'test', _refuse, logging.getLogger('test'))
    assert status == 2
    err = capsys.readouterr().err
    assert err.count('registry_auth_secret is not set') == 1, err
    assert 'Refused' not in err


@pytest.mark.parametrize('options, words', [
    ('log_file = {tmp}/missing/x.log', 'missing/x.log'),
    ('log_config_append = {tmp}/missing.ini', 'missing.ini'),
    ('use_syslog = true\nsyslog_log_facility = LOG_NOSUCH', 'syslog facility'),
])
def test_logging_that_cannot_be_set_up_refuses_with_one_line(tmp_path, capsys,
                                                             options, words):
    config = tmp_path / 'logged.conf'
    config.write_text('[DEFAULT]\n%s\n' % options.format(tmp=tmp_path))
    status = process.run(['--config-file', str(config)], _register, 'test',
                         lambda conf: 0, logging.getLogger('test'))
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith('logging configuration error: ') and words in err, err
    assert err.count('\n') == 1


@pytest.mark.parametrize('command, on_stderr', [(True, True), (False, False)],
                         ids=['a command: the file and stderr', 'a daemon: the file'])
def test_where_a_configured_log_file_leaves_the_lines(tmp_path, capsys, command,
                                                      on_stderr):
    # glance-manage, glance-scrubber and glance-cache-* read glance-api.conf, whose
    # log_file is the daemon's: upstream's commands log to stderr as well.
    log_file = tmp_path / 'glance-api.log'
    config = tmp_path / 'logged.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n' % log_file)

    def start(conf):
        logging.getLogger('test').info('database upgraded')
        return 0
    status = process.run(['--config-file', str(config)], _register, 'test', start,
                         logging.getLogger('test'), command=command)
    assert status == 0
    assert ('INFO test [-] database upgraded' in capsys.readouterr().err) == on_stderr
    assert 'INFO test [-] database upgraded' in log_file.read_text()


@pytest.mark.parametrize('log_file, written', [
    (None, 'glance-api.log'), ('api.log', 'api.log')],
    ids=['named after the command', 'log_file named in log_dir'])
def test_log_dir_holds_the_file_upstreams_command_would_write(tmp_path, log_file,
                                                              written):
    config = tmp_path / 'logged.conf'
    config.write_text('[DEFAULT]\nlog_dir = %s\n%s' % (
        tmp_path / 'logs', 'log_file = %s\n' % log_file if log_file else ''))
    (tmp_path / 'logs').mkdir()

    def start(conf):
        logging.getLogger('test').info('started')
        return 0
    status = process.run(['--config-file', str(config)], _register, 'test', start,
                         logging.getLogger('test'), prog='glance-api')
    assert status == 0
    assert os.listdir(tmp_path / 'logs') == [written]
    assert 'INFO test [-] started' in (tmp_path / 'logs' / written).read_text()


def test_syslog_lines_are_named_after_the_command(tmp_path, monkeypatch):
    # oslo.log names them after the outermost frame's file: "<frozen runpy>" for
    # the daemons glance-all starts with python -m. The identifier is the
    # process's, set by openlog: the spy records what it was last set to.
    idents = []
    monkeypatch.setattr(process.syslog, 'openlog',
                        lambda ident, *args: idents.append((ident,) + args))
    config = tmp_path / 'syslog.conf'
    config.write_text('[DEFAULT]\nuse_syslog = true\nsyslog_log_facility = local3\n')
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        status = process.run(['--config-file', str(config)], _register, 'test',
                             lambda conf: 0, logging.getLogger('test'),
                             prog='glance-registry')
    finally:
        for handler in set(root.handlers) - set(before):
            root.removeHandler(handler)
    assert status == 0
    assert idents[-1] == ('glance-registry', 0, process.syslog.LOG_LOCAL3)


def _register_deprecated(conf):
    # oslo.log warns of each deprecated option once per process: one per test.
    _register(conf)
    for name in ('show_multiple_locations', 'show_image_direct_url'):
        conf.register_opt(cfg.BoolOpt(name, default=False,
                                      deprecated_for_removal=True,
                                      deprecated_reason='Use the locations API.'))
    # Read after them.
    conf.register_opt(cfg.IntOpt('scrub_pool_size', default=1))


def test_a_deprecated_option_is_warned_of_in_the_log(tmp_path, capsys):
    # As upstream's daemons do: in the log file, in its format, not on stderr alone.
    log_file = tmp_path / 'glance-api.log'
    config = tmp_path / 'old.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\nshow_multiple_locations = true\n'
                      % log_file)
    status = process.run(['--config-file', str(config)], _register_deprecated, 'test',
                         lambda conf: 0, logging.getLogger('test'))
    assert status == 0
    assert 'show_multiple_locations' not in capsys.readouterr().err
    [line] = [line for line in log_file.read_text().splitlines()
              if 'show_multiple_locations' in line]
    assert ' WARNING oslo_config.cfg [-] Deprecated: Option "show_multiple_locations"' \
        in line, line


def test_a_deprecated_option_is_still_said_when_the_config_is_refused(tmp_path,
                                                                      capsys):
    config = tmp_path / 'old.conf'
    config.write_text('[DEFAULT]\nshow_image_direct_url = true\n'
                      'scrub_pool_size = abc\n')
    status = process.run(['--config-file', str(config)], _register_deprecated, 'test',
                         lambda conf: 0, logging.getLogger('test'))
    assert status == 2
    err = capsys.readouterr().err
    assert 'Deprecated: Option "show_image_direct_url"' in err
    assert 'configuration error:' in err


def test_the_default_number_of_workers_is_counted_when_options_are_made(monkeypatch):
    monkeypatch.setattr(process.multiprocessing, 'cpu_count', lambda: 64)
    workers = next(opt for opt in process.server_opts('h', 1, 2) if opt.dest == 'workers')
    assert workers.default == 8
    monkeypatch.setattr(process.multiprocessing, 'cpu_count', lambda: 1)
    workers = next(opt for opt in process.server_opts('h', 1, 2) if opt.dest == 'workers')
    assert workers.default == 2


def _with_secret(secret):
    conf = cfg.ConfigOpts()
    _register(conf)
    conf([])
    conf.set_override('registry_auth_secret', secret)
    return conf


@pytest.mark.parametrize('secret', [
    'change-me', 'CHANGE_ME', 'changeme', ' change me ', 'secret', 'password',
    '<None>', '<your secret>', '---'])
def test_a_placeholder_secret_is_refused_with_how_to_make_one(secret):
    with pytest.raises(process.Refused) as refused:
        process.require_secret(_with_secret(secret), 'unused')
    message = str(refused.value)
    assert 'registry_auth_secret is the placeholder' in message
    assert 'secrets.token_hex(32)' in message


@pytest.mark.parametrize('secret', ['', '   ', None])
def test_an_empty_secret_is_refused(secret):
    with pytest.raises(process.Refused, match='registry_auth_secret is not set: why'):
        process.require_secret(_with_secret(secret), 'why')


@pytest.mark.parametrize('secret', ['3f9a0c7e51d24b8e', 'not-the-registry-secret',
                                    'my secret passphrase'])
def test_a_secret_of_ones_own_is_accepted(secret):
    process.require_secret(_with_secret(secret), 'unused')


@pytest.mark.parametrize('host, loopback', [
    ('127.0.0.1', True), ('127.1.2.3', True), ('::1', True), ('[::1]', True),
    ('localhost', True), ('0.0.0.0', False), ('::', False), ('192.0.2.10', False),
    ('glance.example.org', False)])
def test_loopback_addresses(host, loopback):
    assert process.is_loopback(host) is loopback
