"""Resident memory of a service's whole process tree, read from /proc."""

import os
import threading
import time

PAGE = os.sysconf('SC_PAGE_SIZE')


def _children_map():
    """ppid -> [pid] for every process visible in /proc."""
    children = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat', 'rb') as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: split after the last ')'.
        fields = stat[stat.rindex(b')') + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    return children


def process_tree(root):
    """The root pid and all its descendants that are alive now."""
    children = _children_map()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def rss_bytes(pid):
    """Resident set size of one process, or None once it is gone."""
    try:
        with open(f'/proc/{pid}/statm', 'rb') as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def describe(pid):
    """A short label: the program (or Python module/script) and its process name."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            argv = [a.decode(errors='replace') for a in f.read().split(b'\0') if a]
        with open(f'/proc/{pid}/comm') as f:
            comm = f.read().strip()
    except OSError:
        return f'pid {pid}'
    if not argv:
        return comm or f'pid {pid}'
    label = os.path.basename(argv[0].split()[0]) if '/' in argv[0] else argv[0]
    if label.startswith('python') and len(argv) > 1:
        if argv[1] == '-m' and len(argv) > 2:
            label = argv[2]
        elif not argv[1].startswith('-'):
            label = os.path.basename(argv[1])
    if comm and comm.lower() not in label.lower():
        label += f' [{comm}]'
    return label


def parent_of(pid):
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
        return int(stat[stat.rindex(b')') + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def tree_rss(root):
    """(sum of RSS over the tree, {pid: rss})."""
    per = {}
    for pid in process_tree(root):
        rss = rss_bytes(pid)
        if rss is not None:
            per[pid] = rss
    return sum(per.values()), per


TICK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pids):
    """User + system CPU seconds spent so far by ``pids`` (each with all its
    threads); a process gone meanwhile counts 0."""
    total = 0.0
    for pid in pids:
        try:
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def tree_cpu_seconds(root):
    """``cpu_seconds`` of ``root`` and every process below it."""
    return cpu_seconds(process_tree(root))


def machine_busy_seconds():
    """(busy, total) CPU seconds of the whole machine since boot (/proc/stat)."""
    with open('/proc/stat') as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]   # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


class RssSampler:
    """Samples a process tree's RSS every ``interval`` seconds in a thread.

    Keeps the peak of the sum over the tree, and each process's own peak. The
    tree is re-walked every sample, so workers forked during the measurement
    are counted. Bounded by ``max_seconds`` in case the caller never stops it.
    """

    def __init__(self, root, interval=0.05, max_seconds=1800):
        self.root = root
        self.interval = interval
        self.max_seconds = max_seconds
        self.peak_total = 0
        self.peak_per_pid = {}
        self.labels = {}
        self.parents = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='rss-sampler', daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stop.wait(self.interval)
        self.sample()

    def sample(self):
        total, per = tree_rss(self.root)
        self.samples += 1
        self.peak_total = max(self.peak_total, total)
        for pid, rss in per.items():
            if rss > self.peak_per_pid.get(pid, 0):
                self.peak_per_pid[pid] = rss
            if pid not in self.labels:
                self.labels[pid] = describe(pid)
                self.parents[pid] = parent_of(pid)

    def result(self):
        procs = []
        for pid, rss in self.peak_per_pid.items():
            name = self.labels.get(pid, str(pid))
            parent = self.parents.get(pid)
            if parent in self.labels and self.labels[parent] == name:
                name += ' (worker)'  # forked by a master of the same program
            procs.append({'pid': pid, 'name': name, 'peak_rss_mb': rss / 2**20})
        procs.sort(key=lambda p: -p['peak_rss_mb'])
        return {
            'peak_tree_rss_mb': self.peak_total / 2**20,
            'max_process_rss_mb': procs[0]['peak_rss_mb'] if procs else None,
            'processes': procs,
            'samples': self.samples,
        }
