#!/usr/bin/env bash
# Drives headless Chromium through every page of the security console of a
# development-mode gateway, engaging and releasing the kill switch through
# the confirmation step, and saves screenshots to docs/console/*.png.
#
# The browser part is a Go test (internal/console/browser_test.go, build tag
# consolebrowser) that speaks the Chrome DevTools Protocol over Chromium's
# --remote-debugging-pipe. Chromium takes no client certificate on its
# command line, so the test puts a loopback TLS-terminating proxy in front
# of the admin listener. The proxy presents the development administrator's
# certificate, as the test's comment describes.
#
# Usage: .ci/console-test.sh   (installs chromium with apt-get when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

chromium_bin="$(command -v chromium || true)"
if [ -z "$chromium_bin" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  chromium_bin="$(command -v chromium)"
fi
for tool in curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "console-test: error: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_server EXIT

script_name=console-test
# shellcheck source=ports.sh
source "$(dirname "$0")/ports.sh"

# The binary is built first so that the process stopped at the end is the
# gateway itself and not the go tool.
go build -o "$work/gatehouse" ./cmd/gatehouse
data="$work/data"
port="$(free_port)"
admin_port="$(free_port)"
"$work/gatehouse" serve --data "$data" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" >"$work/serve.log" 2>&1 &
server_pid=$!
wait_port "$port"
wait_port "$admin_port"

# Traffic for the feed, the charts and the alerts: allowed exchanges, a
# refused read, and a search for the development canary member.
partner=(--cacert "$data/ca/ca.pem" --cert "$data/partners/demo-ehr/client.pem" --key "$data/partners/demo-ehr/client-key.pem")
fhir="https://localhost:$port/fhir"
token="$("$work/gatehouse" token --data "$data")"
send() {
  curl -sS -o /dev/null -w '%{http_code} ' "${partner[@]}" -H "Authorization: Bearer $token" "$@"
}
echo -n "console-test: traffic statuses: "
for _ in 1 2 3; do send "$fhir/metadata"; done
for bundle in internal/demo/bundles/pas-2.2.1-*AuthorizationBundleExample.json; do
  send -H "Content-Type: application/fhir+json" --data-binary "@$bundle" "$fhir/Claim/\$submit"
done
send "$fhir/Patient/1"
send "$fhir/Patient?identifier=urn:gatehouse:dev:member%7CCANARY-0001"
curl -sS -o /dev/null -w '%{http_code}' "${partner[@]}" "$fhir/metadata"
echo
# Development mode signs a checkpoint at least every two seconds.
sleep 3

mkdir -p docs/console
if ! GATEHOUSE_ADMIN_URL="https://localhost:$admin_port" \
  GATEHOUSE_DATA="$data" \
  GATEHOUSE_CHROMIUM="$chromium_bin" \
  GATEHOUSE_SCREENSHOTS="$PWD/docs/console" \
  go test -count=1 -tags consolebrowser -run '^TestBrowserConsole$' -v ./internal/console/ >"$work/browser.log" 2>&1; then
  cat "$work/browser.log" >&2
  echo "console-test: FAIL; the end of the gateway's log follows" >&2
  tail -n 40 "$work/serve.log" >&2
  exit 1
fi
tail -n 3 "$work/browser.log"
echo "console-test: PASS: screenshots in docs/console/"
