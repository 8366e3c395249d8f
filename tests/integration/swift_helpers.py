"""Helpers shared by the Swift integration tests of the public API.

A deterministic image pattern that any byte range can be rebuilt from, a streamed
uploader whose memory stays at one chunk, Swift listings and the API workers' peak
memory.
"""

import hashlib
import random
import time

MiB = 1024 * 1024
CHUNK = MiB
# An upload refused before its body is read leaves the body unread, and gunicorn then
# closes the connection after its answer (which says keep-alive) when more than 64 KiB
# are left: a client that reuses the connection at once can find it closed. Uploads
# expected to fail that way ask for the connection to be closed.
CLOSE = {'Connection': 'close'}
_BLOCK = random.Random(20261127).randbytes(CHUNK)


def pattern_chunk(number):
    """Chunk ``number`` (1 MiB) of the test pattern: distinct for every chunk."""
    return number.to_bytes(8, 'big') + _BLOCK[8:]


def pattern_chunks(size):
    """The first ``size`` bytes of the pattern, one chunk at a time."""
    for number, start in enumerate(range(0, size, CHUNK)):
        yield pattern_chunk(number)[:size - start]


def pattern_bytes(offset, length):
    """Bytes ``[offset, offset + length)`` of the pattern."""
    first, last = offset // CHUNK, (offset + length - 1) // CHUNK
    data = b''.join(pattern_chunk(n) for n in range(first, last + 1))
    start = offset - first * CHUNK
    return data[start:start + length]


def digests_of_download(response, size):
    """``(md5, sha512, bytes equal to the pattern)`` of a streamed download."""
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    offset, same = 0, True
    for chunk in response.iter_content(CHUNK):
        md5.update(chunk)
        sha512.update(chunk)
        if same and chunk != pattern_bytes(offset, len(chunk)):
            same = False
        offset += len(chunk)
    return md5.hexdigest(), sha512.hexdigest(), same and offset == size


def swift_store_options(swift_service, workdir, container, segment_size):
    """The Swift driver's options for the suite's Swift: ``[glance_store]`` in
    single-store mode, the store's own section with ``enabled_backends``.

    Uploads of unknown size, and any above 256 KiB, are written as segments of
    ``segment_size`` bytes; the container is created by the first upload.
    """
    return {
        'swift_store_config_file': swift_service.write_reference_file(
            str(workdir / 'swift-refs.conf')),
        'default_swift_reference': 'ref1',
        'swift_store_container': container,
        'swift_store_create_container_on_put': True,
        'swift_store_large_object_size': 0.25,
        'swift_store_large_object_chunk_size': segment_size / MiB,
    }


def objects_of(conn, container, image_id):
    """Names of everything in ``container`` that belongs to ``image_id``."""
    _, listing = conn.get_container(container, prefix=image_id, full_listing=True)
    return sorted(entry['name'] for entry in listing)


def wait_until(predicate, timeout, interval=0.25, message='condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('%s not met in %ss' % (message, timeout))
        time.sleep(interval)


# -- the API workers' memory -------------------------------------------------------------

def api_workers(glance):
    """The pids of the API's gunicorn workers (children of the arbiter)."""
    arbiter = glance.api.process.pid
    with open('/proc/%d/task/%d/children' % (arbiter, arbiter)) as f:
        return [int(pid) for pid in f.read().split()]


def reset_peak_rss(pids):
    """Start the workers' peak-RSS counters (VmHWM) afresh; False if not allowed."""
    try:
        for pid in pids:
            with open('/proc/%d/clear_refs' % pid, 'w') as f:
                f.write('5')
    except OSError:
        return False
    return True


def peak_rss(pid):
    """The process's peak resident memory (VmHWM) in bytes."""
    return _status_bytes(pid, 'VmHWM')


def rss(pid):
    """The process's resident memory (VmRSS) in bytes."""
    return _status_bytes(pid, 'VmRSS')


def _status_bytes(pid, field):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no %s for %d' % (field, pid))
