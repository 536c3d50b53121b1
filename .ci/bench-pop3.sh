#!/bin/sh
# Side by side: `mailctl pop3d` against Dovecot's POP3, in the same run,
# with the shared benchmark harness (../shared/bench, copied to a temporary
# folder): a 2,000-message box (5–20 KB each, the harness's generator, the
# same messages for both), then pop3-bench.py's login, STAT, UIDL and RETR
# of every message, cold (state files deleted, page cache dropped) and
# warm, ROUNDS times, the servers taking turns. Both check the same
# argon2id hash: Dovecot's u3 gets mailctl's hash as {ARGON2ID} for the run.
# Needs root (anchors-start.sh installs and configures Dovecot on loopback).
#
#   .ci/bench-pop3.sh            # POP3_MSGS=2000 ROUNDS=3 by default
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$top/../shared/bench}
COUNT=${POP3_MSGS:-2000}
ROUNDS=${ROUNDS:-3}
PORT=${POP3_BENCH_PORT:-11110}
PW='benchmark password'
DUSERS=/etc/dovecot/bench-users
work=$(mktemp -d /tmp/mailctl-bench-pop3.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  # Give u3 its harness password back.
  [ -f "$DUSERS" ] && sed -i 's|^u3@bench.test:.*|u3@bench.test:{PLAIN}pw|' "$DUSERS" || true
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$BENCH" "$work/bench"
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
plaintext_loopback = true   # pop3-bench.py logs in with USER/PASS, no TLS (as with the anchor)
[modules]
smtpd = false
submitd = false
imapd = false
lmtp = false
queue = false
pop3d = true
[pop3d]
listen = ["127.0.0.1:$PORT"]
listen_tls = []
TOML
export MAILCTL_CONFIG="$work/mailctl.toml"
echo "$PW" | "$work/mailctl" useradd u3@bench.test --password-stdin >/dev/null 2>&1
hash=$(awk '$1 == "u3@bench.test" { print $2 }' "$work/users")
md="$work/data/mail/bench.test/u3"

cd "$work/bench"
./anchors-start.sh >/dev/null 2>&1
sed -i "s|^u3@bench.test:.*|u3@bench.test:{ARGON2ID}$hash|" "$DUSERS"
python3 gen-maildir.py --maildir /var/mail/vhosts/bench.test/u3/Maildir --count "$COUNT" \
  --rcpt u3@bench.test --chown 5000:5000 --clear --seed 3
python3 gen-maildir.py --maildir "$md" --count "$COUNT" --rcpt u3@bench.test --clear --seed 3

"$work/mailctl" pop3d --log-file "$work/pop3d.log" &
pid=$!
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()" 2>/dev/null && break
  sleep 0.1
done

dovecot() {
  python3 pop3-bench.py --port 1110 --user u3@bench.test --password "$PW" --runs 2 \
    --reset-cmd './reset-dovecot.sh u3' --label dovecot --json "$work/dovecot.jsonl"
}
mailctl() {
  python3 pop3-bench.py --port "$PORT" --user u3@bench.test --password "$PW" --runs 2 \
    --reset-cmd "rm -f $md/mailctl-uidlist $md/mailctl-cache $md/mailctl-msgcache && ./reset-pagecache.sh" \
    --label mailctl --json "$work/mailctl.jsonl"
}
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  if [ $((r % 2)) = 1 ]; then dovecot; mailctl; else mailctl; dovecot; fi
done
./anchors-stop.sh >/dev/null 2>&1 || true

# min / median / max of each figure, Dovecot beside mailctl.
python3 - "$work/dovecot.jsonl" "$work/mailctl.jsonl" <<'PY'
import json, statistics, sys
def load(p):
    out = {}
    for l in open(p):
        r = json.loads(l)
        for k, scale, unit in (("login", 1000, "ms"), ("stat", 1000, "ms"), ("uidl", 1000, "ms"),
                               ("retr_all", 1000, "ms"), ("retr_MBps", 1, "MB/s"), ("total", 1000, "ms")):
            out.setdefault(("%s (%s)" % (k, r["phase"]), unit), []).append(r[k] * scale)
    return out
d, m = load(sys.argv[1]), load(sys.argv[2])
fmt = lambda v: "%.1f / %.1f / %.1f" % (min(v), statistics.median(v), max(v))
print("\nPOP3 RETR of the whole box: min / median / max over %d runs each" % len(next(iter(d.values()))))
print("| measure | unit | Dovecot | mailctl |\n|---|---|---|---|")
for k in d:
    print("| %s | %s | %s | %s |" % (k[0], k[1], fmt(d[k]), fmt(m.get(k, [0]))))
PY
