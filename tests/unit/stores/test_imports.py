"""What the stores package may import: nothing of the API or the registry, and no
circle among its own modules (read from the sources, so nothing is imported)."""

import ast
import pathlib

import stores

ROOT = pathlib.Path(stores.__file__).parent


def module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imports_of(path, modules=frozenset()):
    """The modules ``path`` imports, as dotted names. ``from a import b`` imports
    ``a.b`` when that is one of ``modules``, else ``a``: the package a module is in
    is loaded first, but importing from it is no circle."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = '%s.%s' % (node.module, alias.name)
                names.add(submodule if submodule in modules else node.module)
    return names


def graph():
    """Each module of stores, and the modules of stores it imports."""
    sources = {module_name(path): path for path in ROOT.rglob('*.py')}
    return {name: {imported for imported in imports_of(path, frozenset(sources))
                   if imported in sources and imported != name}
            for name, path in sources.items()}


def test_stores_import_nothing_of_the_api_or_the_registry():
    offending = {module_name(path): sorted(name for name in imports_of(path)
                                           if name.split('.')[0] in ('glance_api',
                                                                     'glance_registry'))
                 for path in ROOT.rglob('*.py')}
    assert {name: found for name, found in offending.items() if found} == {}


def test_no_module_of_stores_imports_itself_round_a_circle():
    edges = graph()
    circles = []

    def visit(name, path):
        for imported in sorted(edges[name]):
            if imported in path:
                circles.append(path[path.index(imported):] + [imported])
            else:
                visit(imported, path + [imported])

    for start in sorted(edges):
        visit(start, [start])
    assert circles == []


def test_the_swift_package_is_in_parts():
    assert set(graph()) >= {'stores.swift', 'stores.swift.accounts',
                            'stores.swift.failures', 'stores.swift.reader',
                            'stores.swift.writer', 'stores.memory'}
