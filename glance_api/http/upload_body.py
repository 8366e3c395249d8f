"""An upload's body as large blocks, read straight from the socket under gunicorn.

gunicorn's body readers are pure Python: its chunked decoder hands out each piece of
a chunk through two ``BytesIO`` buffers and slices, copying every byte four or five
times, and costs about a fifth of the API worker's CPU during a 64 KiB-chunked
upload, CPU that the md5 and sha512 threads need. ``blocks()`` reads the body with
``recv_into`` into fresh 1 MiB ``bytearray`` blocks instead: one copy (the kernel's),
and the chunk framing, parsed in Python, costs a few microseconds per chunk.

The fast path is taken only when the request is a gunicorn HTTP/1.1 request whose
body nobody has started reading; it takes over what gunicorn had already read past
the headers, gives back anything read past the end of the body (a pipelined
request), and leaves gunicorn's reader at the end of the body, or marked failed if
the body was malformed or cut short so that gunicorn closes the connection. Any
other server gets the WSGI stream read in blocks.

The blocks of one body are reused once nobody holds them any more (``_BlockPool``):
a new ``bytearray`` is zero-filled by Python before ``recv_into`` overwrites it,
and a 1 MiB allocation may cost page faults too; reused, a block costs neither.
"""

import collections
import inspect
import sys

#: gunicorn major versions whose body readers the fast path was tested against (it
#: takes over their internals); any other version gets the WSGI stream.
TESTED_GUNICORN = (27,)

#: Longest chunk-size line (with extensions) or trailer line accepted, as gunicorn's
#: default ``limit_request_field_size``.
MAX_LINE = 8190
#: Bound on the trailer section after the last chunk.
MAX_TRAILERS = 32 * MAX_LINE
# Enough for the CRLF ending a chunk and the next chunk-size line in one recv().
_FRAMING_READ = 64
_HEX = frozenset(b'0123456789abcdefABCDEF')


class MalformedBody(ValueError):
    """The chunked framing is invalid: the connection cannot be reused."""


class IncompleteBody(ConnectionError):
    """The client closed the connection before the end of the body."""


def blocks(environ, stream, block_size):
    """The request body as an iterator of ``bytearray`` blocks of ``block_size``.

    Every block but the last is full. ``stream`` is the WSGI input stream (Flask's
    ``request.stream``), used when the body cannot be read from the socket directly.
    """
    direct = _DirectBody.for_environ(environ)
    if direct is None:
        return _stream_blocks(stream, block_size)
    return direct.blocks(block_size)


def _stream_blocks(stream, block_size):
    while True:
        data = stream.read(block_size)
        if not data:
            return
        yield data


class _DirectBody:
    """The body of one gunicorn request, read from its socket."""

    def __init__(self, body, sock, unreader, reader, length):
        self._body = body          # gunicorn's Body, which is wsgi.input
        self._sock = sock
        self._unreader = unreader
        self._reader = reader      # its ChunkedReader or LengthReader
        self._length = length      # None when chunked
        self._pending = bytearray()

    @classmethod
    def for_environ(cls, environ):
        try:
            import gunicorn
            from gunicorn.http import body as gunicorn_body
        except ImportError:
            return None
        if gunicorn.version_info[0] not in TESTED_GUNICORN:
            return None
        body = environ.get('wsgi.input')
        sock = environ.get('gunicorn.socket')
        if not isinstance(body, gunicorn_body.Body) or not hasattr(sock, 'recv_into'):
            return None
        if environ.get('SERVER_PROTOCOL') not in ('HTTP/1.1', 'HTTP/1.0'):
            return None   # HTTP/2 streams are not on the socket as they are
        if body.buf.tell():
            return None   # someone started reading
        reader = body.reader
        if isinstance(reader, gunicorn_body.ChunkedReader):
            if (not inspect.isgenerator(reader.parser) or
                    inspect.getgeneratorstate(reader.parser) != inspect.GEN_CREATED or
                    reader.buf.tell()):
                return None
            unreader, length = getattr(reader.req, 'unreader', None), None
        elif isinstance(reader, gunicorn_body.LengthReader):
            unreader, length = reader.unreader, reader.length
        else:
            return None
        if getattr(unreader, 'sock', None) is not sock or \
                not hasattr(unreader, 'take_buffered'):
            return None
        return cls(body, sock, unreader, reader, length)

    def blocks(self, block_size):
        # Taken at the first block, not before: a body never iterated stays
        # gunicorn's to drain.
        self._pending = bytearray(self._unreader.take_buffered())
        pool = _BlockPool(block_size)
        try:
            if self._length is None:
                yield from self._chunked_blocks(pool)
            else:
                yield from self._length_blocks(pool)
        except BaseException:
            # Where the next request starts is unknown: gunicorn must close.
            self._body.failed = True
            self._finish_reader()
            raise
        self._finish_reader()
        if self._pending:
            self._unreader.unread(bytes(self._pending))
            self._pending = bytearray()

    def _finish_reader(self):
        """Leave gunicorn's reader at the end of the body we consumed."""
        if self._length is None:
            self._reader.parser = None
        else:
            self._reader.length = 0

    # -- Content-Length bodies

    def _length_blocks(self, pool):
        left = self._length
        while left:
            block = pool.take()
            if left < len(block):
                del block[left:]   # the last one
            filled = self._fill(memoryview(block), len(block))
            left -= filled
            yield block

    # -- chunked bodies

    def _chunked_blocks(self, pool):
        block_size = pool.block_size
        chunk_left = self._chunk_size(first=True)
        block, filled = pool.take(), 0
        view = memoryview(block)
        while chunk_left:
            room = block_size - filled
            wanted = min(chunk_left, room)
            # Where the chunk ends inside the block, one recv() may take the
            # framing that follows too: it moves to _pending (a few bytes), and the
            # next chunk's data overwrites it in the block.
            most = min(room, wanted + _FRAMING_READ) if wanted == chunk_left else wanted
            got = self._fill(view[filled:], wanted, most)
            filled += got
            chunk_left -= got
            if filled == block_size:
                view.release()
                yield block
                block, filled = pool.take(), 0
                view = memoryview(block)
            if not chunk_left:
                chunk_left = self._chunk_size(first=False)
        view.release()
        self._trailers()
        if filled:
            del block[filled:]
            yield block

    def _chunk_size(self, first):
        """Parse (CRLF and) the next chunk-size line; the size."""
        if not first:
            self._need(2)
            if self._pending[:2] != b'\r\n':
                raise MalformedBody('chunk data not followed by CRLF')
            del self._pending[:2]
        line = self._line(MAX_LINE)
        size, _, extensions = line.partition(b';')
        if extensions:
            if b'\r' in extensions or b'\n' in extensions:
                raise MalformedBody('bare CR or LF in a chunk extension')
            size = size.rstrip(b' \t')
        if not size or not _HEX.issuperset(size) or len(size) > 16:
            raise MalformedBody('invalid chunk size %r' % bytes(size[:20]))
        return int(size, 16)

    def _trailers(self):
        """Skip the trailer section (gunicorn's app never sees trailers either way)."""
        total = 0
        while True:
            line = self._line(MAX_LINE)
            if not line:
                return
            total += len(line) + 2
            if total > MAX_TRAILERS:
                raise MalformedBody('trailer section too large')

    # -- socket reading

    def _line(self, limit):
        """The next CRLF-terminated line of ``_pending`` (without CRLF)."""
        searched = 0
        while True:
            # The first LF ends the line; unless a CR precedes it, it is bare (and
            # waiting for a CRLF could wait forever).
            end = self._pending.find(b'\n', searched)
            if end >= 0:
                if end == 0 or self._pending[end - 1] != ord('\r'):
                    raise MalformedBody('bare LF in chunk framing')
                line = bytes(self._pending[:end - 1])
                del self._pending[:end + 1]
                return line
            if len(self._pending) > limit:
                raise MalformedBody('chunk framing line over %d bytes' % limit)
            searched = len(self._pending)
            self._recv_pending()

    def _need(self, count):
        while len(self._pending) < count:
            self._recv_pending()

    def _recv_pending(self):
        data = self._sock.recv(_FRAMING_READ)
        if not data:
            raise IncompleteBody('client closed the connection within the body')
        self._pending += data

    def _fill(self, view, wanted, most=None):
        """Put ``wanted`` body bytes in ``view``: first what is pending, then recv.

        A recv() may put up to ``most`` bytes there: those past ``wanted`` (chunk
        framing) go to ``_pending``.
        """
        most = most or wanted
        filled = 0
        if self._pending:
            filled = min(wanted, len(self._pending))
            view[:filled] = self._pending[:filled]
            del self._pending[:filled]
        while filled < wanted:
            got = self._sock.recv_into(view[filled:most], most - filled)
            if not got:
                raise IncompleteBody('client closed the connection within the body')
            filled += got
        if filled > wanted:
            # _pending was emptied before any recv().
            self._pending = bytearray(view[wanted:filled])
        return wanted


class _BlockPool:
    """The blocks of one body: a block handed out comes back for reuse once no one
    but the pool holds it.

    The consumers of a block (the hashing threads, the file writer, inspection) hold
    a reference to it for as long as they use it (a queue, a buffer export, a copy
    they keep): its reference count says when they are all done. A block never
    comes back while anyone holds it, so nothing handed out changes afterwards,
    which ``stores.base.Writer.write`` requires. Up to ``keep`` blocks are pooled
    (enough for the queues of a file store write); more in flight are allocated
    and dropped as before.
    """

    #: References to a block nobody else holds, as ``sys.getrefcount`` counts them
    #: in ``take``: the pool's deque, ``take``'s local and the call's argument.
    _UNHELD = 3

    def __init__(self, block_size, keep=32):
        self.block_size = block_size
        self._keep = keep if sys.implementation.name == 'cpython' else 0
        self._blocks = collections.deque()

    def take(self):
        """A block of ``block_size`` bytes whose content is to be overwritten."""
        for _ in range(len(self._blocks)):
            # The oldest block first: the likeliest to be done with.
            block = self._blocks[0]
            self._blocks.rotate(-1)
            if sys.getrefcount(block) == self._UNHELD and len(block) == self.block_size:
                return block
        block = bytearray(self.block_size)
        if len(self._blocks) < self._keep:
            self._blocks.append(block)
        return block
