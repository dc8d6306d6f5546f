"""A minimal Bolt 5.4 client for examples/cost/op_cost.sh: N sessions of handshake + HELLO +
LOGON + GOODBYE, or one session of Q sequential `RETURN 1` queries (RUN + PULL, read to the last
summary). Plain sockets and hand-packed messages, so the client's own cost stays out of the proxy's
count and nothing beyond Python is needed."""
import socket
import struct
import sys


def pack_str(s):
    b = s.encode()
    assert len(b) < 16
    return bytes([0x80 | len(b)]) + b


def pack_map(d):
    out = bytes([0xA0 | len(d)])
    for k, v in d.items():
        out += pack_str(k) + pack_str(v)
    return out


def chunk(msg):
    return struct.pack(">H", len(msg)) + msg + b"\0\0"


HELLO = chunk(bytes([0xB1, 0x01]) + pack_map({"user_agent": "cost/1"}))
LOGON = chunk(bytes([0xB1, 0x6A]) + pack_map({"scheme": "basic", "principal": "neo4j", "credentials": "pw"}))
GOODBYE = chunk(bytes([0xB0, 0x02]))
RUN = chunk(bytes([0xB3, 0x10]) + pack_str("RETURN 1") + bytes([0xA0, 0xA0]))
PULL = chunk(bytes([0xB1, 0x3F, 0xA1]) + pack_str("n") + bytes([0xFF]))  # {n: -1}
SUCCESS, FAILURE = 0x70, 0x7F


def read_msg(s):
    out = b""
    while True:
        n = struct.unpack(">H", s.recv(2, socket.MSG_WAITALL))[0]
        if n == 0:
            return out
        out += s.recv(n, socket.MSG_WAITALL)


def session(addr, queries):
    s = socket.create_connection(addr, timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"\x60\x60\xb0\x17" + bytes([0, 0, 4, 5]) + bytes(12))
    if s.recv(4, socket.MSG_WAITALL) != bytes([0, 0, 4, 5]):
        sys.exit("the server did not agree Bolt 5.4")
    s.sendall(HELLO + LOGON)
    for _ in range(2):
        m = read_msg(s)
        if m[1] != SUCCESS:
            sys.exit(f"login refused: {m!r}")
    for _ in range(queries):
        s.sendall(RUN + PULL)
        summaries = 0
        while summaries < 2:  # RUN's SUCCESS, the RECORD, PULL's SUCCESS
            m = read_msg(s)
            if m[1] == FAILURE:
                sys.exit(f"query failed: {m!r}")
            summaries += m[1] == SUCCESS
    s.sendall(GOODBYE)
    s.close()


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    sessions, queries = int(sys.argv[2]), int(sys.argv[3])
    for _ in range(sessions):
        session((host, int(port)), queries)


main()
