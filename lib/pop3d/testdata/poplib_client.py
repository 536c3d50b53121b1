#!/usr/bin/env python3
"""Drives mailctl's POP3 server with Python's poplib (the test in
clients_test.go checks what it prints: one JSON object).

  poplib_client.py HOST PORT TLS_PORT CAFILE USER PASSWORD
"""
import base64
import json
import poplib
import ssl
import sys

host, port, tls_port, cafile, user, password = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
out = {}

# 1. Port 110 style: CAPA, STLS, USER/PASS, STAT, UIDL, RETR, TOP, DELE, QUIT.
p = poplib.POP3(host, int(port), timeout=20)
out["capa_before"] = sorted(p.capa().keys())
p.stls(ctx)
out["capa_after"] = sorted(p.capa().keys())
p.user(user)
p.pass_(password)
count, size = p.stat()
out["stat"] = [count, size]
_, uidl, _ = p.uidl()
out["uidl"] = [l.decode() for l in uidl]
_, lines, octets = p.retr(1)
out["retr1"] = {"lines": [l.decode("latin-1") for l in lines], "octets": octets}
_, top, _ = p.top(2, 0)
out["top2"] = [l.decode("latin-1") for l in top]
p.dele(1)
out["quit"] = p.quit().decode()

# 2. Port 995 style: implicit TLS, AUTH PLAIN (poplib has no AUTH
# method; it is sent as a plain command, as RFC 5034 allows).
p = poplib.POP3_SSL(host, int(tls_port), context=ctx, timeout=20)
cred = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
out["auth"] = p._shortcmd("AUTH PLAIN " + cred).decode()
out["stat2"] = list(p.stat())
_, uidl, _ = p.uidl()
out["uidl2"] = [l.decode() for l in uidl]
out["quit2"] = p.quit().decode()

# 3. A wrong password is refused with a response code.
p = poplib.POP3_SSL(host, int(tls_port), context=ctx, timeout=20)
p.user(user)
try:
    p.pass_("wrong " + password)
    out["wrong"] = "accepted"
except poplib.error_proto as e:
    out["wrong"] = e.args[0].decode()
p.quit()
print(json.dumps(out))
