"""A TCP proxy on loopback that breaks connections on cue, for failure tests.

Stores reach the service under test through ``FaultyProxy(port).url``. Switches:
``cut_response(marker, after)`` closes the connection ``after`` bytes into the response
to the next request whose request line contains ``marker``; ``answer_503 = True``
answers every request with 503 instead of forwarding it; ``close()`` stops listening,
so new connections are refused. ``request_heads`` records every request seen.
"""

import contextlib
import socket
import threading

_SERVICE_UNAVAILABLE = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n'
                        b'Connection: close\r\n\r\n')


class FaultyProxy:

    def __init__(self, target_port):
        self.target_port = target_port
        self.request_heads = []
        self.answer_503 = False
        self._cut = None
        self._lock = threading.Lock()
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port = self._listener.getsockname()[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self._sockets = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_response(self, marker, after):
        """Cut the response to the next request naming ``marker`` after ``after``
        bytes."""
        with self._lock:
            self._cut = (marker.encode(), after)

    def close(self):
        # shutdown() first: close() alone does not wake the thread blocked in accept(),
        # and the port would go on accepting.
        _shutdown(self._listener)
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(('127.0.0.1', self.target_port))
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets.update((client, upstream))
        budget = {'left': None}   # response bytes still allowed through, None: all
        threading.Thread(target=self._downstream, args=(upstream, client, budget),
                         daemon=True).start()
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if data[:4] in (b'GET ', b'PUT ', b'HEAD', b'POST', b'DELE', b'COPY'):
                    head = data.split(b'\r\n\r\n', 1)[0]
                    self.request_heads.append(head.decode('latin-1'))
                    if self.answer_503:
                        client.sendall(_SERVICE_UNAVAILABLE)
                        break
                    with self._lock:
                        if self._cut and self._cut[0] in head.split(b'\r\n', 1)[0]:
                            budget['left'], self._cut = self._cut[1], None
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(client)
            _shutdown(upstream)

    @staticmethod
    def _downstream(upstream, client, budget):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if budget['left'] is not None:
                    data = data[:budget['left']]
                    budget['left'] -= len(data)
                    client.sendall(data)
                    if budget['left'] <= 0:
                        break
                    continue
                client.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(client)
            _shutdown(upstream)


def _shutdown(sock):
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
