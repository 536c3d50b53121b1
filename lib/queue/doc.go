// Package queue is the outbound queue runner: it takes messages from the
// spool (lib/spool), delivers them — remote recipients over SMTP
// (lib/smtpout), local recipients whose first delivery failed through the
// MDA (lib/deliver) — retries what failed temporarily, and reports what
// failed for good in a delivery status notification (RFC 3464) to the
// envelope sender.
//
// # One runner
//
// A runner holds an exclusive lock (StateDir/queue-runner.lock) for as
// long as it runs, so `queue run` (the daemon) and `queue run --once` (a
// timer) never run together; a second one gets ErrBusy. At start the
// runner moves back to incoming/ whatever a dead runner left in active/
// (RequeueActive) and lets the spool clean up after crashes (Recover).
// A message is claimed by renaming its envelope into active/, delivered,
// and then either removed (every recipient sent or failed, their
// bounces already queued) or moved to deferred/ with its per-recipient
// state, attempt count and next attempt time — one durable step each.
// Recipients sent before the attempt moves on to the next domain are
// recorded in the envelope right away. A crash at any point leaves the
// message in active/ (requeued at the next start), or where it was: never
// lost, at worst delivered twice to the recipients of one transaction.
//
// # Schedule
//
// incoming/ is always due; a message in deferred/ is due at its
// NextAttempt. After a temporary failure the next attempt is
// RetryInitial later, doubling with each attempt up to RetryMax between
// attempts. A message older than MaxAge with recipients still pending
// fails for them ("delivery time expired"). The daemon looks at
// incoming/ every Poll and at deferred/ when its earliest message is due
// (and every minute); `queue flush` moves deferred/ to incoming/.
//
// # Modes
//
// ModeDirect delivers by MX; ModeSmarthost hands everything to the
// relay; ModeDirectThenSmarthost delivers by MX and gives the relay, in
// the same attempt, the recipients whose direct delivery the smarthost
// may fix (no MX reachable, or a policy refusal: see
// smtpout.RcptResult.Fallback). Each log line names the path taken:
// "direct", "smarthost" or "local".
//
// The relay's limits are kept in a small file shared by every process,
// StateDir/relay-sends (under relay-sends.lock):
//
//	mailctl-relay-sends 1
//	1735787045           one line per message handed to the relay in
//	1735787101           the last 24 hours: Unix seconds
//
// A message is counted before it is sent; when the relay takes none of
// its recipients the count is given back. Over messages_per_hour or
// messages_per_day a message waits (deferred, not counted as an attempt)
// until the oldest send in the window is old enough. A message larger
// than the relay's max_size bounces in smarthost mode and keeps its
// direct-delivery result in direct-then-smarthost mode.
//
// # Bounces and warnings
//
// Failed recipients are reported in one DSN per attempt: multipart/report
// with a readable text, a message/delivery-status part naming each
// recipient with the remote server's reply, and the original header. It
// is queued like any message (From: MAILER-DAEMON, MAIL FROM:<>,
// Auto-Submitted: auto-replied) before the original's state changes, so
// a crash can duplicate a bounce but never lose one. A message from the
// null sender never bounces: when it fails, the postmaster gets the report
// instead, unless it was itself such a report (then it is only logged).
// After DelayWarning the sender is told once that delivery is still being
// tried; the fact is remembered as an empty file
// StateDir/queue-warned/<id>, removed with the message.
package queue
