"""The benchmark's verdicts (``bench/report.py``): a speed target is judged from the
figures as issue 16 states it, and repetitions reduce to their median with the spread."""

import pytest

from bench import report


def _doc(results, database='sqlite', baseline=None):
    """A run's document with ``results`` = {target: {workload: ops/s or error text}}."""
    targets = {}
    for name, figures in results.items():
        records = {}
        for step, figure in figures.items():
            if isinstance(figure, str):
                records[step] = {'error': figure}
            else:
                records[step] = {'throughput': figure, 'p50_ms': 1.0, 'p99_ms': 2.0}
        targets[name] = {'results': records, 'config': {}}
    return {'targets': targets, 'ceilings': {}, 'machine': {'cpus': 2},
            'database': {'kind': database}, 'baseline': baseline}


def _verdict(doc, prefix):
    found = [(status, detail) for text, status, detail in report.verdicts(doc)
             if text.startswith(prefix)]
    assert len(found) == 1, report.verdicts(doc)
    return found[0]


def test_scaling_is_met_when_no_workload_drops_beyond_the_tolerance():
    doc = _doc({'ours-w1': {'show': 100.0, 'create': 50.0},
                'ours-w2': {'show': 150.0, 'create': 46.0},   # -8%: within 10%
                'ours-w4': {'show': 150.0, 'create': 47.0}})
    status, detail = _verdict(doc, 'ours-w1..ours-w4')
    assert status == 'met'
    assert 'create ours-w1 -> ours-w2 0.92x' in detail


def test_scaling_is_missed_when_adding_workers_loses_throughput():
    doc = _doc({'ours-w1': {'show-16': 100.0, 'create': 50.0},
                'ours-w2': {'show-16': 200.0, 'create': 50.0},
                'ours-w4': {'show-16': 170.0, 'create': 50.0}})   # -15% from w2
    status, detail = _verdict(doc, 'ours-w1..ours-w4')
    assert status == 'missed'
    assert detail.endswith('losing: show-16')


def test_scaling_families_are_judged_apart_and_need_two_members():
    doc = _doc({'ours-w1': {'show': 100.0}, 'ours-w2': {'show': 100.0},
                'upstream-p1': {'show': 10.0}, 'upstream-p2': {'show': 5.0},
                'ours-recommended': {'show': 100.0}})
    assert _verdict(doc, 'ours-w1..ours-w2')[0] == 'met'
    assert _verdict(doc, 'upstream-p1..upstream-p2')[0] == 'missed'
    assert set(report.scaling_families(doc)) == {'ours', 'upstream'}


def test_a_failed_workload_is_not_judged_for_scaling():
    doc = _doc({'ours-w1': {'show': 100.0}, 'ours-w2': {'show': 'HTTP 500'}})
    assert _verdict(doc, 'ours-w1..ours-w2')[0] == 'not measured'


@pytest.mark.parametrize('database, ratio, status', [
    ('sqlite', 4.9, 'missed'),
    ('sqlite', 5.0, 'met'),
    ('postgresql', 3.0, 'met'),      # issue 16 target 4: 3x on PostgreSQL
    ('postgresql', 2.9, 'missed'),
])
def test_metadata_target_is_5x_on_sqlite_and_3x_on_postgresql(database, ratio, status):
    doc = _doc({'upstream-recommended': {'show': 10.0},
                'ours-recommended': {'show': 10.0 * ratio}},
               database=database, baseline='upstream-recommended')
    doc['targets']['ours-recommended']['results']['show']['p99_ms'] = 0.5
    found = _verdict(doc, 'ours-recommended: metadata')
    assert found[0] == status


def test_repetitions_keep_the_median_record_and_the_spread():
    records = [{'throughput': 30.0, 'p50_ms': 3}, {'throughput': 10.0, 'p50_ms': 1},
               {'throughput': 20.0, 'p50_ms': 2}]
    rec = report.combine_repeats(records)
    assert (rec['throughput'], rec['p50_ms']) == (20.0, 2)
    assert (rec['min_throughput'], rec['max_throughput']) == (10.0, 30.0)
    assert rec['repeat_throughputs'] == [30.0, 10.0, 20.0]
    assert rec['repeats'] == 3


def test_a_failed_repetition_fails_the_workload():
    rec = report.combine_repeats([{'throughput': 30.0}, {'error': 'wrong count'}])
    assert rec['error'] == 'wrong count'
    assert report.combine_repeats([{'throughput': 5.0}]) == {'throughput': 5.0}
