# Shell functions the bench/*/run.sh scripts share. Source it after
# `set -euo pipefail`. It only defines functions.

# log MESSAGE prints a progress line on stderr.
log() { echo "run.sh: $*" >&2; }

# fail MESSAGE [HINT] prints an error line, and a hint line when HINT is
# given, on stderr and exits with status 1.
fail() {
  echo "run.sh: error: $1" >&2
  [ -n "${2:-}" ] && echo "run.sh: hint: $2" >&2
  exit 1
}

# wait_for FILE LOGDIR waits up to 30 seconds for a server to write
# FILE, which the bench programs write complete or not at all, and fails
# pointing at LOGDIR when it does not appear.
wait_for() {
  for _ in $(seq 1 300); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  fail "$1 did not appear: a server failed to start" "see the logs in $2"
}
