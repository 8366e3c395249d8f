"""The Swift driver's credentials file (``swift_store_config_file``), without a Swift.

Keystone is not started here: these check the keystoneauth1 plugin each reference turns
into; the tempauth path is exercised against a real Swift in test_store.py.
"""

import pytest

from stores import errors
from stores.swift import accounts as swift_accounts


def references(tmp_path, text):
    path = tmp_path / 'glance-swift.conf'
    path.write_text(text)
    return swift_accounts.read_references(str(path))


def test_tempauth_reference(tmp_path):
    refs = references(tmp_path, '[ref1]\nauth_version = 1\nauth_address = '
                                'http://swift:8080/auth/v1.0\nuser = "test:tester"\n'
                                'key = testing\n')
    assert refs['ref1']['auth_version'] == '1'
    assert refs['ref1']['user'] == 'test:tester'   # quotes stripped, as upstream


@pytest.mark.parametrize('version', ['2', '3', None])
def test_keystone_versions_mean_v3(tmp_path, version):
    line = 'auth_version = %s\n' % version if version else ''
    refs = references(tmp_path, '[ref1]\n%sauth_address = http://ks:5000\n'
                                'user = service:glance\nkey = secret\n' % line)
    assert refs['ref1']['auth_version'] == '3'


@pytest.mark.parametrize('text, missing', [
    ('[ref1]\nauth_address = http://ks:5000\nuser = p:u\n', 'key'),
    ('[ref1]\nuser = p:u\nkey = k\n', 'auth_address'),
    ('[ref1]\nauth_address = http://ks:5000\napplication_credential_id = abc\n',
     'application_credential_secret'),
])
def test_incomplete_reference_is_refused(tmp_path, text, missing):
    with pytest.raises(errors.BadConfiguration, match=missing):
        references(tmp_path, text)


def test_unknown_auth_version_is_refused(tmp_path):
    with pytest.raises(errors.BadConfiguration, match='auth_version'):
        references(tmp_path, '[ref1]\nauth_version = 4\nauth_address = x\nuser = u\n'
                             'key = k\n')


def test_password_reference_becomes_a_v3_password_plugin(tmp_path):
    refs = references(tmp_path, '[ref1]\nauth_address = http://ks:5000/identity\n'
                                'user = service:glance\nkey = secret\n'
                                'user_domain_name = Users\n')
    session = swift_accounts.keystone_session(refs['ref1'])
    auth = session.auth
    assert type(auth).__name__ == 'Password'
    assert auth.auth_url == 'http://ks:5000/identity/v3'
    method = auth.auth_methods[0]
    assert (method.username, method.password, method.user_domain_name) == (
        'glance', 'secret', 'Users')
    assert (auth.project_name, auth.project_domain_id) == ('service', 'default')


def test_application_credential_reference_becomes_its_plugin(tmp_path):
    refs = references(tmp_path, '[ref1]\nauth_address = http://ks:5000/v3\n'
                                'application_credential_id = abc\n'
                                'application_credential_secret = s3cret\n')
    auth = swift_accounts.keystone_session(refs['ref1']).auth
    assert type(auth).__name__ == 'ApplicationCredential'
    assert auth.auth_url == 'http://ks:5000/v3'
    method = auth.auth_methods[0]
    assert (method.application_credential_id,
            method.application_credential_secret) == ('abc', 's3cret')
