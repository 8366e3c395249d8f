"""Three ways to write an image durably, and what the first read after each costs.

    python bench/page_cache_writes.py [--mib 512] [--rounds 2] [--dir DIR]

Writes the same random bytes to a file in ``--dir`` (default: a directory under
bench/, on the disk the file store would use) in 4 MiB pieces, fsyncs it, then reads
it twice; three ways, ``--rounds`` times each:

``buffered+fdatasync``
    64 KiB writes through the page cache, ``fdatasync`` every 32 MiB (the file
    store's default since issue 16);
``O_DIRECT``
    aligned 4 MiB writes past the page cache (``filesystem_store_direct_io``);
``O_DIRECT+WILLNEED``
    the same, with ``posix_fadvise(WILLNEED)`` on each piece just written, so the
    kernel reads it back into the page cache.

Prints write time and CPU, how much of the file is cached right after the write
(``fincore``), and the first and second read; the load average beside each. On a
shared machine the times are noisy; the residency is not.
"""

import argparse
import mmap
import os
import shutil
import subprocess
import tempfile
import time

PIECE = 4 * 1024 * 1024
CHUNK = 64 * 1024


def buffered(path, payload, size):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    unflushed = 0
    for _ in range(size // PIECE):
        for offset in range(0, PIECE, CHUNK):
            os.write(fd, payload[offset:offset + CHUNK])
        unflushed += PIECE
        if unflushed >= 32 * 1024 * 1024:
            os.fdatasync(fd)
            unflushed = 0
    os.fsync(fd)
    os.close(fd)


def direct(path, payload, size, willneed=False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT)
    buffer = mmap.mmap(-1, PIECE)
    buffer[:] = payload
    for piece in range(size // PIECE):
        os.write(fd, buffer)
        if willneed:
            os.posix_fadvise(fd, piece * PIECE, PIECE, os.POSIX_FADV_WILLNEED)
    os.fsync(fd)
    os.close(fd)


def read(path):
    buffer = bytearray(1024 * 1024)
    started = time.perf_counter()
    with open(path, 'rb', buffering=0) as f:
        while f.readinto(buffer):
            pass
    return time.perf_counter() - started


def cached(path):
    try:
        return subprocess.run(['fincore', '-n', '-o', 'RES', path], capture_output=True,
                              text=True).stdout.strip() or '?'
    except OSError:
        return '? (no fincore)'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mib', type=int, default=512)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--dir', default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    payload = os.urandom(PIECE)
    workdir = tempfile.mkdtemp(prefix='.page-cache-writes-', dir=args.dir)
    ways = [('buffered+fdatasync', lambda p: buffered(p, payload, size)),
            ('O_DIRECT', lambda p: direct(p, payload, size)),
            ('O_DIRECT+WILLNEED', lambda p: direct(p, payload, size, True))]
    try:
        for _ in range(args.rounds):
            for name, write in ways:
                path = os.path.join(workdir, 'image')
                if os.path.exists(path):
                    os.remove(path)
                cpu, started = time.process_time(), time.perf_counter()
                write(path)
                wrote, cpu = time.perf_counter() - started, time.process_time() - cpu
                residency = cached(path)
                first, second = read(path), read(path)
                print('%-20s write %5.2f s (CPU %.2f s)  cached after: %-5s  first read '
                      '%5.0f MB/s, second %5.0f MB/s  (load %.1f)' % (
                          name, wrote, cpu, residency, size / first / 1e6,
                          size / second / 1e6, os.getloadavg()[0]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
