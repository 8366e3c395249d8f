"""SQL text built once per query shape; each call binds only its values.

peewee renders a query's SQL text by walking its expression tree on every call: for
a list page (visibility, filters, sort, keyset) that walk was most of the registry's
CPU per list. The text depends only on the query's *shape* (the database, which
filters there are, the sort, the caller's kind), never on the values it compares.

So a builder makes the peewee query with every value passed through ``bind`` (a
``Binder``), which stands a placeholder node in for it. The first call of a shape
renders the query with peewee and records, for each parameter of the text, which
bound value it is and the converter peewee applied to it (the field's
``db_value``, as the comparison picks it); later calls of the shape build the query
again (no text: that is cheap), and convert their values the same way. Only text and
parameter positions are kept, per process: never a value or a result.

The caller names the shape (``key``): everything its builder branches on, other
than the bound values. A value left unbound would be a parameter that no slot
accounts for: that shape is then never cached, and every call renders it with
peewee (correct, only slower), after one error in the log.
"""

import logging

import peewee

LOG = logging.getLogger(__name__)

# Shapes kept per process; a list's query string picks its shape, so the number of
# shapes is up to the clients: past this many the cache starts over.
MAX_SHAPES = 512

_cache = {}


class Binder:
    """Collects a query's values in the order its builder binds them."""

    __slots__ = ('values', 'nulls')

    def __init__(self):
        self.values = []
        # Where a None was bound: peewee writes "IS NULL" (text), not a parameter,
        # so where the Nones are is part of the shape.
        self.nulls = []

    def __call__(self, value):
        if value is None:
            self.nulls.append(len(self.values))
            return None
        self.values.append(value)
        return _Slot(self, len(self.values) - 1)


def unbound(value):
    """The ``bind`` of a query built for peewee alone: every value as it is."""
    return value


class _Slot(peewee.Node):
    """The ``index``-th bound value, rendered as peewee renders a plain value."""

    def __init__(self, binder, index):
        self.binder = binder
        self.index = index

    def __sql__(self, ctx):
        plan = getattr(ctx, 'plan', None)
        if plan is not None:
            if ctx.state.value_literals:
                plan.literal = True   # the value is written into the text
            plan.append((self.index, ctx.state.converter))
        return ctx.value(self.binder.values[self.index])


class _Plan(list):
    literal = False


class _Recording(peewee.Context):
    """A peewee context that records where each bound value lands (only this one:
    the throw-away contexts peewee makes with ``as_new`` record nothing)."""

    __slots__ = ('plan',)


def statements(db, key, build, values=None):
    """``[(sql, params), ...]`` of the queries ``build(bind)`` returns (a list of
    peewee queries), for ``db``; their text rendered once per ``key`` (the shape).

    ``values``: the values ``build`` binds, in its order, where the caller can
    list them without building the queries (and binds no None): a shape already
    rendered is then not built at all."""
    if values is not None:
        plans = _cache.get(_shape(db, key, ()))
        if plans is not None and plans is not _UNCACHEABLE:
            return [(sql, [converter(values[index]) if converter else values[index]
                           for index, converter in plan])
                    for sql, plan in plans]
    binder = Binder()
    queries = build(binder)
    values = binder.values
    shape = _shape(db, key, tuple(binder.nulls))
    plans = _cache.get(shape)
    if plans is None:
        rendered, plans = _render(db, queries, values)
        if len(_cache) >= MAX_SHAPES:
            _cache.clear()
        _cache[shape] = plans
        if plans is _UNCACHEABLE:
            LOG.error('query shape %r binds a value it did not name: its SQL is '
                      'rendered on every call', key)
        return rendered
    if plans is _UNCACHEABLE:
        return _render(db, queries, values)[0]
    return [(sql, [converter(values[index]) if converter else values[index]
                   for index, converter in plan])
            for sql, plan in plans]


_UNCACHEABLE = object()


def _shape(db, key, nulls):
    """The cache's key: the database's kind and placeholders, the caller's
    ``key``, and where ``bind`` was given a None."""
    return type(db), db.param, db.quote, key, nulls


def _render(db, queries, values):
    """peewee's ``(sql, params)`` of each query, and their plans (or
    ``_UNCACHEABLE``)."""
    rendered, plans = [], []
    for query in queries:
        context = _Recording(**db.get_context_options())
        context.plan = _Plan()
        sql, params = context.sql(query).query()
        rendered.append((sql, params))
        plan = tuple(context.plan)
        replayed = [converter(values[index]) if converter else values[index]
                    for index, converter in plan]
        if context.plan.literal or replayed != params:
            plans = _UNCACHEABLE
        elif plans is not _UNCACHEABLE:
            plans.append((sql, plan))
    return rendered, plans


def clear():
    """Forget every shape (tests; a process never needs to)."""
    _cache.clear()


_NULL = peewee.SQL('NULL')


def insert(db, model, rows, ignore_conflicts=False):
    """Insert ``rows`` (dicts naming the same fields of ``model``) into ``model``,
    skipping rows that conflict if ``ignore_conflicts`` (``insert_statement``)."""
    db.execute_sql(*insert_statement(db, model, rows, ignore_conflicts))


def insert_statement(db, model, rows, ignore_conflicts=False):
    """``(sql, params)`` of ``insert``'s INSERT: its text rendered once per shape
    (the model, the names, the number of rows), each value converted by its field
    (``db_value``) as peewee converts a plain value it inserts. A create inserts its
    properties and tags this way: rendering them was a quarter of the registry's
    CPU for an image with ten properties. A None is written as NULL in the text
    (where the Nones are is part of the shape); rows holding an expression (a
    subquery reading the image's status) are rendered by peewee each time."""
    def query_of(values):
        query = model.insert_many(values)
        return query.on_conflict_ignore() if ignore_conflicts else query
    if any(isinstance(value, peewee.Node) for row in rows for value in row.values()):
        return query_of(rows).bind(db).sql()
    names = tuple(rows[0])
    fields = [model._meta.fields[name] for name in names]
    nulls = tuple(tuple(row[name] is None for name in names) for row in rows)
    # What build binds, in its order: a shape seen before is not built again.
    values = [field.db_value(row[name]) for row in rows
              for name, field in zip(names, fields) if row[name] is not None]

    def build(bind):
        return [query_of([{name: _NULL if row[name] is None
                           else bind(field.db_value(row[name]))
                           for name, field in zip(names, fields)} for row in rows])]
    (sql, params), = statements(
        db, ('insert', model._meta.table_name, names, len(rows), ignore_conflicts,
             nulls), build, values)
    return sql, params
