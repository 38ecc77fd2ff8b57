#!/usr/bin/env bash
# Tempest's image-member API tests against glance-edge, through a real Keystone.
#   bash test/e2e/tempest.sh                  member tests (exit status = theirs)
#   bash test/e2e/tempest.sh --with-images    then also tempest.api.image.v2.test_images, for
#                                             information only (its failures do not fail the run)
#   bash test/e2e/tempest.sh --regex RE       any other selection instead of the member tests
#
# 1. Installs Debian's tempest (33.0.0 on bookworm), keystone, uwsgi, python3-openstackclient,
#    curl, jq when missing (apt-get; services are kept from starting while installing). Root.
# 2. Starts the private Keystone of the e2e suite (keystone.sh: keystone_start, keystone_setup),
#    which also registers glance-edge as the `image` service of RegionOne.
# 3. Starts glance-edge with `npm start` (AUTH_STRATEGY=keystone), as run.sh does.
# 4. Renders tempest.conf.in (identity v3, the Keystone admin for dynamic credentials, only
#    glance available, no optional Glance features) into a tempest workspace and runs
#    `tempest run --regex '^tempest\.api\.image\.v2\.test_images_member'`
#    (test_images_member.py and test_images_member_negative.py).
# Everything it started is stopped on exit, failure included.
#
# Environment: E2E_KEYSTONE_PORT (default 35357), E2E_GLANCE_PORT (default 8797), as in run.sh;
# E2E_KEEP=1 keeps the temp dir (tempest workspace, tempest.log with every request and response
# logged, glance-edge and Keystone logs); TEMPEST_LOG=FILE copies tempest.log there on exit;
# TEMPEST_CONCURRENCY (default 1: one worker, light on a shared machine).
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
E2E_T0=$(date +%s)
# shellcheck source=lib.sh
. "$E2E_DIR/lib.sh"
# shellcheck source=keystone.sh
. "$E2E_DIR/keystone.sh"

MEMBER_REGEX='^tempest\.api\.image\.v2\.test_images_member'
IMAGES_REGEX='^tempest\.api\.image\.v2\.test_images\.'
REGEX=$MEMBER_REGEX
WITH_IMAGES=0
while [ $# -gt 0 ]; do
  case $1 in
    --with-images) WITH_IMAGES=1 ;;
    --regex) REGEX=${2:?--regex needs a value}; shift ;;
    -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "tempest.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Client settings from the caller's shell must not leak into the runs below.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(OS_|TEMPEST_CONFIG)' || true)

tempest_install_missing() {
  local pkgs=()
  command -v tempest >/dev/null || pkgs+=(tempest)
  command -v keystone-manage >/dev/null || pkgs+=(keystone)
  command -v uwsgi >/dev/null || pkgs+=(uwsgi)
  [ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || pkgs+=(uwsgi-plugin-python3)
  command -v openstack >/dev/null || pkgs+=(python3-openstackclient)
  command -v curl >/dev/null || pkgs+=(curl)
  command -v jq >/dev/null || pkgs+=(jq)
  command -v setsid >/dev/null || pkgs+=(util-linux)
  apt_install "${pkgs[@]}"
}

KEYSTONE_PID=""
GLANCE_PID=""
TEMPEST_PID=""
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/glance-edge-tempest.XXXXXX")
chmod 700 "$E2E_TMP"
mkdir -p "$E2E_TMP/home"
WS="$E2E_TMP/tempest"
RESULT="no tempest run"
TEMPEST_STARTED=0

# shellcheck disable=SC2317 # reached through the EXIT trap
tempest_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$TEMPEST_PID" ] && kill -0 -- "-$TEMPEST_PID" 2>/dev/null; then stop_group tempest "$TEMPEST_PID"; fi
  # Logs of the services only when the run broke before tempest (tempest prints its own failures).
  if [ "$rc" -ne 0 ] && [ "$TEMPEST_STARTED" = 0 ]; then
    [ -f "$E2E_TMP/glance-edge.log" ] && { echo "--- glance-edge log (last 40 lines)"; tail -40 "$E2E_TMP/glance-edge.log"; } >&2
    [ -f "$E2E_TMP/keystone-state/logs/keystone.log" ] &&
      { echo "--- keystone log (last 20 errors)"; grep -E ' (ERROR|CRITICAL) ' "$E2E_TMP/keystone-state/logs/keystone.log" | tail -20; } >&2
  fi
  stop_group glance-edge "$GLANCE_PID"
  stop_group keystone "$KEYSTONE_PID"
  if [ -n "${TEMPEST_LOG:-}" ] && [ -f "$WS/tempest.log" ]; then
    cp "$WS/tempest.log" "$TEMPEST_LOG" && log "tempest.log copied to $TEMPEST_LOG"
  fi
  if [ "${E2E_KEEP:-0}" = 1 ]; then log "kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
  log "tempest.sh finished (exit $rc) after $(($(date +%s) - E2E_T0))s"
  echo "tempest: $RESULT"
  exit "$rc"
}
trap tempest_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tempest_install_missing
stack_up

step "tempest workspace"
ok env HOME="$E2E_TMP/home" tempest init --workspace-path "$E2E_TMP/home/workspace.yaml" \
  --name glance-edge "$WS"
mkdir -p "$WS/locks"
(
  umask 077
  sed -e "s#@STATE@#$WS#g" -e "s#@KEYSTONE_URL@#$KEYSTONE_URL#g" \
    -e "s#@ADMIN_PASSWORD@#$E2E_ADMIN_PASSWORD#g" "$E2E_DIR/tempest.conf.in" >"$WS/etc/tempest.conf"
)
log "workspace $WS (config $WS/etc/tempest.conf, log $WS/tempest.log)"

# tempest_run LABEL REGEX: runs the selection in its own process group (stopped on exit);
# prints tempest's own output; sets LAST_RC and LAST_TOTALS.
LAST_RC=0
LAST_TOTALS=""
tempest_run() {
  local label=$1 regex=$2 out="$E2E_TMP/tempest-$1.out"
  step "tempest run ($label): --regex '$regex'"
  TEMPEST_STARTED=1
  RESULT="${RESULT/#no tempest run/$label run interrupted}"
  LAST_RC=0
  (
    cd "$WS"
    exec setsid env HOME="$E2E_TMP/home" TEMPEST_CONFIG_DIR="$WS/etc" TEMPEST_CONFIG=tempest.conf \
      tempest run --config-file "$WS/etc/tempest.conf" --regex "$regex" \
      --concurrency "${TEMPEST_CONCURRENCY:-1}" </dev/null >"$out" 2>&1
  ) &
  TEMPEST_PID=$!
  wait "$TEMPEST_PID" || LAST_RC=$?
  TEMPEST_PID=""
  cat "$out"
  LAST_TOTALS=$(awk '/^Totals/ {t = 1} t && /- (Passed|Failed|Skipped|Expected Fail|Unexpected Success): / {
      sub(/^ *- */, ""); printf "%s%s", (n++ ? ", " : ""), $0 } ' "$out")
  [ -n "$LAST_TOTALS" ] || LAST_TOTALS="no totals (tempest exited $LAST_RC)"
  log "$label: $LAST_TOTALS (tempest exit $LAST_RC)"
}

tempest_run members "$REGEX"
MEMBERS_RC=$LAST_RC
RESULT="$LAST_TOTALS"
if [ "$WITH_IMAGES" = 1 ]; then
  cp "$WS/tempest.log" "$WS/tempest-members.log" 2>/dev/null || true
  tempest_run images "$IMAGES_REGEX"
  RESULT="$RESULT; test_images (information only): $LAST_TOTALS"
fi
step "done"
exit "$MEMBERS_RC"
