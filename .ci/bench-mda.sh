#!/bin/sh
# Side by side: `mailctl deliver` against Dovecot's dovecot-lda, one process
# per message, in the same run, with the shared benchmark harness
# (../shared/bench). Sets up Dovecot on loopback through the harness's
# anchors-start.sh (installs it when missing; needs root).
#
#   .ci/bench-mda.sh            # MDA_COUNT=500 ROUNDS=3 by default
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$top/../shared/bench}
COUNT=${MDA_COUNT:-500}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /tmp/mailctl-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$BENCH" "$work/bench"
(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$work/mailctl" ./cmd/mailctl)

cat > "$work/mailctl.toml" <<TOML
hostname = "mx.bench.test"
domains = ["bench.test"]
data_dir = "$work/data"
users_file = "$work/users"
aliases_file = "$work/aliases"
domains_file = "$work/domains"
user = ""
[dns]
resolver = ["127.0.0.1:53"]
TOML
export MAILCTL_CONFIG="$work/mailctl.toml"
# The harness's messages already carry "Delivered-To: u4@bench.test" (as
# if a previous hop had delivered them), which deliver rightly refuses as a
# loop for u4: mailctl delivers the same messages to u5.
echo 'benchmark password' | "$work/mailctl" useradd u5@bench.test --password-stdin

cd "$work/bench"
./anchors-start.sh >/dev/null 2>&1
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  python3 mda-bench.py --label dovecot-lda --count "$COUNT" \
    --cmd '/usr/lib/dovecot/dovecot-lda -c /etc/dovecot/bench.conf -d u4@bench.test'
  python3 mda-bench.py --label mailctl --count "$COUNT" \
    --cmd "$work/mailctl deliver u5@bench.test" --verify-dir "$work/data/mail/bench.test/u5/new"
done
./anchors-stop.sh >/dev/null 2>&1 || true
