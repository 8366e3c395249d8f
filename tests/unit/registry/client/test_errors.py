"""Registry errors: each carries a reason, travels whole over the wire, and every
reason is documented."""

import ast
import pathlib
import re

import pytest

from glance_registry.client import errors

ROOT = pathlib.Path(__file__).resolve().parents[4]
PACKAGE = ROOT / 'glance_registry'
DOC = ROOT / 'docs' / 'registry-api.rst'

CLASSES = [errors.BadRequest, errors.Unauthorized, errors.Forbidden, errors.NotFound,
           errors.MethodNotAllowed, errors.Conflict, errors.TooLarge,
           errors.Unavailable, errors.RegistryError]


@pytest.mark.parametrize('cls', CLASSES, ids=lambda cls: cls.__name__)
def test_an_error_comes_back_from_the_wire_as_it_was_raised(cls):
    raised = cls('Image x is held by another upload', reason='taken_over',
                 image_id='x', current_status='saving')
    restored = errors.from_response(cls.status, raised.to_dict())
    assert type(restored) is cls
    assert (restored.message, restored.reason, restored.details) == (
        raised.message, 'taken_over', {'image_id': 'x', 'current_status': 'saving'})


def test_an_answer_without_a_reason_gives_none():
    restored = errors.from_response(409, {'error': {'code': 'conflict',
                                                    'message': 'm'}})
    assert (type(restored), restored.reason, restored.details) == (
        errors.Conflict, None, {})


def test_an_answer_without_an_error_body_is_known_by_its_status():
    restored = errors.from_response(404, b'<html>')
    assert (type(restored), restored.message, restored.reason) == (
        errors.NotFound, 'registry answered 404', None)


def test_an_invalid_value_names_the_field_at_fault():
    error = errors.BadRequest.invalid_value("'name' is too long", 'name')
    assert error.to_dict() == {'error': {
        'code': 'bad_request', 'reason': 'invalid_value', 'field': 'name',
        'message': "'name' is too long"}}
    assert 'field' not in errors.BadRequest.invalid_value('Too many').details


def test_a_reason_is_required():
    with pytest.raises(TypeError):
        errors.Conflict('no reason')


def _calls():
    """``(path, line, call)`` of every call in glance_registry's modules."""
    for path in sorted(PACKAGE.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                yield path.relative_to(ROOT), node.lineno, node


def _error_class(call):
    func = call.func
    if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == 'errors' and func.attr[:1].isupper()):
        return func.attr
    return None


def test_every_error_the_registry_makes_gives_a_reason():
    missing = ['%s:%d errors.%s' % (path, line, _error_class(call))
               for path, line, call in _calls()
               if _error_class(call) and not any(kw.arg in ('reason', None)
                                                 for kw in call.keywords)]
    assert not missing


def _reasons_in_code():
    """``{reason: status}`` of every error the code makes."""
    found = {'invalid_value': 400}    # errors.BadRequest.invalid_value
    for _path, _line, call in _calls():
        name = _error_class(call)
        for kw in call.keywords:
            if name and kw.arg == 'reason' and isinstance(kw.value, ast.Constant):
                found[kw.value.value] = getattr(errors, name).status
    return found


def _reasons_in_table():
    """``{reason: status}`` of the doc's table of reasons."""
    lines = DOC.read_text().split('\n')
    start = lines.index('Reasons')
    borders = [i for i in range(start, len(lines)) if lines[i].startswith('=====')]
    rows = lines[borders[1] + 1:borders[2]]
    return {m.group(1): int(m.group(2)) for m in
            (re.match(r'``(\w+)``\s+(\d{3})\s', row) for row in rows) if m}


# Raised by the client itself, never answered by the registry: the doc says so
# after the table.
CLIENT_REASONS = {'no_answer', 'unreachable', 'unexpected_answer'}


def test_every_reason_is_documented_with_its_status_and_every_one_documented_is_used():
    in_code = _reasons_in_code()
    assert {reason: status for reason, status in in_code.items()
            if reason not in CLIENT_REASONS} == _reasons_in_table()
    text = DOC.read_text()
    for reason in CLIENT_REASONS:
        assert '``%s``' % reason in text
