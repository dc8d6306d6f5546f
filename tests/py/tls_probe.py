"""Probes a Bolt server's TLS the way a client meets it, and prints one normalized outcome per
probe, so two servers (Neo4j and boltgate) configured with the same settings can be compared.

usage: tls_probe.py '[{"name": ..., "port": N, ...}, ...]'
Probe fields: port; kind "raw" (Python's ssl + the Bolt handshake) or "driver" (the official
driver, RETURN 1); tls (bool); ca, cert, key (PEM paths, optional); key_password; for "raw" also
min/max ("TLSv1.2"/"TLSv1.3") and ciphers (an OpenSSL TLS 1.2 cipher list).
Output: {"outcomes": {"<name>": "<outcome>", ...}}. Outcomes name what the client saw:
"connected", "connected TLSv1.3", "query ok", "refused: TLS alert <name>", "refused: closed
during the TLS handshake", "refused: closed before the Bolt handshake reply", ...
"""

import json
import re
import socket
import ssl
import sys

import neo4j
from neo4j.auth_management import ClientCertificate
from neo4j.exceptions import DriverError, Neo4jError

TIMEOUT = 10.0
# Bolt magic, then 6.0, 5.8..5.0 (a range), 4.4..4.2, none.
BOLT_HANDSHAKE = bytes.fromhex("6060B017" "00000006" "00080805" "00020404" "00000000")
VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def ssl_reason(e):
    """'TLS alert certificate_required' from an SSLError whose reason names an alert."""
    reason = getattr(e, "reason", None) or ""
    m = re.match(r"(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)", reason)
    if m:
        return "TLS alert " + m.group(1).lower()
    if reason in ("UNEXPECTED_EOF_WHILE_READING",) or isinstance(e, ssl.SSLEOFError):
        return "closed during the TLS handshake"
    if reason == "WRONG_VERSION_NUMBER" or reason == "RECORD_LAYER_FAILURE":
        return "the server did not answer in TLS"
    if reason:
        return "TLS error " + reason.lower()
    return "TLS error " + str(e)


def context(p):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if p.get("ca"):
        ctx.load_verify_locations(p["ca"])
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if p.get("min"):
        ctx.minimum_version = VERSIONS[p["min"]]
    if p.get("max"):
        ctx.maximum_version = VERSIONS[p["max"]]
    if p.get("ciphers"):
        ctx.set_ciphers(p["ciphers"])
    if p.get("cert"):
        ctx.load_cert_chain(p["cert"], p["key"], p.get("key_password"))
    return ctx


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def raw(p):
    try:
        s = socket.create_connection(("127.0.0.1", p["port"]), timeout=TIMEOUT)
    except OSError as e:
        return "refused: cannot connect (%s)" % e.strerror
    detail = ""
    try:
        if p.get("tls"):
            try:
                s = context(p).wrap_socket(s, server_hostname="127.0.0.1")
            except ssl.SSLError as e:
                return "refused: " + ssl_reason(e)
            except (ConnectionResetError, BrokenPipeError):
                return "refused: closed during the TLS handshake"
            except socket.timeout:
                return "refused: no TLS answer within %ss" % TIMEOUT
            if p.get("show_version"):
                detail = " " + s.version()
            if p.get("show_cipher"):
                detail += " " + s.cipher()[0]
        try:
            s.sendall(BOLT_HANDSHAKE)
            reply = read_exact(s, 4)
        except ssl.SSLError as e:
            # TLS 1.3: a refused client certificate is reported after the client's Finished.
            return "refused: " + ssl_reason(e)
        except (ConnectionResetError, BrokenPipeError):
            return "refused: closed before the Bolt handshake reply"
        except socket.timeout:
            return "refused: no Bolt handshake reply within %ss" % TIMEOUT
        if len(reply) < 4:
            return "refused: closed before the Bolt handshake reply"
        if reply == b"\0\0\0\0":
            return "refused: no common Bolt version"
        return "connected" + detail
    finally:
        s.close()


def driver(p):
    uri = "bolt://127.0.0.1:%d" % p["port"]
    kw = dict(auth=None, connection_timeout=TIMEOUT, max_transaction_retry_time=0)
    if p.get("tls"):
        kw["encrypted"] = True
        kw["trusted_certificates"] = neo4j.TrustCustomCAs(p["ca"])
        if p.get("cert"):
            kw["client_certificate"] = ClientCertificate(
                p["cert"], p["key"], p.get("key_password"))
    try:
        with neo4j.GraphDatabase.driver(uri, **kw) as d:
            with d.session() as session:
                value = session.run("RETURN 1 AS n").single()["n"]
        return "query ok" if value == 1 else "query answered %r" % value
    except (DriverError, Neo4jError, OSError) as e:
        return "%s: %s" % (type(e).__name__, driver_reason(e))


def driver_reason(e):
    """What the driver said, without addresses and ports (they differ between the servers)."""
    text = str(e)
    m = re.search(r"\[SSL: ([A-Z0-9_]+)\]", text)
    if m:
        fake = ssl.SSLError()
        fake.reason = m.group(1)
        return ssl_reason(fake)
    for needle, what in (("SSLEOFError", "closed during the TLS handshake"),
                         ("EOF occurred in violation", "closed during the TLS handshake"),
                         ("reset by peer", "connection reset"),
                         ("ConnectionResetError", "connection reset"),
                         ("Failed to read four byte Bolt handshake response",
                          "no Bolt handshake reply (connection closed)")):
        if needle in text:
            return what
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("Couldn't connect")]
    first = lines[0] if lines else text
    first = re.sub(r"\(?Resolved\w*Address\(\(.*?\)\)\)?", "<address>", first)
    first = re.sub(r"127\.0\.0\.1:\d+|\('127\.0\.0\.1', \d+\)", "<address>", first)
    return first[:160]


def main():
    probes = json.loads(sys.argv[1])
    out = {}
    for p in probes:
        out[p["name"]] = driver(p) if p.get("kind") == "driver" else raw(p)
    print(json.dumps({"outcomes": out}))


if __name__ == "__main__":
    main()
