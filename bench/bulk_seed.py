"""A catalogue of N images loaded in bulk through SQL, for list benchmarks and plan
tests: a million images in minutes, where the API would take most of a day.

Every row is computed by the database from a number series (``generate_series`` on
PostgreSQL, a ``seq_0_to_N`` table on MariaDB, a recursive CTE on SQLite), so nothing crosses the client
connection but the statements. Image ``i`` (0-based) is:

=================  =======================================================
id                 ``00000000-0000-4000-8000-<i, 12 digits>``
name               ``image-<i, 7 digits>``
status             ``queued`` if i % 10 == 0, else ``active``
visibility         public, private, shared, community by (i // 20) % 4
owner              ``project-<i % 20, 2 digits>``
shared with        ``project-<(i // 4) % 20>``, accepted (shared images only)
disk_format        qcow2 if i is even, else raw; container_format bare
size               i * 1024 + 1; min_ram (i % 4) * 512
protected          i % 100000 == 1; os_hidden: i % 100000 == 2
checksum           i in 32 digits; os_hash_value i in 128 digits
created_at         2026-01-01 + i seconds; updated_at + (i % 7) seconds more
properties         bench_group ``g<i % 50>``, bench_unique ``u<i>``,
                   os_distro one of five by i % 5
tags               ``common`` and ``t<i % 20>``
=================  =======================================================

Used by ``bench/list_scale.py`` and the plan tests
(``tests/unit/registry/images/test_list_plans.py``).
"""

import datetime

PROJECTS = 20
DISTROS = ('ubuntu', 'cirros', 'fedora', 'debian', 'centos')
START = datetime.datetime(2026, 1, 1)


def image_id(i):
    return '00000000-0000-4000-8000-%012d' % i


def _series(dialect, count):
    """A FROM-able source of ``n`` = 0..count-1, and a WITH prefix if it needs one."""
    if dialect == 'postgresql':
        return '', 'generate_series(0, %d) AS s(n)' % (count - 1)
    if dialect == 'mysql':
        # MariaDB's SEQUENCE engine (its servers often cap recursive CTEs at 1000).
        return '', '(SELECT seq AS n FROM seq_0_to_%d) AS s' % (count - 1)
    return ('WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s '
            'WHERE n < %d) ' % (count - 1)), 's'


def _dialect_sql(dialect):
    """Expression builders: zero-padded text, concatenation, time + seconds."""
    if dialect == 'postgresql':
        return {
            'pad': lambda expr, width: "lpad((%s)::text, %d, '0')" % (expr, width),
            'cat': lambda *parts: 'concat(' + ', '.join(parts) + ')',
            'time': lambda seconds: ("(TIMESTAMP '2026-01-01 00:00:00' + (%s) * "
                                     "INTERVAL '1 second')" % seconds),
            'bool': lambda cond: '(%s)' % cond,
            'div': lambda a, b: '((%s) / %s)' % (a, b),
        }
    if dialect == 'mysql':
        return {
            'pad': lambda expr, width: "lpad(%s, %d, '0')" % (expr, width),
            'cat': lambda *parts: 'concat(' + ', '.join(parts) + ')',
            'time': lambda seconds: ("TIMESTAMPADD(SECOND, %s, "
                                     "TIMESTAMP '2026-01-01 00:00:00')" % seconds),
            'bool': lambda cond: '(%s)' % cond,
            'div': lambda a, b: '((%s) DIV %s)' % (a, b),
        }
    return {
        'pad': lambda expr, width: "printf('%%0%dd', %s)" % (width, expr),
        'cat': lambda *parts: '(' + ' || '.join('(%s)' % p for p in parts) + ')',
        'time': lambda seconds: ("datetime('2026-01-01 00:00:00', '+' || (%s) || "
                                 "' seconds')" % seconds),
        'bool': lambda cond: '(%s)' % cond,
        'div': lambda a, b: '((%s) / %s)' % (a, b),
    }


def statements(dialect, count, first=0, schema='ours'):
    """The INSERT statements that load images ``first``..``first + count - 1``, to
    run through a DB-API cursor (with ``%`` escaped for the drivers that need it).

    ``schema='upstream'`` loads the same catalogue into upstream Glance's schema
    (after its ``glance-manage db sync``): no ``reserved`` column, and every table
    has ``created_at``, ``updated_at`` and ``deleted`` (NOT NULL).
    """
    upstream = schema == 'upstream'
    f = _dialect_sql(dialect)
    if upstream and dialect == 'sqlite':
        # SQLAlchemy writes and compares SQLite times as text with microseconds.
        plain_time = f['time']
        f = dict(f, time=lambda seconds: "(%s || '.000000')" % plain_time(seconds))
    with_, source = _series(dialect, count)
    i = '(n + %d)' % first
    q = '`%s`' if dialect == 'mysql' else '"%s"'

    def cols(*names):
        return ', '.join(q % name for name in names)

    visibility = ("CASE (%s) %% 4 WHEN 0 THEN 'public' WHEN 1 THEN 'private' "
                  "WHEN 2 THEN 'shared' ELSE 'community' END" % f['div'](i, PROJECTS))
    typed_visibility = visibility
    if upstream and dialect == 'postgresql':
        typed_visibility = '(%s)::image_visibility' % visibility  # upstream's enum
    owner = f['cat']("'project-'", f['pad']('%s %% %d' % (i, PROJECTS), 2))
    status = "CASE WHEN %s %% 10 = 0 THEN 'queued' ELSE 'active' END" % i
    disk_format = "CASE WHEN %s %% 2 = 0 THEN 'qcow2' ELSE 'raw' END" % i
    container_format = "'bare'"
    image_columns = ['id', 'name', 'status', 'visibility', 'protected', 'os_hidden',
                     'checksum', 'os_hash_algo', 'os_hash_value', 'size', 'min_disk',
                     'min_ram', 'disk_format', 'container_format', 'owner', 'created_at',
                     'updated_at', 'deleted'] + ([] if upstream else ['reserved'])
    images = (
        'INSERT INTO images (%s) %sSELECT %s FROM %s' % (
            cols(*image_columns),
            with_,
            ', '.join([
                f['cat']("'00000000-0000-4000-8000-'", f['pad'](i, 12)),
                f['cat']("'image-'", f['pad'](i, 7)),
                status,
                typed_visibility,
                f['bool']('%s %% 100000 = 1' % i),
                f['bool']('%s %% 100000 = 2' % i),
                f['pad'](i, 32), "'sha512'", f['pad'](i, 128),
                '%s * 1024 + 1' % i, '0', '(%s %% 4) * 512' % i,
                disk_format, container_format, owner,
                f['time'](i), f['time']('%s + %s %% 7' % (i, i)),
                f['bool']('1 = 0')] + ([] if upstream else ['0'])),
            source))
    image_ref = f['cat']("'00000000-0000-4000-8000-'", f['pad'](i, 12))
    distro = 'CASE %s %% 5 %s END' % (i, ' '.join(
        "WHEN %d THEN '%s'" % (k, name) for k, name in enumerate(DISTROS)))
    # Upstream's rows carry their own times and a NOT NULL deleted flag; ours their
    # image's status, created_at, formats, visibility and owner
    # (glance_registry.images.child_status, child_order, child_formats and
    # child_access).
    extra_cols = (('created_at', 'updated_at', 'deleted') if upstream
                  else ('image_status', 'image_created_at', 'image_disk_format',
                        'image_container_format', 'image_visibility', 'image_owner'))
    extra_vals = ', ' + ', '.join(
        (f['time'](i), f['time'](i), f['bool']('1 = 0')) if upstream
        else (status, f['time'](i), disk_format, container_format, visibility, owner))
    properties = [
        'INSERT INTO image_properties (%s) %sSELECT %s, %s, %s%s FROM %s' % (
            cols('image_id', 'name', 'value', *extra_cols), with_, image_ref,
            "'%s'" % name, value, extra_vals, source)
        for name, value in (
            ('bench_group', f['cat']("'g'", '%s %% 50' % i)),
            ('bench_unique', f['cat']("'u'", i)),
            ('os_distro', distro))]
    tags = [
        'INSERT INTO image_tags (%s) %sSELECT %s, %s%s FROM %s' % (
            cols('image_id', 'value', *extra_cols), with_, image_ref, value, extra_vals,
            source)
        for value in ("'common'", f['cat']("'t'", '%s %% 20' % i))]
    members = (
        "INSERT INTO image_members (%s) %sSELECT %s, %s, %s, 'accepted', %s, %s%s "
        "FROM %s WHERE (%s) %% 4 = 2" % (
            cols('image_id', 'member', 'can_share', 'status', 'created_at',
                 'updated_at', *(('deleted',) if upstream else ())),
            with_, image_ref,
            f['cat']("'project-'", f['pad']('%s %% %d' % (f['div'](i, 4), PROJECTS),
                                           2)),
            f['bool']('1 = 0'), f['time'](i), f['time'](i),
            (', ' + f['bool']('1 = 0')) if upstream else '', source,
            f['div'](i, PROJECTS)))
    sqls = [images] + properties + tags + [members]
    if dialect != 'sqlite':
        # psycopg2 and PyMySQL read '%' as a placeholder, even with no parameters.
        sqls = [sql.replace('%', '%%') for sql in sqls]
    return sqls


def load(database, count):
    """Load ``count`` images into ``database`` (a peewee database of
    ``glance_registry.db``, schema migrated), then refresh its statistics (and, on
    PostgreSQL, its visibility map)."""
    from glance_registry import db as db_module
    kind = db_module.dialect(database)
    with db_module.connection(database):
        with db_module.write_transaction(database):
            for sql in statements(kind, count):
                database.execute_sql(sql)
    refresh_statistics(database)


def refresh_statistics(database):
    """Refresh ``database``'s statistics (and, on PostgreSQL, its visibility map),
    as after a bulk load."""
    from glance_registry import db as db_module
    kind = db_module.dialect(database)
    with db_module.connection(database):
        if kind == 'postgresql':
            # VACUUM too, as autovacuum soon does after a bulk load: it marks the
            # pages all-visible, so that the planner counts on index-only scans.
            # (On a connection of its own: VACUUM runs outside any transaction.)
            import psycopg2
            connection = psycopg2.connect(dbname=database.database,
                                          **database.connect_params)
            connection.autocommit = True
            try:
                connection.cursor().execute('VACUUM ANALYZE')
            finally:
                connection.close()
        elif kind == 'mysql':
            database.execute_sql('ANALYZE TABLE images, image_properties, image_tags, '
                                 'image_members')
