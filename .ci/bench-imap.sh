#!/bin/sh
# Side by side: `mailctl imapd` against Dovecot's IMAP, in the same run,
# with the shared benchmark harness (../shared/bench, copied to a temporary
# folder):
#
#   - imap-bench.py on a 10,000-message folder (5–20 KB each, the
#     harness's generator, the same messages for both): LOGIN+SELECT,
#     UID FETCH 1:* (FLAGS), FETCH 1:* (ENVELOPE), FETCH 1:1000 BODY.PEEK[],
#     UID SEARCH HEADER Subject, STORE 1:* +FLAGS (\Seen); cold (state
#     files deleted, page cache dropped, and for mailctl a fresh process)
#     then warm; ROUNDS rounds, the servers taking turns;
#   - imap-concurrency.py: 20 client processes × 5 sessions of LOGIN,
#     SELECT, FETCH 1:100 BODY.PEEK[];
#   - imap-idle-mem.py: 1,000 sessions in LOGIN+SELECT+IDLE, the servers'
#     proportional resident memory before and after (Dovecot: its imap and
#     imap-login processes; mailctl: its one process).
#
# Both check the same kind of argon2id hash: the Dovecot users get
# mailctl's hashes as {ARGON2ID} for the run. Needs root (anchors-start.sh
# installs and configures Dovecot on loopback).
#
#   .ci/bench-imap.sh            # IMAP_MSGS=10000 ROUNDS=3 by default
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$top/../shared/bench}
COUNT=${IMAP_MSGS:-10000}
ROUNDS=${ROUNDS:-3}
IDLE_CONNS=${IDLE_CONNS:-1000}
PORT=${IMAP_BENCH_PORT:-11143}
PW='benchmark password'
DUSERS=/etc/dovecot/bench-users
DCONF=/etc/dovecot/bench.conf
work=$(mktemp -d /tmp/mailctl-bench-imap.XXXXXX)
keep=${RESULTS:-/tmp}/bench-imap-$(date +%Y%m%d-%H%M%S)
cleanup() {
  mkdir -p "$keep" && cp "$work"/*.jsonl "$keep"/ 2>/dev/null && echo "raw results in $keep" || true
  [ -f "$work/pid" ] && kill "$(cat "$work/pid")" 2>/dev/null || true
  # Give the users their harness passwords back, Dovecot its config.
  [ -f "$DUSERS" ] && sed -i 's|^\(u[0-9]*@bench.test\):.*|\1:{PLAIN}pw|' "$DUSERS" || true
  [ -f "$DCONF.orig" ] && mv "$DCONF.orig" "$DCONF" || true
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$BENCH" "$work/bench"
chmod -R u+w "$work/bench"
(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$work/mailctl" ./cmd/mailctl)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

cat > "$work/mailctl.toml" <<TOML
hostname = "mx.bench.test"
domains = ["bench.test"]
data_dir = "$work/data"
users_file = "$work/users"
aliases_file = "$work/aliases"
domains_file = "$work/domains"
user = ""
[tls]
cert = "$work/cert.pem"
key = "$work/key.pem"
[dns]
resolver = ["127.0.0.1:53"]
[auth]
plaintext_loopback = true   # the harness logs in without TLS (as with the anchor)
[modules]
smtpd = false
submitd = false
pop3d = false
lmtp = false
queue = false
imapd = true
[imapd]
listen = ["127.0.0.1:$PORT"]
listen_tls = []
TOML
export MAILCTL_CONFIG="$work/mailctl.toml"
users=""
for i in $(seq 1 20); do
  echo "$PW" | "$work/mailctl" useradd "u$i@bench.test" --password-stdin >/dev/null 2>&1
  users="$users${users:+,}u$i@bench.test"
done
md="$work/data/mail/bench.test/u2"

cd "$work/bench"
./anchors-start.sh >/dev/null 2>&1
for i in $(seq 1 20); do
  hash=$(awk -v u="u$i@bench.test" '$1 == u { print $2 }' "$work/users")
  sed -i "s|^u$i@bench.test:.*|u$i@bench.test:{ARGON2ID}$hash|" "$DUSERS"
done
python3 gen-maildir.py --maildir /var/mail/vhosts/bench.test/u2/Maildir --count "$COUNT" \
  --rcpt u2@bench.test --chown 5000:5000 --clear
python3 gen-maildir.py --maildir "$md" --count "$COUNT" --rcpt u2@bench.test --clear

# (Re)start mailctl imapd: a cold start has nothing in memory either.
cat > "$work/restart-mailctl.sh" <<SH
#!/bin/sh
[ -f "$work/pid" ] && kill \$(cat "$work/pid") 2>/dev/null && sleep 0.3
rm -f "$md"/mailctl-uidlist "$md"/mailctl-cache "$md"/mailctl-msgcache
sync; echo 3 > /proc/sys/vm/drop_caches
"$work/mailctl" imapd --log-file "$work/imapd.log" </dev/null >/dev/null 2>&1 &
echo \$! > "$work/pid"
for _ in \$(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()" 2>/dev/null && exit 0
  sleep 0.1
done
echo "mailctl imapd did not start" >&2; exit 1
SH
chmod +x "$work/restart-mailctl.sh"
"$work/restart-mailctl.sh"

dovecot() {
  python3 imap-bench.py --port 1143 --user u2@bench.test --password "$PW" --runs 2 \
    --reset-cmd './reset-dovecot.sh u2' --label dovecot --json "$work/dovecot.jsonl"
}
mailctl() {
  python3 imap-bench.py --port "$PORT" --user u2@bench.test --password "$PW" --runs 2 \
    --reset-cmd "$work/restart-mailctl.sh" --label mailctl --json "$work/mailctl.jsonl"
}
conc() {
  python3 imap-concurrency.py --port "$1" --users u2@bench.test --password "$PW" \
    --clients 20 --iterations 5 --range 1:100 --label "$2" --json "$work/$2-conc.jsonl" >/dev/null
}
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  if [ $((r % 2)) = 1 ]; then dovecot; mailctl; conc 1143 dovecot; conc "$PORT" mailctl
  else mailctl; dovecot; conc "$PORT" mailctl; conc 1143 dovecot; fi
done

# 1,000 idle sessions. The logins use a SHA512-crypt hash in both servers
# for this step: an argon2id check allocates 64 MiB, which the Go runtime
# keeps (as free heap) long after, and would be counted as the sessions'.
crypt=$(doveadm pw -s SHA512-CRYPT -p "$PW")
for i in $(seq 1 20); do
  sed -i "s|^u$i@bench.test:.*|u$i@bench.test:$crypt|" "$DUSERS"
done
awk -v h="$crypt" '$1 ~ /^u[0-9]+@bench[.]test$/ { $2 = h } { print }' "$work/users" > "$work/users.new"
cat "$work/users.new" > "$work/users"
# Dovecot needs a process per session: allow them.
cp "$DCONF" "$DCONF.orig"
printf 'service imap {\n  process_limit = %d\n}\nservice imap-login {\n  process_limit = %d\n}\n' \
  $((IDLE_CONNS + 100)) $((IDLE_CONNS + 100)) >> "$DCONF"
doveadm -c "$DCONF" reload >/dev/null 2>&1 || true
sleep 1
python3 "$top/.ci/imap-idle-mem.py" --port 1143 --users "$users" --password "$PW" --count "$IDLE_CONNS" \
  --pids-cmd 'pgrep -x imap; pgrep -x imap-login' --label dovecot --json "$work/idle.jsonl" >/dev/null ||
  echo "Dovecot idle-session test failed" >&2
"$work/restart-mailctl.sh"
python3 "$top/.ci/imap-idle-mem.py" --port "$PORT" --users "$users" --password "$PW" --count "$IDLE_CONNS" \
  --pids-cmd "cat $work/pid" --settle 10 --label mailctl --json "$work/idle.jsonl" >/dev/null ||
  echo "mailctl idle-session test failed" >&2
./anchors-stop.sh >/dev/null 2>&1 || true

# min / median / max of each figure, Dovecot beside mailctl.
python3 - "$work" <<'PY'
import json, statistics, sys
w = sys.argv[1]
def load(p, keys):
    out = {}
    for l in open(p):
        r = json.loads(l)
        for k, scale, unit in keys:
            if k in r:
                out.setdefault(("%s (%s)" % (k, r.get("phase", "")) if "phase" in r else k, unit), []).append(r[k] * scale)
    return out
fmt = lambda v: "%.1f / %.1f / %.1f" % (min(v), statistics.median(v), max(v))
single = [(k, 1000, "ms") for k in ("login_select", "uid_fetch_flags", "fetch_envelope", "fetch_body",
                                   "uid_search", "store_seen", "store_unseen")] + [("fetch_body_MBps", 1, "MB/s")]
d, m = load(w + "/dovecot.jsonl", single), load(w + "/mailctl.jsonl", single)
print("\nIMAP, %s messages: min / median / max over %d runs each" % (json.loads(open(w + "/mailctl.jsonl").readline())["exists"], len(next(iter(d.values())))))
print("| measure | unit | Dovecot | mailctl |\n|---|---|---|---|")
for k in sorted(d, key=lambda k: (k[0].split(" ")[1], k[0])):
    print("| %s | %s | %s | %s |" % (k[0], k[1], fmt(d[k]), fmt(m.get(k, [0]))))
ck = [("sessions_per_s", 1, "sessions/s"), ("msgs_per_s", 1, "msgs/s"), ("lat_p50", 1000, "ms"), ("lat_p95", 1000, "ms")]
dc, mc = load(w + "/dovecot-conc.jsonl", ck), load(w + "/mailctl-conc.jsonl", ck)
print("\n20 clients x 5 sessions of LOGIN, SELECT, FETCH 1:100 BODY.PEEK[]")
print("| measure | unit | Dovecot | mailctl |\n|---|---|---|---|")
for k in dc:
    print("| %s | %s | %s | %s |" % (k[0], k[1], fmt(dc[k]), fmt(mc.get(k, [0]))))
import os
if not os.path.exists(w + "/idle.jsonl"):
    sys.exit(0)
print("\nIdle IDLE sessions")
print("| server | sessions | processes | PSS before | PSS after | per session |\n|---|---|---|---|---|---|")
for l in open(w + "/idle.jsonl"):
    r = json.loads(l)
    print("| %s | %d | %d | %.1f MB | %.1f MB | %.1f KB |" % (r["label"], r["count"], r["processes"],
          r["pss_before_kb"] / 1024, r["pss_after_kb"] / 1024, r["per_conn_kb"]))
PY
