"""Does a TLS client resume its session after other clients came in meanwhile?

usage: tls_resume.py PORT CA_FILE OTHERS
Prints one JSON line: {"at_once": bool, "after_others": bool, "version": "..."}.
Python's ssl (OpenSSL) client: a session is resumable once the server's tickets were read,
which happens on the first read after the handshake (the Bolt handshake's answer here).
"""
import json
import socket
import ssl
import sys

port, ca_file, others = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
BOLT_HANDSHAKE = b"\x60\x60\xb0\x17" + bytes([0, 0, 8, 5]) + bytes(12)


def context():
    c = ssl.create_default_context(cafile=ca_file)
    c.check_hostname = False
    return c


def connect(c, session=None):
    s = c.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=10),
        server_hostname="localhost",
        session=session,
    )
    s.sendall(BOLT_HANDSHAKE)
    try:
        s.recv(4)
    except (OSError, ssl.SSLError):
        pass
    out = (s.session_reused, s.session, s.version())
    s.close()
    return out


mine = context()
_, session, version = connect(mine)
at_once, session, _ = connect(mine, session)
for _ in range(others):
    connect(context())
after_others, _, _ = connect(mine, session)
print(json.dumps({"at_once": at_once, "after_others": after_others, "version": version}))
