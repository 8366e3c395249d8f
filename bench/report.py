"""The table printed at the end of a run, and the JSON file kept for later."""

import json
import os

# (row label, metric label, key in the record) per workload.
OPS = [('ops/s', 'throughput'), ('p50 ms', 'p50_ms'), ('p99 ms', 'p99_ms')]
METRICS = {
    'list-all': [('walks/s', 'throughput'), ('p50 ms/walk', 'p50_ms'),
                 ('p99 ms/walk', 'p99_ms')],
    'upload': [('MB/s (median)', 'throughput'), ('MB/s min', 'min_mbps'),
               ('MB/s max', 'max_mbps')],
    'download-first': [('MB/s (median)', 'throughput'), ('MB/s min', 'min_mbps'),
                       ('MB/s max', 'max_mbps')],
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
              'download': 'sendfile', 'download-first': 'sendfile',
              'download-4': 'sendfile-4'}
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
    shapes = [f'  {name}: {entry["config"].get("shape")}'
              for name, entry in doc['targets'].items() if entry.get('config')]
    if shapes:
        out.append('\nProcesses x threads:')
        out.extend(shapes)
    if doc.get('verdicts'):
        out.append('\nTargets (issue 16; reported, not asserted):')
        out.extend(f'  {status:<12} {text}' + (f' ({detail})' if detail else '')
                   for text, status, detail in doc['verdicts'])
    if doc.get('known_upstream_failures'):
        out.append('\nFAIL* = known upstream failure (its documented setup; '
                   'not counted as an error):')
        out.extend(f'  {e}' for e in doc['known_upstream_failures'])
    if doc['errors']:
        out.append('\nErrors:')
        out.extend(f'  {e}' for e in doc['errors'])
    return '\n'.join(out)


METADATA_STEPS = ('create-8', 'show', 'list-first', 'list-all', 'list-property',
                  'list-tag', 'list-status', 'list-created', 'list-sort', 'create',
                  'patch', 'tag', 'delete')


def verdicts(doc):
    """Issue 16's targets that this run measures, per target of ours:
    [(target, 'met' | 'missed' | 'not measured', detail)]."""
    results = {name: entry['results'] for name, entry in doc['targets'].items()}
    up = results.get('upstream', {})
    out = []

    def value(rec, key):
        return None if not rec or 'error' in rec else rec.get(key)

    def judge(text, ok, detail):
        out.append((text, 'not measured' if ok is None else ('met' if ok else 'missed'),
                    detail))

    for name in [n for n in results if n != 'upstream']:
        ours = results[name]
        ratios, p99_ratios = {}, {}
        for step in METADATA_STEPS:
            mine, theirs = value(ours.get(step), 'throughput'), value(up.get(step),
                                                                      'throughput')
            p99, up99 = value(ours.get(step), 'p99_ms'), value(up.get(step), 'p99_ms')
            if None not in (mine, theirs, p99, up99):
                ratios[step], p99_ratios[step] = mine / theirs, p99 / up99
        if ratios:
            slowest = min(ratios, key=ratios.get)
            laggard = max(p99_ratios, key=p99_ratios.get)
            judge(f'{name}: metadata >= 5x upstream, p99 <= half of upstream\'s',
                  ratios[slowest] >= 5 and p99_ratios[laggard] <= 0.5,
                  f'lowest {ratios[slowest]:.2f}x ({slowest}), highest p99 ratio '
                  f'{p99_ratios[laggard]:.2f} ({laggard})')
        else:
            judge(f'{name}: metadata >= 5x upstream, p99 <= half of upstream\'s',
                  None, '')
        first, up_first = (value(ours.get('download-first'), 'throughput'),
                           value(up.get('download-first'), 'throughput'))
        judge(f'{name}: first download after upload >= 0.9x upstream',
              None if None in (first, up_first) else first >= 0.9 * up_first,
              '' if None in (first, up_first) else f'{first / up_first:.2f}x')
        warm = value(ours.get('download'), 'throughput')
        ceiling = doc['ceilings'].get('sendfile', {}).get('throughput')
        judge(f'{name}: warm download >= 90% of the sendfile ceiling',
              None if None in (warm, ceiling) else warm >= 0.9 * ceiling,
              '' if None in (warm, ceiling) else f'{warm / ceiling:.0%}')
        upload, up_upload = (value(ours.get('upload'), 'throughput'),
                             value(up.get('upload'), 'throughput'))
        judge(f'{name}: upload >= 2x upstream (median sample)',
              None if None in (upload, up_upload) else upload >= 2 * up_upload,
              '' if None in (upload, up_upload) else f'{upload / up_upload:.2f}x')
    return out


def write_json(doc, directory, stamp):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f'{stamp}.json')
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write('\n')
    return path
