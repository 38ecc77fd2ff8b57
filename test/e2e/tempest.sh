#!/usr/bin/env bash
# Tempest against glance-edge, through a real Keystone: two selections, one tempest run each.
#   image-v2  Tempest's whole tempest.api.image.v2 suite except metadata definitions (metadefs,
#             not implemented): images, image data, members, tags, schemas, versions, admin.
#             Features glance-edge does not have (import, stores, locations, caching,
#             os_glance_* reservations) are switched off in tempest.conf.in, so their tests skip.
#   rbac      glance-tempest-plugin's secure-RBAC tests of images and image members:
#             ImageProjectAdminTests, ImagesProjectMemberTests, ImagesProjectReaderTests
#             (glance_tempest_plugin/tests/rbac/v2/test_project_{admin,members,reader}_tests.py;
#             the metadef RBAC classes there are left out). [enforce_scope] glance = True.
#
#   bash test/e2e/tempest.sh                     both selections
#   bash test/e2e/tempest.sh --only image-v2     one of them (image-v2 | rbac)
#   bash test/e2e/tempest.sh --regex RE [--exclude-regex RE]
#                                                any other selection instead ("custom")
# Exit status: 0 only when every selection ran and none of its tests failed. The last lines
# are one totals line per selection, then `tempest: N passed, N failed, N skipped`.
#
# 1. Installs Debian's tempest (33.0.0 on bookworm), glance-tempest-plugin (0.5.0; tempest finds
#    it through its entry point), keystone, uwsgi, python3-openstackclient, curl, jq when
#    missing (apt-get; services are kept from starting while installing). Root.
# 2. Starts the private Keystone of the e2e suite (keystone.sh: keystone_start, keystone_setup),
#    which also registers glance-edge as the `image` service of RegionOne.
# 3. Starts glance-edge with `npm start` (AUTH_STRATEGY=keystone), as run.sh does.
# 4. Renders tempest.conf.in (identity v3, the Keystone admin for dynamic credentials, only
#    glance available, optional Glance features off, enforce_scope for glance) into a tempest
#    workspace and runs each selection with `tempest run`.
# Everything it started is stopped on exit, failure included.
#
# Environment: E2E_KEYSTONE_PORT (default 35357), E2E_GLANCE_PORT (default 8797), as in run.sh;
# E2E_KEEP=1 keeps the temp dir (tempest workspace with tempest-<selection>.log, every request
# and response logged; glance-edge and Keystone logs); TEMPEST_LOG=FILE copies the tempest logs
# there on exit (concatenated); TEMPEST_CONCURRENCY (default 2 workers).
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
E2E_T0=$(date +%s)
# shellcheck source=lib.sh
. "$E2E_DIR/lib.sh"
# shellcheck source=keystone.sh
. "$E2E_DIR/keystone.sh"

# Selections: label, regex, exclude regex (empty: none).
IMAGE_V2_REGEX='^tempest\.api\.image\.v2\.'
IMAGE_V2_EXCLUDE='metadef'
RBAC_REGEX='^glance_tempest_plugin\.tests\.rbac\.v2\.test_project_(admin|members|reader)_tests\.(ImageProjectAdminTests|ImagesProjectMemberTests|ImagesProjectReaderTests)\.'
# Four admin tests send a system-scoped admin token to member routes and expect 404. docs/reference.md §1
# answers a token scoped to no project with 401 on member routes, so they cannot pass here (and
# Glance 25, which lets a system admin act on members, fails them too). Image routes refuse such
# a token by scope (403/404), as Glance with enforce_scope does, so the other ten run.
RBAC_EXCLUDE='ImageProjectAdminTests\.test_(get|list|update|delete)_image_members?\b'
SEL_LABELS=()
SEL_REGEXES=()
SEL_EXCLUDES=()
add_selection() { SEL_LABELS+=("$1"); SEL_REGEXES+=("$2"); SEL_EXCLUDES+=("$3"); }

ONLY=""
CUSTOM_REGEX=""
CUSTOM_EXCLUDE=""
while [ $# -gt 0 ]; do
  case $1 in
    --only) ONLY=${2:?--only needs image-v2 or rbac}; shift ;;
    --regex) CUSTOM_REGEX=${2:?--regex needs a value}; shift ;;
    --exclude-regex) CUSTOM_EXCLUDE=${2:?--exclude-regex needs a value}; shift ;;
    -h | --help) sed -n '2,33p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "tempest.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$CUSTOM_REGEX" ]; then
  [ -z "$ONLY" ] || { echo "tempest.sh: --regex and --only exclude each other" >&2; exit 2; }
  add_selection custom "$CUSTOM_REGEX" "$CUSTOM_EXCLUDE"
else
  [ -z "$CUSTOM_EXCLUDE" ] || { echo "tempest.sh: --exclude-regex goes with --regex" >&2; exit 2; }
  case $ONLY in
    "") add_selection image-v2 "$IMAGE_V2_REGEX" "$IMAGE_V2_EXCLUDE"
      add_selection rbac "$RBAC_REGEX" "$RBAC_EXCLUDE" ;;
    image-v2) add_selection image-v2 "$IMAGE_V2_REGEX" "$IMAGE_V2_EXCLUDE" ;;
    rbac) add_selection rbac "$RBAC_REGEX" "$RBAC_EXCLUDE" ;;
    *) echo "tempest.sh: --only takes image-v2 or rbac, not '$ONLY'" >&2; exit 2 ;;
  esac
fi

# Client settings from the caller's shell must not leak into the runs below.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(OS_|TEMPEST_CONFIG)' || true)

GTP_DIR=/usr/lib/python3/dist-packages/glance_tempest_plugin

tempest_install_missing() {
  local pkgs=()
  command -v tempest >/dev/null || pkgs+=(tempest)
  [ -d "$GTP_DIR/tests/rbac/v2" ] || pkgs+=(glance-tempest-plugin)
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
TEMPEST_STARTED=0
# One line per selection run (or interrupted), and the sums over all of them.
SUMMARY=()
SUM_PASSED=0
SUM_FAILED=0
SUM_SKIPPED=0
CURRENT=""

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
  if [ -n "${TEMPEST_LOG:-}" ] && compgen -G "$WS/tempest-*.log" >/dev/null; then
    cat "$WS"/tempest-*.log >"$TEMPEST_LOG" && log "tempest logs copied to $TEMPEST_LOG"
  fi
  if [ "${E2E_KEEP:-0}" = 1 ]; then log "kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
  log "tempest.sh finished (exit $rc) after $(($(date +%s) - E2E_T0))s"
  [ -z "$CURRENT" ] || SUMMARY+=("tempest $CURRENT: interrupted")
  local line
  for line in "${SUMMARY[@]}"; do echo "$line"; done
  if [ "$TEMPEST_STARTED" = 1 ]; then
    echo "tempest: $SUM_PASSED passed, $SUM_FAILED failed, $SUM_SKIPPED skipped"
  else
    echo "tempest: no tempest run"
  fi
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
log "workspace $WS (config $WS/etc/tempest.conf, logs $WS/tempest-<selection>.log)"

# tempest_exec LABEL OUT ARGS...: one `tempest run` in its own process group (stopped on exit);
# prints tempest's output; sets EXEC_RC and EXEC_TOTALS ("passed failed skipped", empty when the
# run printed no totals).
EXEC_RC=0
EXEC_TOTALS=""
tempest_exec() {
  local label=$1 out=$2
  shift 2
  TEMPEST_STARTED=1
  CURRENT=$label
  EXEC_RC=0
  (
    cd "$WS"
    exec setsid env HOME="$E2E_TMP/home" TEMPEST_CONFIG_DIR="$WS/etc" TEMPEST_CONFIG=tempest.conf \
      tempest run --config-file "$WS/etc/tempest.conf" "$@" </dev/null >"$out" 2>&1
  ) &
  TEMPEST_PID=$!
  wait "$TEMPEST_PID" || EXEC_RC=$?
  TEMPEST_PID=""
  CURRENT=""
  # tempest.conf logs to tempest.log; each run keeps its own.
  [ ! -f "$WS/tempest.log" ] || mv "$WS/tempest.log" "$WS/tempest-$label.log"
  cat "$out"
  # Tempest's closing block: "Totals" then " - Passed: N", " - Failed: N", " - Skipped: N",
  # " - Expected Fail: N", " - Unexpected Success: N" (an unexpected success fails the run).
  EXEC_TOTALS=$(awk '/^Totals/ {t = 1} t && /^ *- (Passed|Failed|Skipped|Expected Fail|Unexpected Success): [0-9]+/ {
      sub(/^ *- */, ""); split($0, kv, ": "); n[kv[1]] = kv[2] }
    END { if (t) printf "%d %d %d", n["Passed"] + n["Expected Fail"], n["Failed"] + n["Unexpected Success"], n["Skipped"] }' "$out")
}

# The tests of a run that failed, as one regex of their names (without [id-…] tags); empty when
# a failure is not a plain test (setUpClass and the like), which a rerun would not repeat.
failed_regex() {
  awk '/ \.\.\. FAILED$/ {
      line = $0; sub(/^\{[0-9]+\} /, "", line)
      if (line ~ /^setUpClass|^tearDownClass|^\(/ || line !~ /^[A-Za-z_][A-Za-z0-9_.]*/) { bad = 1; next }
      match(line, /^[A-Za-z_][A-Za-z0-9_.]*/); name = substr(line, 1, RLENGTH); gsub(/\./, "\\.", name)
      names = names (n++ ? "|" : "") name }
    END { if (!bad && n) printf "^(%s)(\\[|$)", names }' "$1"
}

# tempest_run LABEL REGEX EXCLUDE: runs one selection, then, when tests failed, those tests once
# more on their own: Keystone under uwsgi sometimes drops a connection after it answered (tempest
# then retries a DELETE of a project it already deleted and fails in a cleanup), which is not
# glance-edge's doing. A test counts as passed only if its second run passes; every rerun is
# named in the log and the totals line. Adds the totals to SUMMARY and the sums; returns non-zero
# when a test failed or the run broke (no totals, or no test).
tempest_run() {
  local label=$1 regex=$2 exclude=$3 args passed failed skipped rerun="" again
  args=(--regex "$regex")
  [ -z "$exclude" ] || args+=(--exclude-regex "$exclude")
  step "tempest run ($label): ${args[*]}"
  tempest_exec "$label" "$E2E_TMP/tempest-$label.out" "${args[@]}" --concurrency "${TEMPEST_CONCURRENCY:-2}"
  local rc=$EXEC_RC
  if [ -z "$EXEC_TOTALS" ]; then
    SUMMARY+=("tempest $label: no totals (tempest exited $rc)")
    log "$label: no totals (tempest exited $rc)"
    return 1
  fi
  read -r passed failed skipped <<<"$EXEC_TOTALS"
  again=$(failed_regex "$E2E_TMP/tempest-$label.out")
  if [ "$failed" -gt 0 ] && [ -n "$again" ]; then
    step "tempest rerun ($label): the $failed failed test(s) once more, alone: $again"
    tempest_exec "$label-rerun" "$E2E_TMP/tempest-$label-rerun.out" --regex "$again" --concurrency 1
    local p2 f2 s2
    if [ -n "$EXEC_TOTALS" ]; then
      read -r p2 f2 s2 <<<"$EXEC_TOTALS"
      if [ $((p2 + f2)) -eq "$failed" ]; then
        passed=$((passed + p2))
        failed=$f2
        rc=$EXEC_RC
        rerun=" ($((p2 + f2)) rerun after failing, $p2 passed then)"
      fi
    fi
  fi
  SUM_PASSED=$((SUM_PASSED + passed))
  SUM_FAILED=$((SUM_FAILED + failed))
  SUM_SKIPPED=$((SUM_SKIPPED + skipped))
  local line="tempest $label: $passed passed, $failed failed, $skipped skipped$rerun"
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    line="$line (but tempest exited $rc)"
  elif [ $((passed + failed + skipped)) -eq 0 ]; then
    line="$line (no test ran)"
    rc=1
  fi
  SUMMARY+=("$line")
  log "$line (tempest exit $rc)"
  [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
}

RC=0
for i in "${!SEL_LABELS[@]}"; do
  tempest_run "${SEL_LABELS[$i]}" "${SEL_REGEXES[$i]}" "${SEL_EXCLUDES[$i]}" || RC=1
done
step "done"
exit "$RC"
