"""The import graph of glance_api, glance_registry and stores, read from the source
without importing it: no module imports itself through a circle, and each imports
only what its layer may. And the whole API imports with peewee unavailable."""

import ast
import functools
import os
import pathlib
import subprocess
import sys
import textwrap



ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ('glance_api', 'glance_registry', 'stores')

# Who may import whom among the three packages: a module imports only modules under
# the prefixes its most specific key lists. New rules go here, e.g. glance_api's
# layers (http < access < images < data < v2, each importing only those below it).
_API_BELOW = {
    # glance_api's layers, lowest first; each imports only the ones below it (and
    # the registry's contract half and the stores) and the ground (_API_GROUND).
    'glance_api.http': (),
    'glance_api.access': ('glance_api.http',),
    'glance_api.images': ('glance_api.http', 'glance_api.access'),
    # The metadata definitions catalog beside images (neither knows the other):
    # its documents, schemas and policy verdicts.
    'glance_api.metadefs': ('glance_api.http', 'glance_api.access'),
    'glance_api.data': ('glance_api.http', 'glance_api.access', 'glance_api.images'),
    'glance_api.v2': ('glance_api.http', 'glance_api.access', 'glance_api.images',
                      'glance_api.metadefs', 'glance_api.data'),
}
_API_OUTSIDE = ('glance_registry.client', 'glance_registry.process',
                'glance_registry.metrics', 'glance_registry.header_gate',
                'glance_registry.request_ids', 'stores')
# What every layer may import: the Services record, option types, notify(), and
# the engine of the operator's regular expressions.
_API_GROUND = ('glance_api.services', 'glance_api.option_types',
               'glance_api.notifications', 'glance_api.patterns')

LAYERS = {
    'stores': ('stores',),
    # The daemon half enforces the API's own rules on every write
    # (glance_registry.guard): it imports the modules that define them, and the
    # stores that say which locations exist; nothing else of the API.
    'glance_registry': ('glance_registry', 'stores', 'glance_api.access.policy',
                        'glance_api.access.protections',
                        'glance_api.data.import_filtering', 'glance_api.data.staging'),
    # The contract half: anyone may import it, so it imports nothing of the daemon.
    'glance_registry.client': ('glance_registry.client', 'glance_registry.process',
                               'glance_registry.metrics', 'glance_registry.request_ids'),
    'glance_registry.process': ('glance_registry.client', 'glance_registry.process',
                                'glance_registry.metrics', 'glance_registry.header_gate',
                                'glance_registry.request_ids'),
    # Both daemons' Prometheus metrics, also recorded by the registry client.
    'glance_registry.metrics': ('glance_registry.metrics',),
    'glance_registry.header_gate': ('glance_registry.header_gate',
                                    'glance_registry.request_ids'),
    # How both daemons make, send and accept request ids.
    'glance_registry.request_ids': ('glance_registry.request_ids',),
    # The API talks to the registry only through its contract half; its top-level
    # modules (app, cmd, opts, all_in_one) compose every layer.
    'glance_api': ('glance_api',) + _API_OUTSIDE,
    **{ground: _API_GROUND for ground in _API_GROUND},
    **{layer: (layer,) + _API_GROUND + below + _API_OUTSIDE
       for layer, below in _API_BELOW.items()},
}

# Libraries of the registry's database, which only the daemon half may load.
DATABASE_LIBRARIES = ('peewee', 'playhouse')
# Every import of the contract half also runs these packages' __init__ modules.
CONTRACT = ('glance_registry.client', 'glance_registry.process',
            'glance_registry.metrics', 'glance_registry.header_gate',
            'glance_registry.request_ids', 'glance_registry')


def _under(module, prefix):
    return module == prefix or module.startswith(prefix + '.')


@functools.cache
def _modules():
    """``{module name: path}`` of every module of the three packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob('*.py')):
            parts = path.relative_to(ROOT).with_suffix('').parts
            if parts[-1] == '__init__':
                parts = parts[:-1]
            modules['.'.join(parts)] = path
    return modules


def _is_package(module):
    return _modules()[module].name == '__init__.py'


@functools.cache
def _imports(module):
    """``{(imported, line)}``: the modules of the three packages ``module`` imports,
    and the top-level names of the others (``peewee``, ``flask``...)."""
    modules = _modules()
    path = modules[module]
    package = module if _is_package(module) else module.rpartition('.')[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add((_known(alias.name), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')
                anchor = anchor[:len(anchor) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = '%s.%s' % (base, alias.name)
                # "from package import module" imports the module; "from module
                # import name" the module itself.
                found.add((submodule if submodule in modules else _known(base),
                           node.lineno))
    return frozenset(found)


def _runtime_nodes(tree):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports only a
    type checker reads: they make no circle and cross no layer at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING') or (
        isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING')


def _known(name):
    """The deepest module of the three packages ``name`` names, else its top level."""
    modules = _modules()
    parts = name.split('.')
    for end in range(len(parts), 0, -1):
        if '.'.join(parts[:end]) in modules:
            return '.'.join(parts[:end])
    return parts[0]


def _edges(module):
    return {target for target, _line in _imports(module) if target in _modules()}


def _circles():
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in _edges(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1 or module in _edges(module):
                found.append(component)

    for module in sorted(_modules()):
        if module not in index:
            visit(module)
    return found


def test_the_graph_is_read_from_every_package():
    modules = _modules()
    for package in PACKAGES:
        assert package in modules
    # The reader resolves the import forms the code uses.
    assert 'glance_registry.client.errors' in _edges('glance_api.http.errors')
    assert 'glance_registry.images.records' in _edges('glance_registry.images.writes')
    assert 'peewee' in {target for target, _ in _imports('glance_registry.db')}


def test_no_module_imports_itself_through_a_circle():
    assert [sorted(circle) for circle in _circles()] == []


def _allowed(module):
    key = max((prefix for prefix in LAYERS if _under(module, prefix)), key=len)
    return LAYERS[key]


def test_every_module_imports_only_what_its_layer_may():
    wrong = ['%s:%d imports %s' % (module, line, target)
             for module in sorted(_modules())
             for target, line in sorted(_imports(module))
             if target in _modules()
             and not any(_under(target, prefix) for prefix in _allowed(module))]
    assert not wrong


def test_the_contract_half_loads_neither_the_database_nor_the_daemon():
    contract = [module for module in _modules()
                if any(_under(module, prefix) for prefix in CONTRACT[:-1])
                or module in CONTRACT[-1:]]
    assert 'glance_registry.client.registry_client' in contract
    wrong = ['%s:%d imports %s' % (module, line, target)
             for module in sorted(contract)
             for target, line in sorted(_imports(module))
             if target in DATABASE_LIBRARIES
             or (_under(target, 'glance_registry') and target not in contract)]
    assert not wrong


def test_the_api_imports_no_database_library():
    wrong = ['%s:%d imports %s' % (module, line, target)
             for module in sorted(_modules()) if _under(module, 'glance_api')
             for target, line in sorted(_imports(module))
             if target in DATABASE_LIBRARIES]
    assert not wrong


def test_every_api_module_imports_with_peewee_unavailable():
    """Proves at run time what the graph says: the API process never loads peewee,
    the models or any other module of the registry's daemon half."""
    program = textwrap.dedent('''
        import importlib
        import pkgutil
        import sys

        for library in %r:
            sys.modules[library] = None   # "import peewee" now raises ImportError
        import glance_api.app
        import glance_api.cmd
        import glance_api
        for found in pkgutil.walk_packages(glance_api.__path__, 'glance_api.'):
            importlib.import_module(found.name)
        loaded = sorted(name for name in sys.modules
                        if name.startswith('glance_registry'))
        print(' '.join(loaded))
    ''' % (DATABASE_LIBRARIES,))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, '-c', program], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert 'glance_registry.client.registry_client' in loaded
    assert [name for name in loaded
            if not any(_under(name, prefix) for prefix in CONTRACT[:-1])
            and name not in CONTRACT[-1:]] == []
