#!/usr/bin/env bash
# Upload/download figures for PUT/GET /v2/images/{id}/file against a running glance-edge with
# trusted-headers identity (e.g. `npm run serve -- --port 8791`). Prints, for a body with
# Content-Length (one R2 put) and a chunked one (R2 multipart): PUT and GET time and speed, and
# whether the stored checksum, the Content-MD5 header and the downloaded bytes match the file.
#   BASE=http://127.0.0.1:8787 MIB=100 bench/image-data.sh
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8787}
MIB=${MIB:-100}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
H=(-H "X-Identity-Status: Confirmed" -H "X-Project-Id: bench-$$" -H "X-User-Id: bench" -H "Accept: application/json")
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$work/in"
want=$(md5sum <"$work/in" | cut -d' ' -f1)
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
for mode in content-length chunked; do
  id=$(curl -sf "${H[@]}" -H "Content-Type: application/json" \
    -d '{"name": "bench", "disk_format": "raw", "container_format": "bare"}' "$BASE/v2/images" | json '["id"]')
  extra=()
  [ "$mode" = chunked ] && extra=(-H "Transfer-Encoding: chunked")
  put=$(curl -sf -o /dev/null -w "%{http_code} %{time_total}s %{speed_upload}" "${H[@]}" "${extra[@]}" \
    -H "Content-Type: application/octet-stream" -X PUT --data-binary "@$work/in" "$BASE/v2/images/$id/file")
  stored=$(curl -sf "${H[@]}" "$BASE/v2/images/$id" | json '["checksum"]')
  get=$(curl -sf -D "$work/headers" -o "$work/out" -w "%{http_code} %{time_total}s %{speed_download}" "${H[@]}" \
    "$BASE/v2/images/$id/file")
  header=$(grep -i '^content-md5:' "$work/headers" | cut -d' ' -f2 | tr -d '\r')
  got=$(md5sum <"$work/out" | cut -d' ' -f1)
  ok=$([ "$stored" = "$want" ] && [ "$header" = "$want" ] && [ "$got" = "$want" ] && echo ok || echo MISMATCH)
  printf '%-14s %d MiB  PUT %s B/s  GET %s B/s  md5 %s\n' "$mode" "$MIB" "$put" "$get" "$ok"
  curl -sf -o /dev/null "${H[@]}" -X DELETE "$BASE/v2/images/$id"
done
