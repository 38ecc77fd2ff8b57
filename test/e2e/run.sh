#!/usr/bin/env bash
# End-to-end: real OpenStack clients against glance-edge through a real Keystone.
#   npm run test:e2e          (CI: the last step of .ci/run; needs root the first time, for apt)
#
# 1. Installs Debian's keystone, uwsgi, python3-openstackclient, python3-glanceclient, curl, jq
#    when missing (apt-get; services are kept from starting while installing).
# 2. Starts a private Keystone on 127.0.0.1 (uwsgi, SQLite, fernet; state in a temp dir),
#    bootstraps admin, creates projects e2e-alpha and e2e-beta with a member user each, the
#    glance-edge service user (role service in project service), and registers glance-edge as the
#    `image` service of RegionOne.
# 3. Starts glance-edge with `npm start` (AUTH_STRATEGY=keystone, service credentials, local
#    D1/R2 in a throw-away --persist-to dir).
# 4. Drives the openstack and glance CLIs as those users and asserts what they print.
# Everything it started is stopped on exit, failure included.
#
# Environment: E2E_KEYSTONE_PORT (default 35357), E2E_GLANCE_PORT (default 8797): used when free,
# else any free port. E2E_KEEP=1 keeps the temp dir (configs, logs, local D1/R2) for a look after.
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
E2E_T0=$(date +%s)
# shellcheck source=lib.sh
. "$E2E_DIR/lib.sh"
# shellcheck source=keystone.sh
. "$E2E_DIR/keystone.sh"
# shellcheck source=scenario.sh
. "$E2E_DIR/scenario.sh"

# Client settings from the caller's shell must not leak into the runs below.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^OS_' || true)

install_missing() {
  local pkgs=()
  command -v keystone-manage >/dev/null || pkgs+=(keystone)
  command -v uwsgi >/dev/null || pkgs+=(uwsgi)
  [ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || pkgs+=(uwsgi-plugin-python3)
  command -v openstack >/dev/null || pkgs+=(python3-openstackclient)
  command -v glance >/dev/null || pkgs+=(python3-glanceclient)
  command -v curl >/dev/null || pkgs+=(curl)
  command -v jq >/dev/null || pkgs+=(jq)
  command -v setsid >/dev/null || pkgs+=(util-linux)
  apt_install "${pkgs[@]}"
}

KEYSTONE_PID=""
GLANCE_PID=""
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/glance-edge-e2e.XXXXXX")
chmod 700 "$E2E_TMP"
mkdir -p "$E2E_TMP/home"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "$rc" -ne 0 ]; then
    [ -f "$E2E_TMP/glance-edge.log" ] && { echo "--- glance-edge log (last 40 lines)"; tail -40 "$E2E_TMP/glance-edge.log"; } >&2
    [ -f "$E2E_TMP/keystone-state/logs/keystone.log" ] &&
      { echo "--- keystone log (last 20 errors)"; grep -E ' (ERROR|CRITICAL) ' "$E2E_TMP/keystone-state/logs/keystone.log" | tail -20; } >&2
  fi
  stop_group glance-edge "$GLANCE_PID"
  stop_group keystone "$KEYSTONE_PID"
  if [ "${E2E_KEEP:-0}" = 1 ]; then log "kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
  if [ "$rc" -eq 0 ]; then
    log "e2e passed in $(($(date +%s) - E2E_T0))s"
    echo "e2e: $E2E_STEPS_DONE passed, 0 failed"
  else
    log "e2e FAILED (exit $rc) after $(($(date +%s) - E2E_T0))s"
    echo "e2e: $E2E_STEPS_DONE passed, 1 failed"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install_missing
# Member ids checked against this Keystone (the scenario adds a project it does not know).
E2E_VALIDATE_MEMBER_IDS=true
stack_up
cd "$ROOT"

step "image service: version discovery and an unauthenticated request"
ok curl -sS -m 10 "$IMAGE_URL/versions"
expect "versions CURRENT" "$(jqv '[.versions[] | select(.status == "CURRENT") | .id] | join(",")')" "v2.5"
ok curl -sS -m 10 -o /dev/null -D - "$IMAGE_URL/v2/images"
expect_match "GET /v2/images without a token" "$OUT" '^HTTP/[0-9.]+ 401'
expect_match "WWW-Authenticate" "$OUT" "[Ww][Ww][Ww]-[Aa]uthenticate: Keystone uri=\"$KEYSTONE_ROOT"
# In keystone mode, identity headers from the client count for nothing.
ok curl -sS -m 10 -o /dev/null -D - -H 'X-Auth-Token: not-a-token' -H 'X-Identity-Status: Confirmed' \
  -H "X-Project-Id: $ALPHA_PROJECT_ID" -H 'X-Roles: admin' "$IMAGE_URL/v2/images"
expect_match "GET /v2/images with a bad token and trusted-headers headers" "$OUT" '^HTTP/[0-9.]+ 401'

openstack_walkthrough
glance_walkthrough
sharing_walkthrough

step "done"
