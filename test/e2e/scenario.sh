# shellcheck shell=bash
# The client walk-through, as e2e-alpha (image owner) and e2e-beta (the project it is shared
# with): the `openstack` CLI, then the `glance` CLI, asserting exact ids and statuses. Sourced
# by run.sh after keystone_setup; uses ALPHA_PROJECT_ID, BETA_PROJECT_ID, IMAGE_URL.

# has_image ID: whether the last image list ($OUT) holds ID.
has_image() { jq -e --arg id "$1" 'any(.[]; .ID == $id)' <<<"$OUT" >/dev/null; }

# member_via_sdk WHO IMAGE MEMBER: GET /v2/images/{image}/members/{member} through
# openstacksdk (the `openstack image member get` command is not in Debian 12's client 6.0.0).
member_via_sdk() {
  ok as "$1" /usr/bin/python3 - "$2" "$3" <<'PY'
import json, sys
import openstack
conn = openstack.connect()
m = conn.image.get_member(sys.argv[2], sys.argv[1])
print(json.dumps({"image_id": m.image_id, "member_id": m.member_id, "status": m.status}))
PY
}

openstack_walkthrough() {
  local img name="e2e-openstack-$RANDOM$RANDOM"

  step "openstack image create (as e2e-alpha)"
  ok as alpha "${WITH_TTY[@]}" openstack image create --disk-format raw --container-format bare -f json "$name"
  img=$(jqv .id)
  expect_match "image id" "$img" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  expect "image name" "$(jqv .name)" "$name"
  expect "image owner" "$(jqv .owner)" "$ALPHA_PROJECT_ID"
  expect "image status" "$(jqv .status)" "queued"
  expect "image visibility (default)" "$(jqv .visibility)" "shared"

  step "openstack image show (as e2e-beta, not yet a member): not found"
  refused as beta openstack image show "$img" -f json
  expect_match "beta's error" "$ERR" "No Image found|[Nn]ot [Ff]ound|404"

  step "openstack image add project (as e2e-alpha)"
  ok as alpha openstack image add project -f json "$img" "$BETA_PROJECT_ID"
  expect "added member_id" "$(jqv .member_id)" "$BETA_PROJECT_ID"
  expect "added image_id" "$(jqv .image_id)" "$img"
  expect "added status" "$(jqv .status)" "pending"

  step "openstack image add project again: duplicate refused"
  refused as alpha openstack image add project -f json "$img" "$BETA_PROJECT_ID"
  expect_match "duplicate error" "$ERR" "409|[Cc]onflict|duplicated"

  step "openstack image member list (as e2e-alpha)"
  ok as alpha openstack image member list -f json "$img"
  expect "member rows" "$(jqv 'length')" "1"
  expect "member list Image ID" "$(jqv '.[0]["Image ID"]')" "$img"
  expect "member list Member ID" "$(jqv '.[0]["Member ID"]')" "$BETA_PROJECT_ID"
  expect "member list Status" "$(jqv '.[0].Status')" "pending"

  step "image member get (openstacksdk get_member, as e2e-alpha and as e2e-beta)"
  # (`openstack X --help` exits 0 even when X is no command: look for X's own usage line.)
  if [[ "$(openstack image member get --help 2>/dev/null || true)" == *"usage: openstack image member get"* ]]; then
    ok as alpha openstack image member get -f json "$img" "$BETA_PROJECT_ID"
    expect "member get status" "$(jqv .status)" "pending"
  else
    log "(this openstack CLI has no 'image member get'; using openstacksdk's image.get_member)"
  fi
  member_via_sdk alpha "$img" "$BETA_PROJECT_ID"
  expect "get_member as owner: member_id" "$(jqv .member_id)" "$BETA_PROJECT_ID"
  expect "get_member as owner: image_id" "$(jqv .image_id)" "$img"
  expect "get_member as owner: status" "$(jqv .status)" "pending"
  member_via_sdk beta "$img" "$BETA_PROJECT_ID"
  expect "get_member as member: status" "$(jqv .status)" "pending"

  step "openstack image list --shared --member-status pending / accepted (as e2e-beta, pending)"
  ok as beta openstack image list --shared --member-status pending -f json
  has_image "$img" || fail "pending list lacks $img" "$OUT"
  ok as beta openstack image list --shared --member-status accepted -f json
  ! has_image "$img" || fail "accepted list holds $img before acceptance" "$OUT"
  ok as beta openstack image list -f json
  ! has_image "$img" || fail "default list holds the pending image $img" "$OUT"

  step "openstack image set --accept (as e2e-beta)"
  ok as beta openstack image set --accept "$img"
  ok as alpha openstack image member list -f json "$img"
  expect "status after --accept" "$(jqv '.[0].Status')" "accepted"
  ok as beta openstack image member list -f json "$img"
  expect "member's own view: rows" "$(jqv 'length')" "1"
  expect "member's own view: Member ID" "$(jqv '.[0]["Member ID"]')" "$BETA_PROJECT_ID"

  step "openstack image list --shared --member-status accepted / pending (as e2e-beta, accepted)"
  ok as beta openstack image list --shared --member-status accepted -f json
  has_image "$img" || fail "accepted list lacks $img" "$OUT"
  expect "listed name" "$(jq -r --arg id "$img" '.[] | select(.ID == $id) | .Name' <<<"$OUT")" "$name"
  ok as beta openstack image list --shared --member-status pending -f json
  ! has_image "$img" || fail "pending list still holds $img" "$OUT"
  ok as beta openstack image list -f json
  has_image "$img" || fail "default list lacks the accepted image $img" "$OUT"
  ok as beta openstack image show -f json "$img"
  expect "member's image show: id" "$(jqv .id)" "$img"
  expect "member's image show: owner" "$(jqv .owner)" "$ALPHA_PROJECT_ID"

  step "openstack image set --reject / --pending (as e2e-beta)"
  ok as beta openstack image set --reject "$img"
  member_via_sdk beta "$img" "$BETA_PROJECT_ID"
  expect "status after --reject" "$(jqv .status)" "rejected"
  ok as beta openstack image list --shared --member-status rejected -f json
  has_image "$img" || fail "rejected list lacks $img" "$OUT"
  ok as beta openstack image set --pending "$img"
  member_via_sdk beta "$img" "$BETA_PROJECT_ID"
  expect "status after --pending" "$(jqv .status)" "pending"
  ok as beta openstack image set --accept "$img"

  step "openstack image set --name by the member: refused"
  refused as beta openstack image set --name "$name-stolen" "$img"
  expect_match "member's rename error" "$ERR" "403|Forbidden|do not own"

  step "openstack image set --accept by the owner: refused"
  # The CLI sets the status of the caller's own membership; the owner has none. Under Glance's
  # secure-RBAC defaults the row is looked up before modify_member: 404 (legacy: 403).
  refused as alpha openstack image set --accept "$img"
  expect_match "owner's error" "$ERR" "404|Not Found"

  step "openstack image remove project (as e2e-alpha)"
  ok as alpha openstack image remove project "$img" "$BETA_PROJECT_ID"
  ok as alpha openstack image member list -f json "$img"
  expect "members after remove" "$(jqv 'length')" "0"
  refused as beta openstack image show -f json "$img"
  ok as beta openstack image list --shared --member-status all -f json
  ! has_image "$img" || fail "removed member still lists $img" "$OUT"

  step "openstack image set --name --property, image unset --property (JSON patch, as e2e-alpha)"
  ok as alpha openstack image set --name "$name-renamed" --property e2e_run=yes "$img"
  ok as alpha openstack image show -f json "$img"
  expect "renamed" "$(jqv .name)" "$name-renamed"
  expect "property set" "$(jqv '.properties.e2e_run // .e2e_run')" "yes"
  ok as alpha openstack image unset --property e2e_run "$img"
  ok as alpha openstack image show -f json "$img"
  expect "property unset" "$(jqv '.properties.e2e_run // .e2e_run // "absent"')" "absent"

  step "openstack image delete (as e2e-alpha)"
  ok as alpha openstack image delete "$img"
  refused as alpha openstack image show -f json "$img"
}

# glance_field KEY: the value of KEY in a `glance image-show`-style Property/Value table ($OUT).
glance_field() { table_rows <<<"$OUT" | awk -F'\t' -v k="$1" '$1 == k { print $2 }'; }

glance_walkthrough() {
  local img name="e2e-glance-$RANDOM$RANDOM" blob="$E2E_TMP/blob.raw" back="$E2E_TMP/blob.downloaded"
  local rows size md5 sha512

  step "glance image-create (as e2e-alpha)"
  ok as alpha "${WITH_TTY[@]}" glance image-create --name "$name" --disk-format raw --container-format bare
  img=$(glance_field id)
  expect_match "glance image id" "$img" '^[0-9a-f-]{36}$'
  expect "glance image status" "$(glance_field status)" "queued"
  expect "glance image owner" "$(glance_field owner)" "$ALPHA_PROJECT_ID"

  step "glance member-create (as e2e-alpha)"
  ok as alpha glance member-create "$img" "$BETA_PROJECT_ID"
  rows=$(table_rows <<<"$OUT")
  expect "member-create row" "$rows" "$img	$BETA_PROJECT_ID	pending"

  step "glance member-create with a project Keystone does not know (VALIDATE_MEMBER_IDS): refused"
  refused as alpha glance member-create "$img" "${BETA_PROJECT_ID}x"
  expect_match "unknown project error" "$ERR$OUT" "is not a project known to the identity service"

  step "glance member-list (as e2e-alpha, then as e2e-beta)"
  ok as alpha glance member-list --image-id "$img"
  expect "member-list rows (owner)" "$(table_rows <<<"$OUT")" "$img	$BETA_PROJECT_ID	pending"
  ok as beta glance member-list --image-id "$img"
  expect "member-list rows (member)" "$(table_rows <<<"$OUT")" "$img	$BETA_PROJECT_ID	pending"

  step "glance member-update accepted (as e2e-beta)"
  ok as beta glance member-update "$img" "$BETA_PROJECT_ID" accepted
  expect "member-update row" "$(table_rows <<<"$OUT")" "$img	$BETA_PROJECT_ID	accepted"
  ok as alpha glance member-list --image-id "$img"
  expect "member-list after update" "$(table_rows <<<"$OUT")" "$img	$BETA_PROJECT_ID	accepted"

  step "glance member-update by the owner: refused"
  refused as alpha glance member-update "$img" "$BETA_PROJECT_ID" rejected
  expect_match "owner's member-update error" "$ERR$OUT" "403|Forbidden|[Nn]ot allowed"

  step "glance image-upload (as e2e-alpha, chunked)"
  # 3 MiB and a few bytes: several of the client's 64 KiB chunks, and not a round size.
  head -c $((3 * 1024 * 1024 + 4099)) /dev/urandom >"$blob"
  size=$(stat -c %s "$blob")
  md5=$(md5sum "$blob" | cut -d' ' -f1)
  sha512=$(sha512sum "$blob" | cut -d' ' -f1)
  ok as alpha glance image-upload --file "$blob" "$img"
  ok as alpha glance image-show --max-column-width 200 "$img"
  expect "status after upload" "$(glance_field status)" "active"
  expect "size after upload" "$(glance_field size)" "$size"
  expect "checksum (md5)" "$(glance_field checksum)" "$md5"
  expect "os_hash_algo" "$(glance_field os_hash_algo)" "sha512"
  expect "os_hash_value" "$(glance_field os_hash_value)" "$sha512"

  step "glance image-upload by the member: refused"
  refused as beta glance image-upload --file "$blob" "$img"

  step "glance image-download (as e2e-beta, the member) and compare bytes"
  ok as beta glance image-download --file "$back" "$img"
  cmp "$blob" "$back" || fail "downloaded bytes differ from the uploaded ones ($blob vs $back)"
  rm -f "$back"
  ok as alpha openstack image save --file "$back" "$img"
  cmp "$blob" "$back" || fail "openstack image save: bytes differ from the uploaded ones"

  step "glance member-delete (as e2e-alpha)"
  refused as beta glance member-delete "$img" "$BETA_PROJECT_ID"
  ok as alpha glance member-delete "$img" "$BETA_PROJECT_ID"
  ok as alpha glance member-list --image-id "$img"
  expect "member-list after delete" "$(table_rows <<<"$OUT")" ""
  refused as beta glance image-download --file "$back.2" "$img"

  step "glance image-delete (as e2e-alpha)"
  ok as alpha glance image-delete "$img"
  refused as alpha glance image-show "$img"
}

# api WHO METHOD PATH [JSON]: curl with WHO's Keystone token (issued once: a CLI call takes
# seconds on a loaded machine, which a timed step cannot afford); body in $OUT, status in $STATUS.
STATUS=""
declare -A API_TOKENS=()
api() {
  local who=$1 method=$2 path=$3 body=${4:-} token
  if [ -z "${API_TOKENS[$who]:-}" ]; then
    API_TOKENS[$who]=$(as "$who" openstack token issue -f value -c id) || fail "no token for $who"
  fi
  token=${API_TOKENS[$who]}
  local args=(-sS -m 30 -o "$E2E_TMP/api.out" -w '%{http_code}' -X "$method" -H "X-Auth-Token: $token"
    -H 'Accept: application/json')
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
  STATUS=$(curl "${args[@]}" "$IMAGE_URL$path") || fail "curl $method $path failed"
  OUT=$(cat "$E2E_TMP/api.out")
  ERR=""
}

# utc SECONDS: the UTC time SECONDS from now, second precision (docs/reference.md §2).
utc() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }

# docs/reference.md §12: what a CLI user sees of the extensions (nothing changes; expired members vanish) and
# the extensions themselves through curl with real Keystone tokens.
sharing_walkthrough() {
  local img1 img2 expires user_alpha

  step "POST /v2/shares (as e2e-alpha): two images with e2e-beta in one call"
  ok as alpha "${WITH_TTY[@]}" openstack image create --disk-format raw --container-format bare -f json "e2e-bulk-1-$RANDOM"
  img1=$(jqv .id)
  ok as alpha "${WITH_TTY[@]}" openstack image create --disk-format raw --container-format bare -f json "e2e-bulk-2-$RANDOM"
  img2=$(jqv .id)
  api alpha POST /v2/shares "{\"images\": [\"$img1\", \"$img2\"], \"members\": [\"$BETA_PROJECT_ID\"]}"
  expect "bulk status" "$STATUS" "200"
  expect "bulk created" "$(jqv '[.shares[] | .created] | join(",")')" "true,true"
  ok as alpha openstack image member list -f json "$img2"
  expect "CLI sees the bulk share" "$(jqv '.[0]["Member ID"] + " " + .[0].Status')" "$BETA_PROJECT_ID pending"

  step "GET /v2/shares: e2e-beta's inbox and e2e-alpha's outbox"
  api beta GET "/v2/shares?owner=$ALPHA_PROJECT_ID"
  expect "inbox status" "$STATUS" "200"
  expect "inbox has both" "$(jqv "[.shares[] | select(.image_id == \"$img1\" or .image_id == \"$img2\") | .member_id] | length")" "2"
  api alpha GET "/v2/shares?member_id=$BETA_PROJECT_ID&image_id=$img1"
  expect "outbox row" "$(jqv '.shares | map(.image_owner + " " + .status) | join(",")')" "$ALPHA_PROJECT_ID pending"

  step "an expiring membership (PATCH expires_at): the CLIs see it, then it vanishes at its second"
  expires=$(utc 86400)
  api alpha PATCH "/v2/images/$img1/members/$BETA_PROJECT_ID" "{\"expires_at\": \"$expires\"}"
  expect "PATCH status (a day ahead)" "$STATUS" "200"
  expect "PATCH expires_at" "$(jqv .expires_at)" "$expires"
  ok as beta openstack image show -f json "$img1"
  # python-glanceclient validates member objects against /v2/schemas/member, expires_at included.
  ok as alpha glance member-list --image-id "$img1"
  expect "glance member-list with an expiry" "$(table_rows <<<"$OUT")" "$img1	$BETA_PROJECT_ID	pending"
  api beta GET "/v2/images/$img1"
  expires=$(utc 10)
  api alpha PATCH "/v2/images/$img1/members/$BETA_PROJECT_ID" "{\"expires_at\": \"$expires\"}"
  expect "PATCH status (10 s ahead)" "$STATUS" "200"
  api beta GET "/v2/images/$img1"
  expect "the member still sees the image before its second" "$STATUS" "200"
  while [ "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \< "$expires" ]; do sleep 0.2; done
  sleep 1
  refused as beta openstack image show -f json "$img1"
  ok as alpha openstack image member list -f json "$img1"
  expect "members after expiry" "$(jqv 'length')" "0"
  ok as alpha openstack image add project -f json "$img1" "$BETA_PROJECT_ID"
  expect "re-added after expiry: status" "$(jqv .status)" "pending"

  step "GET /v2/member-events: who did what, including the CLI's changes"
  ok as beta openstack image set --accept "$img2"
  ok as alpha openstack image remove project "$img2" "$BETA_PROJECT_ID"
  ok as alpha openstack token issue -f json
  user_alpha=$(jqv .user_id)
  api alpha GET "/v2/member-events?image_id=$img2"
  expect "events status" "$STATUS" "200"
  expect "events on img2, newest first" "$(jqv '[.events[] | .action + ":" + .status] | join(",")')" \
    "delete:accepted,update:accepted,create:pending"
  expect "delete by e2e-alpha's user" "$(jqv '.events[0].actor.project_id + " " + .events[0].actor.user_id')" \
    "$ALPHA_PROJECT_ID $user_alpha"
  expect "accept by e2e-beta" "$(jqv '.events[1].actor.project_id')" "$BETA_PROJECT_ID"
  expect_match "request ids recorded" "$(jqv '.events[0].request_id')" '^req-'
  api alpha GET "/v2/member-events?image_id=$img1"
  expect "img1: create, update (expiry) twice, expire (on re-add), create" \
    "$(jqv '[.events[] | .action] | reverse | join(",")')" "create,update,update,expire,create"

  step "clean up"
  ok as alpha openstack image delete "$img1" "$img2"
  api beta GET "/v2/member-events?image_id=$img1&action=image-delete"
  expect "image deletion recorded for the member" "$(jqv '.events | length')" "1"
}
