#!/usr/bin/env python3
"""Drives mailctl's imapd with Python's imaplib, as a script client would.

usage: imaplib_client.py HOST PORT TLS_PORT CAFILE USER PASSWORD
Exits non-zero (with a message) at the first surprise.
"""
import imaplib
import ssl
import sys

host, port, tls_port, cafile, user, password = sys.argv[1:7]


def ok(resp, what):
    typ, data = resp
    if typ != "OK":
        sys.exit("%s: %s %r" % (what, typ, data))
    return data


# STARTTLS on the plain port, then the whole round trip.
M = imaplib.IMAP4(host, int(port))
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
ok(M.starttls(ssl_context=ctx), "STARTTLS")
ok(M.login(user, password), "LOGIN")
caps = ok(M.capability(), "CAPABILITY")[0].decode().split()
for cap in ("IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE", "NAMESPACE"):
    if cap not in caps:
        sys.exit("capability %s missing: %r" % (cap, caps))

ok(M.create("Projects"), "CREATE")
ok(M.create("Projects/2024"), "CREATE child")
lst = ok(M.list(), "LIST")
names = [l.decode().rsplit(' ', 1)[-1].strip('"') for l in lst]
for want in ("INBOX", "Projects", "Projects/2024", "Sent", "Trash"):
    if want not in names:
        sys.exit("LIST lacks %s: %r" % (want, lst))
if not any(b"\\Sent" in l for l in lst):
    sys.exit("no \\Sent special-use attribute: %r" % lst)

msg = b"From: carol@example.net\r\nTo: " + user.encode() + b"\r\nSubject: from imaplib\r\n\r\nhello from python\r\n"
data = ok(M.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(1700000000), msg), "APPEND")
if b"APPENDUID" not in data[0]:
    sys.exit("no APPENDUID: %r" % data)

n = int(ok(M.select("INBOX"), "SELECT")[0])
if n < 2:
    sys.exit("SELECT: %d messages, want at least 2" % n)
typ, data = M.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)")
if typ != "OK" or len(data) != n:
    sys.exit("FETCH: %s %r" % (typ, data))

uids = ok(M.uid("SEARCH", None, "SUBJECT", '"from imaplib"'), "UID SEARCH")[0].split()
if len(uids) != 1:
    sys.exit("UID SEARCH SUBJECT: %r" % uids)
uid = uids[0].decode()
body = ok(M.uid("FETCH", uid, "(BODY.PEEK[])"), "UID FETCH BODY.PEEK[]")
if body[0][1] != msg:
    sys.exit("BODY[] differs: %r" % body[0][1])
part = ok(M.uid("FETCH", uid, "(BODY.PEEK[TEXT]<0.5>)"), "partial")
if part[0][1] != b"hello":
    sys.exit("BODY[TEXT]<0.5>: %r" % part[0][1])

res = ok(M.uid("STORE", uid, "+FLAGS", "(\\Seen $Important)"), "UID STORE")
if b"$Important" not in res[0] or b"\\Seen" not in res[0]:
    sys.exit("STORE reply: %r" % res)
if ok(M.uid("SEARCH", None, "KEYWORD", "$Important"), "SEARCH KEYWORD")[0].split() != [uid.encode()]:
    sys.exit("SEARCH KEYWORD")
if ok(M.search(None, "UNSEEN"), "SEARCH UNSEEN")[0].split() == []:
    sys.exit("SEARCH UNSEEN found nothing, but the delivered message is unseen")

copied = ok(M.uid("COPY", uid, "Projects/2024"), "UID COPY")
moved = ok(M.uid("MOVE", uid, "Archive"), "UID MOVE")
st = ok(M.status("Archive", "(MESSAGES UIDNEXT UNSEEN)"), "STATUS")
if b"MESSAGES 1" not in st[0]:
    sys.exit("STATUS Archive: %r" % st)
st = ok(M.status("Projects/2024", "(MESSAGES)"), "STATUS")
if b"MESSAGES 1" not in st[0]:
    sys.exit("STATUS Projects/2024: %r" % st)

ok(M.store("1", "+FLAGS.SILENT", "(\\Deleted)"), "STORE \\Deleted")
exp = ok(M.expunge(), "EXPUNGE")
# imaplib keeps every EXPUNGE of the session (MOVE sent one too).
if exp[-1] != b"1":
    sys.exit("EXPUNGE: %r" % exp)
ok(M.close(), "CLOSE")
ok(M.rename("Projects", "Work"), "RENAME")
ok(M.delete("Work/2024"), "DELETE")
typ, data = M.select("../../etc")
if typ == "OK":
    sys.exit("SELECT ../../etc succeeded")
M.logout()

# Implicit TLS.
M = imaplib.IMAP4_SSL(host, int(tls_port), ssl_context=ctx)
ok(M.login(user, password), "LOGIN over TLS")
n = int(ok(M.select("Archive", readonly=True), "EXAMINE")[0])
if n != 1:
    sys.exit("EXAMINE Archive: %d" % n)
typ, data = M.store("1", "+FLAGS", "(\\Flagged)")
if typ == "OK":
    sys.exit("STORE in a read-only mailbox succeeded")
M.logout()
print("ok")
