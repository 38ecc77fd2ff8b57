# shellcheck shell=bash
# Helpers for the end-to-end suite: steps, checked commands, assertions. Sourced by run.sh.
# Every failure names the step, the command and what it printed, then exits non-zero.

E2E_T0=${E2E_T0:-$(date +%s)}
E2E_STEP="setup"
E2E_STEPS_DONE=0

log() { printf '[e2e %4ss] %s\n' "$(($(date +%s) - E2E_T0))" "$*"; }

step() {
  [ "$E2E_STEP" = "setup" ] || E2E_STEPS_DONE=$((E2E_STEPS_DONE + 1))
  E2E_STEP="$*"
  log "-- $*"
}

fail() {
  {
    printf '\n[e2e] FAILED in step: %s\n' "$E2E_STEP"
    printf '[e2e] %s\n' "$@"
  } >&2
  exit 1
}

# ok CMD...: run CMD; its stdout goes to $OUT (stderr is kept apart in $ERR). Fails the step
# with the command and both outputs when it exits non-zero.
OUT=""
ERR=""
ok() {
  local errfile rc=0
  # shellcheck disable=SC2153 # E2E_TMP: set by run.sh
  errfile=$(mktemp "$E2E_TMP/stderr.XXXXXX")
  OUT=$("$@" 2>"$errfile") || rc=$?
  ERR=$(cat "$errfile")
  rm -f "$errfile"
  if [ "$rc" -ne 0 ]; then
    fail "command exited $rc: $(printf '%q ' "$@")" "stdout:" "$OUT" "stderr:" "$ERR"
  fi
  return 0
}

# refused CMD...: CMD must exit non-zero (a client error expected); $OUT/$ERR as for ok.
refused() {
  local errfile rc=0
  errfile=$(mktemp "$E2E_TMP/stderr.XXXXXX")
  OUT=$("$@" 2>"$errfile") || rc=$?
  ERR=$(cat "$errfile")
  rm -f "$errfile"
  if [ "$rc" -eq 0 ]; then
    fail "command succeeded but should have failed: $(printf '%q ' "$@")" "stdout:" "$OUT" "stderr:" "$ERR"
  fi
  return 0
}

# expect LABEL ACTUAL EXPECTED
expect() {
  if [ "$2" != "$3" ]; then
    fail "$1: expected '$3', got '$2'" "last command stdout:" "$OUT" "last command stderr:" "$ERR"
  fi
}

# expect_match LABEL TEXT REGEX (grep -E)
expect_match() {
  if ! grep -Eq -- "$3" <<<"$2"; then
    fail "$1: expected to match /$3/" "got:" "$2" "last command stderr:" "$ERR"
  fi
}

# jqv FILTER: apply a jq filter to $OUT (raw output); fails the step when $OUT is not JSON.
jqv() {
  local v
  v=$(jq -r "$1" <<<"$OUT" 2>&1) || fail "output is not the JSON expected (jq '$1': $v)" "stdout:" "$OUT"
  printf '%s' "$v"
}

# table_rows: a prettytable (as printed by the glance CLI) on stdin → one tab-separated line per
# data row, cells trimmed, header row dropped.
table_rows() {
  awk -F'|' '
    /^\|/ {
      row = ""
      for (i = 2; i < NF; i++) { c = $i; gsub(/^ +| +$/, "", c); row = row (i > 2 ? "\t" : "") c }
      if (seen++) print row
    }'
}

# free_port PREFERRED: PREFERRED when nothing listens there, else a free ephemeral port.
free_port() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
def bindable(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no obstacle
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
print(bindable(int(sys.argv[1])) or bindable(0))
PY
}

# wait_http URL SECONDS [PID]: until URL answers at all; gives up early when PID has died.
wait_http() {
  local url=$1 deadline=$(($(date +%s) + $2)) pid=${3:-}
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if curl -s -o /dev/null -m 2 "$url"; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.5
  done
  return 1
}

# stop_group NAME PID: SIGTERM the process group led by PID, then SIGKILL what is left.
stop_group() {
  local name=$1 pid=$2
  [ -n "$pid" ] || return 0
  kill -0 -- "-$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 -- "-$pid" 2>/dev/null || { log "$name stopped"; return 0; }
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  log "$name killed (did not stop on SIGTERM)"
}

# "${WITH_TTY[@]}" CMD...: run CMD with a terminal as standard input, as at an interactive shell.
# The openstack and glance CLIs take a standard input that is not a terminal as image data to
# upload (`image create`, `image-create`); closing it (`<&-`) is not enough, because Python then
# hands fd 0 to the next file it opens, which the CLI reads as the image. The pty's master side
# stays open in CMD too: with it closed, the terminal is gone and isatty() is false again.
# shellcheck disable=SC2034 # used by scenario.sh
WITH_TTY=(/usr/bin/python3 -c 'import os, pty, sys; master, tty = pty.openpty(); os.set_inheritable(master, True); os.dup2(tty, 0); os.execvp(sys.argv[1], sys.argv[1:])')

# apt_install PKG...: installs the packages given (none: nothing to do) with apt-get, as root,
# without letting their services start, logging to $E2E_TMP/apt.log.
apt_install() {
  local pkgs=("$@") policy_made=0
  [ ${#pkgs[@]} -eq 0 ] && return 0
  step "install ${pkgs[*]}"
  [ "$(id -u)" -eq 0 ] || fail "missing packages: ${pkgs[*]}; run as root or: sudo apt-get install --no-install-recommends ${pkgs[*]}"
  # Installing keystone must not start Debian's own Keystone (it would take port 5000):
  # policy-rc.d answering 101 tells invoke-rc.d not to start any service.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        --no-install-recommends "${pkgs[@]}"
  } >"$E2E_TMP/apt.log" 2>&1 || rc=$?
  [ "$policy_made" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" -eq 0 ] || fail "apt-get failed ($rc); last lines:" "$(tail -30 "$E2E_TMP/apt.log")"
  # Should a policy-rc.d of this machine have let Debian's Keystone start anyway, stop it: it
  # is not ours to leave on port 5000 (ours runs on its own port, from a temp dir).
  if [[ " ${pkgs[*]} " == *" keystone "* ]] && [ -x /etc/init.d/keystone ] &&
    /etc/init.d/keystone status >/dev/null 2>&1; then
    /etc/init.d/keystone stop >>"$E2E_TMP/apt.log" 2>&1 || true
    log "stopped the Keystone service that the keystone package started"
  fi
  log "installed ${pkgs[*]}"
}
