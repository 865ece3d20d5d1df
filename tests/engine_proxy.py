"""A proxy on the Docker Engine's socket that misbehaves on purpose, for
the tests of what hearth does when the Engine fails it half-way.

    engine_proxy.py SOCKET cut-import   drops both ends once 1 MB of a
                                        POST /images/create went through
    engine_proxy.py SOCKET hold-start   never passes on a POST .../start
Everything else goes through to /var/run/docker.sock unchanged."""
import socket
import sys
import threading

path, mode = sys.argv[1], sys.argv[2]


def serve(c):
    d = socket.socket(socket.AF_UNIX)
    d.connect("/var/run/docker.sock")

    def down():
        while True:
            try:
                b = d.recv(65536)
            except OSError:
                break
            if not b:
                break
            try:
                c.sendall(b)
            except OSError:
                break

    threading.Thread(target=down, daemon=True).start()
    cut, sent = False, 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        first = b.split(b"\r\n", 1)[0]
        if mode == "hold-start" and b.startswith(b"POST") and b"/start" in first:
            threading.Event().wait()  # held: the start never reaches the Engine
        if mode == "cut-import" and b.startswith(b"POST") and b"/images/create" in first:
            cut = True
        sent += len(b)
        if cut and sent > (1 << 20):
            break
        d.sendall(b)
    for s in (c, d):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(8)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
