#!/bin/sh
# Side by side: inbound SMTP into a Maildir, `mailctl smtpd` against
# Postfix (smtpd -> cleanup -> virtual(8) Maildir, Debian's defaults, every
# fsync on), in the same run, with the shared benchmark harness
# (../shared/bench): Postfix's smtp-source sends COUNT 10 KB messages from
# 20 concurrent sessions, one message per connection, and a run ends when
# all COUNT files are in the recipient's new/. ROUNDS rounds, interleaved;
# prints median, min and max messages per second delivered.
#
#   .ci/bench-smtp.sh           # SMTP_COUNT=3000 ROUNDS=3 by default; needs root
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$top/../shared/bench}
COUNT=${SMTP_COUNT:-3000}
ROUNDS=${ROUNDS:-3}
PORT=${SMTP_BENCH_PORT:-2626}
work=$(mktemp -d /tmp/mailctl-smtp-bench.XXXXXX)
pid=""
# Anchors someone else started (another benchmark using Dovecot, say) are
# left running at the end.
listening() { python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; }
stop_anchors=yes
if listening 2525 || listening 1143; then stop_anchors=no; fi
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [ "$stop_anchors" = yes ]; then
    (cd "$work/bench" 2>/dev/null && ./anchors-stop.sh >/dev/null 2>&1) || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$BENCH" "$work/bench"
(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$work/mailctl" ./cmd/mailctl)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=mx.bench.test \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
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
TOML
export MAILCTL_CONFIG="$work/mailctl.toml"
echo 'benchmark password' | "$work/mailctl" useradd u1@bench.test --password-stdin >/dev/null
"$work/mailctl" smtpd --listen "127.0.0.1:$PORT" --log-level warn 2>"$work/smtpd.log" &
pid=$!

cd "$work/bench"
./anchors-start.sh >/dev/null 2>&1
# Both Maildirs start empty, once. Emptying them before every run (the
# harness's --clear) would measure ext4 more than the servers: on this
# journal-less ext4, creating a file skips every inode freed in the last
# ~30 s, one by one, so right after 3000 deletions each new file costs a
# long scan — for both servers alike. So: empty once, let the deletions
# age past that window, then let the Maildirs fill up (3000 more files a
# run), as a real mailbox does.
pf_new=/var/mail/vhosts/bench.test/u1/Maildir/new
rm -f "$pf_new"/* "$pf_new"/../cur/* 2>/dev/null || true
sleep "${SETTLE:-31}"
results="$work/results.jsonl"
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  python3 smtp-bench.py --label postfix --port 2525 --rcpt u1@bench.test --count "$COUNT" --sessions 20 \
    --size 10240 --maildir-new "$pf_new" --json "$results"
  python3 smtp-bench.py --label mailctl --port "$PORT" --rcpt u1@bench.test --count "$COUNT" --sessions 20 \
    --size 10240 --maildir-new "$work/data/mail/bench.test/u1/new" --json "$results"
done
python3 - "$results" "$COUNT" "$ROUNDS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\nSMTP inbound to Maildir, %s x 10 KB, 20 sessions, 1 message per connection, %s rounds (delivered msgs/s):" % (sys.argv[2], sys.argv[3]))
med = {}
for label in ("postfix", "mailctl"):
    v = [r["delivered_per_s"] for r in rows if r["label"] == label and r.get("delivered") == r["count"]]
    bad = [r for r in rows if r["label"] == label and (r.get("delivered") != r["count"] or r["rc"] != 0)]
    if bad:
        print("  %s: %d run(s) incomplete: %s" % (label, len(bad), bad[0].get("stderr", "")[-200:]))
    if v:
        med[label] = statistics.median(v)
        print("  %-8s median %6.0f  min %6.0f  max %6.0f" % (label, med[label], min(v), max(v)))
if len(med) == 2:
    print("  mailctl / postfix (medians): %.2fx" % (med["mailctl"] / med["postfix"]))
print("rerun: .ci/bench-smtp.sh   (SMTP_COUNT=%s ROUNDS=%s)" % (sys.argv[2], sys.argv[3]))
PY
