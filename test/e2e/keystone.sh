# shellcheck shell=bash
# A private Keystone for the end-to-end suite: Debian's keystone served by uwsgi on 127.0.0.1,
# fernet tokens, SQLite, all state under $E2E_TMP/keystone-state. Sourced by run.sh and tempest.sh.
# What keeps Keystone stable on SQLite: 4 uwsgi processes × 1 thread, `Connection: close`
# (clients never reuse a connection a worker is about to drop), and the DB in WAL mode (a reader
# left open by one worker must not lock out writers in the others: "database is locked").

# keystone_start PORT: renders the config, creates the DB and keys, bootstraps admin, serves.
keystone_start() {
  local port=$1 state="$E2E_TMP/keystone-state" km_log
  KEYSTONE_ROOT="http://127.0.0.1:$port"
  KEYSTONE_URL="$KEYSTONE_ROOT/v3"
  mkdir -p "$state"/{etc/policy.d,logs,keystone/fernet-keys,keystone/credential-keys}
  chmod 700 "$state/keystone/fernet-keys" "$state/keystone/credential-keys"
  : >"$state/etc/policy.yaml"
  sed -e "s#@STATE@#$state#g" "$E2E_DIR/keystone.conf.in" >"$state/etc/keystone.conf"
  KEYSTONE_CONF="$state/etc/keystone.conf"
  km_log="$state/logs/keystone-manage.log"

  km() {
    keystone-manage --config-file "$KEYSTONE_CONF" "$@" >>"$km_log" 2>&1 ||
      fail "keystone-manage $1 failed; last lines of $km_log:" "$(tail -20 "$km_log")"
  }
  km db_sync
  km fernet_setup --keystone-user root --keystone-group root
  km credential_setup --keystone-user root --keystone-group root
  /usr/bin/python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' \
    "$state/keystone/keystone.sqlite"
  km bootstrap \
    --bootstrap-username admin \
    --bootstrap-password "$E2E_ADMIN_PASSWORD" \
    --bootstrap-project-name admin \
    --bootstrap-role-name admin \
    --bootstrap-service-name keystone \
    --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$KEYSTONE_URL" \
    --bootstrap-internal-url "$KEYSTONE_URL" \
    --bootstrap-public-url "$KEYSTONE_URL"

  # Without job control a background child is not a group leader, so setsid needs no fork:
  # $! is the uwsgi master and leads its own process group (stopped as a group on exit).
  setsid uwsgi --plugins python3 \
    --http-socket "127.0.0.1:$port" \
    --wsgi-file /usr/bin/keystone-wsgi-public \
    --env "OS_KEYSTONE_CONFIG_FILES=$KEYSTONE_CONF" \
    --master --processes 4 --threads 1 --enable-threads --lazy-apps \
    --die-on-term --no-orphans --buffer-size 65535 \
    --add-header "Connection: close" \
    --chdir "$state/keystone" \
    --logto "$state/logs/keystone-uwsgi.log" </dev/null &
  KEYSTONE_PID=$!
  if ! wait_http "$KEYSTONE_URL" 90 "$KEYSTONE_PID"; then
    fail "Keystone did not answer on $KEYSTONE_URL" "$(tail -30 "$state/logs/keystone-uwsgi.log" 2>/dev/null)" \
      "$(tail -30 "$state/logs/keystone.log" 2>/dev/null)"
  fi
  log "Keystone up at $KEYSTONE_URL (uwsgi pid $KEYSTONE_PID, logs in $state/logs)"
}

# as WHO CMD...: run CMD (openstack, glance, python) with WHO's password credentials.
# WHO: admin | alpha | beta. A private HOME keeps client caches (glance's schema cache) per run.
as() {
  local who=$1 user project password
  shift
  case $who in
    admin) user=admin project=admin password=$E2E_ADMIN_PASSWORD ;;
    alpha | beta) user="e2e-$who-user" project="e2e-$who" password=$E2E_USER_PASSWORD ;;
    *) fail "unknown identity '$who'" ;;
  esac
  env HOME="$E2E_TMP/home" \
    OS_AUTH_URL="$KEYSTONE_URL" OS_IDENTITY_API_VERSION=3 OS_AUTH_TYPE=password \
    OS_USERNAME="$user" OS_PASSWORD="$password" OS_PROJECT_NAME="$project" \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
    OS_REGION_NAME=RegionOne OS_INTERFACE=public OS_IMAGE_API_VERSION=2 \
    "$@"
}

# keystone_setup IMAGE_URL: two projects with a member user each, the glance-edge service user
# (role service in project service), and IMAGE_URL as the catalog's `image` service.
keystone_setup() {
  local image_url=$1 p
  step "keystone: admin token"
  ok as admin openstack token issue -f value -c project_id
  ADMIN_PROJECT_ID=$OUT

  step "keystone: projects, users, roles"
  for p in alpha beta; do
    ok as admin openstack project create --domain Default -f value -c id "e2e-$p"
    printf -v "${p^^}_PROJECT_ID" '%s' "$OUT"
    ok as admin openstack user create --domain Default --project "e2e-$p" \
      --password "$E2E_USER_PASSWORD" -f value -c id "e2e-$p-user"
    printf -v "${p^^}_USER_ID" '%s' "$OUT"
    ok as admin openstack role add --project "e2e-$p" --user "e2e-$p-user" member
  done
  ok as admin openstack project create --domain Default -f value -c id service
  SERVICE_PROJECT_ID=$OUT
  ok as admin openstack user create --domain Default --project service \
    --password "$E2E_SERVICE_PASSWORD" -f value -c id glance-edge
  # Keystone's default policy lets role `service` validate other users' tokens.
  as admin openstack role show service >/dev/null 2>&1 || ok as admin openstack role create service
  ok as admin openstack role add --project service --user glance-edge service
  # VALIDATE_MEMBER_IDS asks GET /v3/projects/{id}, which Keystone's default policy gives to
  # admins (README: the service user then needs the admin role).
  ok as admin openstack role add --project service --user glance-edge admin

  step "keystone: register $image_url as the image service"
  ok as admin openstack service create --name glance-edge --description "glance-edge (e2e)" -f value -c id image
  local service_id=$OUT iface
  for iface in public internal admin; do
    ok as admin openstack endpoint create --region RegionOne -f value -c id "$service_id" "$iface" "$image_url"
  done
  ok as admin openstack catalog show image -f json
  expect "catalog image endpoints" "$(jqv '[.endpoints[] | .url] | unique | join(",")')" "$image_url"

  step "keystone: user tokens, validated with the service token"
  local service_token user_token body
  service_token=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' -d "$(
    jq -n --arg pw "$E2E_SERVICE_PASSWORD" '{auth: {identity: {methods: ["password"], password: {user:
      {name: "glance-edge", domain: {name: "Default"}, password: $pw}}}, scope: {project:
      {name: "service", domain: {name: "Default"}}}}}'
  )" "$KEYSTONE_URL/auth/tokens" | tr -d '\r' | awk 'tolower($1) == "x-subject-token:" {print $2}') ||
    fail "the glance-edge service user could not get a token"
  ok as alpha openstack token issue -f value -c id
  user_token=$OUT
  body=$(curl -sf -H "X-Auth-Token: $service_token" -H "X-Subject-Token: $user_token" "$KEYSTONE_URL/auth/tokens") ||
    fail "Keystone refused to validate e2e-alpha's token with the service token"
  OUT=$body
  expect "validated token project" "$(jqv .token.project.id)" "$ALPHA_PROJECT_ID"
  expect "validated token user" "$(jqv .token.user.id)" "$ALPHA_USER_ID"
  expect "validated token roles" "$(jqv '[.token.roles[].name] | index("member") != null')" "true"
  log "projects: e2e-alpha=$ALPHA_PROJECT_ID e2e-beta=$BETA_PROJECT_ID service=$SERVICE_PROJECT_ID (admin=$ADMIN_PROJECT_ID)"
}

# stack_up: fresh random passwords, Keystone with its projects, users and catalog, then
# glance-edge (npm start, keystone strategy, this run's own state) registered as the image
# service. Sets KEYSTONE_URL, KEYSTONE_ROOT, IMAGE_URL and GLANCE_PID (a session leader, so the
# caller's cleanup can stop its whole group).
stack_up() {
  rand() { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; }
  E2E_ADMIN_PASSWORD=$(rand)
  # shellcheck disable=SC2034 # used by keystone_setup and as
  E2E_USER_PASSWORD=$(rand)
  E2E_SERVICE_PASSWORD=$(rand)

  step "start Keystone"
  keystone_start "$(free_port "${E2E_KEYSTONE_PORT:-35357}")"
  GLANCE_PORT=$(free_port "${E2E_GLANCE_PORT:-8797}")
  IMAGE_URL="http://127.0.0.1:$GLANCE_PORT"
  keystone_setup "$IMAGE_URL"

  step "start glance-edge (npm start, AUTH_STRATEGY=keystone) on $IMAGE_URL"
  # The service password goes in an env file of this run (mode 600), not on a command line.
  (umask 077 && printf 'KEYSTONE_SERVICE_PASSWORD=%s\n' "$E2E_SERVICE_PASSWORD" >"$E2E_TMP/glance-edge.env")
  (
    cd "$ROOT" || exit
    exec setsid npm start -- --port "$GLANCE_PORT" --persist-to "$E2E_TMP/wrangler-state" \
      --env-file "$E2E_TMP/glance-edge.env" \
      --var AUTH_STRATEGY:keystone --var "KEYSTONE_URL:$KEYSTONE_URL" \
      --var KEYSTONE_SERVICE_USER:glance-edge --var KEYSTONE_SERVICE_PROJECT:service \
      --var KEYSTONE_SERVICE_USER_DOMAIN:Default --var KEYSTONE_SERVICE_PROJECT_DOMAIN:Default \
      --var "PUBLIC_ENDPOINT:$IMAGE_URL" --var "VALIDATE_MEMBER_IDS:${E2E_VALIDATE_MEMBER_IDS:-false}" \
      >"$E2E_TMP/glance-edge.log" 2>&1 </dev/null
  ) &
  GLANCE_PID=$!
  wait_http "$IMAGE_URL/versions" 180 "$GLANCE_PID" || fail "glance-edge did not answer on $IMAGE_URL"
  log "glance-edge up at $IMAGE_URL (npm start pid $GLANCE_PID, log $E2E_TMP/glance-edge.log)"
}
