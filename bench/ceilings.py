"""Ceilings measured on the same bytes as the services: what no service can beat.

* hashing: md5 and sha512 over the payload, the CPU cost every upload pays
  (upstream computes both); once in one thread, once with each hash in its
  own thread (hashlib releases the GIL on large buffers);
* disk: writing the payload to the data directory's disk, then fdatasync;
  once through the page cache, once with ``O_DIRECT`` from an aligned buffer in
  4 MiB writes (how this project's file store writes);
* download: a plain static file server using ``socket.sendfile`` on
  loopback, fetched by the same client code as the services.

Run as a script, this module *is* that static server:
``python ceilings.py serve FILE PORT``.
"""

import hashlib
import http.server
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.parse

CHUNK = 64 * 1024


def _read_chunks(path, chunk=CHUNK):
    with open(path, 'rb', buffering=0) as f:
        while True:
            data = f.read(chunk)
            if not data:
                return
            yield data


def hash_one_thread(path):
    """md5 then sha512 on each chunk in one thread: MB/s and both digests."""
    md5, sha = hashlib.md5(), hashlib.sha512()
    size = 0
    start = time.perf_counter()
    for data in _read_chunks(path):
        md5.update(data)
        sha.update(data)
        size += len(data)
    wall = time.perf_counter() - start
    return {'throughput': size / wall / 1e6, 'unit': 'MB/s', 'seconds': wall, 'bytes': size,
            'md5': md5.hexdigest(), 'sha512': sha.hexdigest()}


def hash_two_threads(path):
    """One reader feeding md5 and sha512 threads through small bounded queues."""
    hashes = [hashlib.md5(), hashlib.sha512()]
    queues = [queue.Queue(maxsize=16) for _ in hashes]

    def consume(h, q):
        while True:
            data = q.get()
            if data is None:
                return
            h.update(data)

    threads = [threading.Thread(target=consume, args=(h, q), daemon=True)
               for h, q in zip(hashes, queues)]
    size = 0
    start = time.perf_counter()
    for t in threads:
        t.start()
    for data in _read_chunks(path):
        size += len(data)
        for q in queues:
            q.put(data)
    for q in queues:
        q.put(None)
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {'throughput': size / wall / 1e6, 'unit': 'MB/s', 'seconds': wall, 'bytes': size,
            'md5': hashes[0].hexdigest(), 'sha512': hashes[1].hexdigest()}


def disk_write(path, directory):
    """Copy the payload into ``directory`` in 64 KiB writes, then fdatasync."""
    target = os.path.join(directory, 'ceiling-disk-write.bin')
    size = 0
    start = time.perf_counter()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for data in _read_chunks(path):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            size += len(data)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    wall = time.perf_counter() - start
    os.unlink(target)
    return {'throughput': size / wall / 1e6, 'unit': 'MB/s', 'seconds': wall, 'bytes': size}


def disk_write_direct(path, directory, block=4 * 1024 * 1024):
    """Copy the payload into ``directory`` with ``O_DIRECT`` in ``block`` writes, then
    fdatasync (the tail that fills no 4 KiB block goes through the page cache)."""
    import fcntl
    import mmap
    target = os.path.join(directory, 'ceiling-disk-write-direct.bin')
    buffer = mmap.mmap(-1, block)   # page-aligned
    view = memoryview(buffer)
    size = filled = 0
    start = time.perf_counter()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
    try:
        with open(path, 'rb', buffering=0) as source:
            while True:
                got = source.readinto(view[filled:])
                if not got:
                    break
                filled += got
                size += got
                if filled == block:
                    os.write(fd, view)
                    filled = 0
        aligned = filled - filled % 4096
        if aligned:
            os.write(fd, view[:aligned])
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        os.write(fd, view[aligned:filled])
        os.fdatasync(fd)
    finally:
        os.close(fd)
        view.release()
        buffer.close()
    wall = time.perf_counter() - start
    os.unlink(target)
    return {'throughput': size / wall / 1e6, 'unit': 'MB/s', 'seconds': wall, 'bytes': size}


class _SendfileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive, like the services

    def do_GET(self):  # noqa: N802 (http.server's naming)
        # ``?repeat=N`` serves the payload N times over (a larger image for the
        # web-download imports of bench/import_cache.py without a larger file).
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        repeat = int(query.get('repeat', ['1'])[0])
        path = self.server.payload
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(size * repeat))
        self.end_headers()
        self.wfile.flush()
        with open(path, 'rb') as f:
            for _ in range(repeat):
                self.connection.sendfile(f, 0)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def serve(path, port):
    server = _Server(('127.0.0.1', port), _SendfileHandler)
    server.payload = path
    server.serve_forever()


def start_static_server(path, port, log_file):
    """Start the sendfile server as its own process (as the services are)."""
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), 'serve', path, str(port)],
        stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)


if __name__ == '__main__':
    if len(sys.argv) != 4 or sys.argv[1] != 'serve':
        sys.exit('usage: ceilings.py serve FILE PORT')
    serve(sys.argv[2], int(sys.argv[3]))
