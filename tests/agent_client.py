#!/usr/bin/env python3
"""A raw client of the agent's session protocol (docs/agent-protocol.md),
for tests that must send what hearth never does: bad headers, unknown
frame types, other versions, frames for sessions that do not exist.

Usage: agent_client.py SOCKET SCRIPT
SOCKET is a session stream's unix socket (a QEMU guest's session-N.sock).
SCRIPT is one of the checks below; each prints what it saw and exits 0
when the agent answered as the protocol says."""
import json
import os
import socket
import struct
import sys

HELLO, ERROR, EXEC, STARTED, STDIN, STDOUT, STDERR, RESIZE, SIGNAL, EXIT, CLOSE = range(1, 12)


def frame(ftype, session, payload=b""):
    return struct.pack(">IBBHI", len(payload), ftype, 0, 0, session) + payload


class Stream:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(20)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read(self):
        """The next frame (type, session, payload), or None at the end."""
        while True:
            if len(self.buf) >= 12:
                n, t, _, _, sid = struct.unpack(">IBBHI", self.buf[:12])
                if len(self.buf) >= 12 + n:
                    f = (t, sid, self.buf[12:12 + n])
                    self.buf = self.buf[12 + n:]
                    return f
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data

    def until(self, ftype, session):
        """Frames up to and including the first of FTYPE for SESSION."""
        seen = []
        while True:
            f = self.read()
            if f is None:
                return seen, None
            seen.append(f)
            if f[0] == ftype and f[1] == session:
                return seen, f


def ended(st, path):
    """The stream ended: a connection is closed by the agent (a virtio
    port's host end cannot be: it starts over). Then a new stream is
    served."""
    if not os.path.basename(path).startswith("session-"):
        assert st.read() is None, "the agent did not close the stream"
    st.s.close()
    again = Stream(path)
    hello(again)


def hello(st):
    st.send(frame(HELLO, 0, struct.pack(">I", 1)))
    f = st.read()
    assert f and f[0] == HELLO, f


def exec_req(argv):
    return json.dumps({"argv": argv}).encode()


def version_error(path):
    st = Stream(path)
    st.send(frame(HELLO, 0, struct.pack(">I", 2)))
    f = st.read()
    assert f and f[0] == ERROR and b"unsupported version 2; this agent speaks 1" in f[2], f
    return st, f


def check_version(path):
    st, f = version_error(path)
    ended(st, path)
    print("version 2 refused:", f[2].decode())


def bad_header_error(path):
    st = Stream(path)
    hello(st)
    st.send(struct.pack(">IBBHI", 1 << 20, STDIN, 0, 0, 1))
    f = st.read()
    assert f and f[0] == ERROR and b"longer than 64 KiB" in f[2], f
    return st, f


def check_bad_header(path):
    st, f = bad_header_error(path)
    ended(st, path)
    print("oversized frame ends the stream:", f[2].decode())


def check_sessions_apart(path):
    """A bad frame for one session ends that one alone; the other goes on."""
    st = Stream(path)
    hello(st)
    st.send(frame(EXEC, 1, exec_req(["sh", "-c", "sleep 1; echo one"])) + frame(STDIN, 1))
    st.send(frame(EXEC, 2, exec_req(["sleep", "30"])) + frame(STDIN, 2))
    st.send(frame(99, 2, b"?"))        # unknown type: session 2 ends, killed
    st.send(frame(STDIN, 7, b"x"))     # no session 7: dropped, as crossing an EXIT
    st.send(frame(STARTED, 8, b"x"))   # no session 8, and a frame only the agent sends
    frames, end = st.until(EXIT, 1)
    assert end is not None and struct.unpack(">i", end[2])[0] == 0, frames
    out = b"".join(p for t, s, p in frames if t == STDOUT and s == 1)
    assert out == b"one\n", out
    errors = {s: p for t, s, p in frames if t == ERROR}
    assert b"unknown frame type 99" in errors.get(2, b""), errors
    assert 7 not in errors, errors
    assert b"no session 8" in errors.get(8, b""), errors
    # The stream still serves: a third session runs.
    st.send(frame(EXEC, 3, exec_req(["echo", "three"])) + frame(STDIN, 3))
    frames, end = st.until(EXIT, 3)
    assert end is not None and b"three\n" in b"".join(p for t, s, p in frames if t == STDOUT), frames
    print("sessions kept apart:", sorted(errors))


def check_before_hello(path):
    st = Stream(path)
    st.send(frame(EXEC, 1, exec_req(["true"])))
    f = st.read()
    assert f and f[0] == ERROR and b"HELLO first" in f[2], f
    ended(st, path)
    print("HELLO first:", f[2].decode())


if __name__ == "__main__":
    # The *_error checks stop at the agent's ERROR: a virtio port's host
    # end cannot be closed by the guest, so what a port does next is not
    # the protocol's to say (docs/agent-protocol.md).
    {"version": check_version, "bad_header": check_bad_header, "sessions_apart": check_sessions_apart,
     "before_hello": check_before_hello, "version_error": version_error,
     "bad_header_error": bad_header_error}[sys.argv[2]](sys.argv[1])
