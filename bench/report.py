"""The table printed at the end of a run, and the JSON file kept for later."""

import json
import os

# (row label, metric label, key in the record) per workload.
OPS = [('ops/s', 'throughput'), ('p50 ms', 'p50_ms'), ('p99 ms', 'p99_ms')]
METRICS = {
    'list-all': [('walks/s', 'throughput'), ('p50 ms/walk', 'p50_ms'),
                 ('p99 ms/walk', 'p99_ms')],
    'upload': [('MB/s', 'throughput')],
    'upload-1m': [('MB/s', 'throughput')],
    'download': [('MB/s', 'throughput'), ('p50 ms', 'p50_ms')],
    'download-4': [('MB/s total', 'throughput'), ('p99 ms', 'p99_ms')],
    'upload-rss': [('peak tree RSS MB', 'peak_tree_rss_mb'),
                   ('max process RSS MB', 'max_process_rss_mb'),
                   ('tree RSS before MB', 'idle_tree_rss_mb'),
                   ('MB/s', 'throughput')],
}
# Which ceiling bounds which workload row (same bytes, same run).
CEILING_OF = {'upload': 'hash-2-threads', 'upload-rss': 'hash-2-threads',
              'upload-1m': 'hash-2-threads',
              'download': 'sendfile', 'download-4': 'sendfile-4'}
CEILING_LABELS = {
    'hash-1-thread': 'md5 + sha512, one thread',
    'hash-2-threads': 'md5 | sha512, two threads',
    'disk-write': 'disk write + fdatasync',
    'disk-write-direct': 'disk write O_DIRECT + fdatasync',
    'sendfile': 'sendfile static server, 1 client',
    'sendfile-4': 'sendfile static server, 4 clients',
}


def _fmt(value):
    if value is None:
        return '-'
    if isinstance(value, str):
        return value
    if value >= 100:
        return f'{value:.0f}'
    if value >= 10:
        return f'{value:.1f}'
    return f'{value:.2f}'


def _cell(record, key):
    if record is None:
        return None, '-'
    if 'error' in record:
        return None, 'FAIL*' if record.get('known_upstream_failure') else 'FAIL'
    value = record.get(key)
    return value, _fmt(value)


def render(doc, steps, labels):
    """The comparison table: each figure per target, and ours/upstream."""
    targets = list(doc['targets'])
    base = 'upstream' if 'upstream' in targets else None
    header = ['workload', 'metric']
    for name in targets:
        header.append(name)
        if base and name != base:
            header.append('/up')
    has_ceiling = any(CEILING_OF.get(s) in doc['ceilings'] for s in steps)
    if has_ceiling:
        header.append('ceiling')
    rows = [header]
    for step in steps:
        for n, (metric, key) in enumerate(METRICS.get(step, OPS)):
            row = [labels[step] if n == 0 else '', metric]
            base_value = None
            if base:
                base_value, _ = _cell(doc['targets'][base]['results'].get(step), key)
            for name in targets:
                value, text = _cell(doc['targets'][name]['results'].get(step), key)
                if doc['targets'][name].get('error'):
                    text = 'FAIL'  # never started
                row.append(text)
                if base and name != base:
                    if value is not None and base_value:
                        row.append(f'{value / base_value:.2f}x')
                    else:
                        row.append('-')
            if has_ceiling:
                ceiling = doc['ceilings'].get(CEILING_OF.get(step), {})
                row.append(_fmt(ceiling.get('throughput'))
                           if key == 'throughput' and 'throughput' in ceiling else '')
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(row[2:], widths[2:])]
        lines.append('  '.join(cells).rstrip())
        if i == 0:
            lines.append('  '.join('-' * w for w in widths))
    out = ['\n'.join(lines)]
    if base:
        out.append('/up = the column to its left / upstream: above 1 is better for ops/s and MB/s, '
                   'below 1 is better for ms and RSS.')
    if doc['ceilings']:
        out.append('\nCeilings (same run, same bytes):')
        for key, label in CEILING_LABELS.items():
            rec = doc['ceilings'].get(key)
            if rec:
                text = 'FAIL: ' + rec['error'] if 'error' in rec else \
                    f'{_fmt(rec["throughput"])} MB/s'
                out.append(f'  {label:<36} {text}')
    rss_lines = []
    for name in targets:
        rec = doc['targets'][name]['results'].get('upload-rss')
        if rec and 'processes' in rec:
            procs = ', '.join(f'{p["name"]} {p["peak_rss_mb"]:.0f}' for p in rec['processes'])
            rss_lines.append(f'  {name}: {procs}')
    if rss_lines:
        out.append('\nPeak RSS per process during the large upload (MB):')
        out.extend(rss_lines)
    if doc.get('known_upstream_failures'):
        out.append('\nFAIL* = known upstream failure (its documented setup; '
                   'not counted as an error):')
        out.extend(f'  {e}' for e in doc['known_upstream_failures'])
    if doc['errors']:
        out.append('\nErrors:')
        out.extend(f'  {e}' for e in doc['errors'])
    return '\n'.join(out)


def write_json(doc, directory, stamp):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f'{stamp}.json')
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write('\n')
    return path
