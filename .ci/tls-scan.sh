#!/usr/bin/env bash
# Scans the TLS listeners of a development-mode gateway with sslscan, an
# independent TLS client built on OpenSSL, and fails unless the TLS policy
# holds on the wire:
#   - SSLv2, SSLv3, TLS 1.0 and TLS 1.1 are disabled and TLS 1.3 is enabled;
#   - every accepted cipher suite is a TLS 1.3 suite or one of the six TLS 1.2
#     ECDHE suites with AES-GCM or ChaCha20-Poly1305, so no CBC, RSA key
#     exchange, 3DES, RC4 or NULL suite is accepted;
#   - at least one TLS 1.2 suite was accepted, which shows that the scanner
#     completed TLS 1.2 handshakes (with the demo partner's client
#     certificate) and the checks above are not vacuous.
#
# Limits: development mode uses an ECDSA server certificate, so suites that
# need an RSA certificate cannot be negotiated whatever the policy. The Go
# tests in internal/tlspolicy cover RSA certificates. sslscan can only offer
# the suites its OpenSSL build supports.
#
# Usage: .ci/tls-scan.sh   (installs sslscan with apt-get when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v sslscan >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sslscan >/dev/null
fi
sslscan --no-colour --version | head -n 2 | tr -s ' \t' ' '

work="$(mktemp -d)"
server_pid=""
control_pid=""
stop_servers() {
  local pid
  for pid in "$server_pid" "$control_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap stop_servers EXIT

script_name=tls-scan
# shellcheck source=ports.sh
source "$(dirname "$0")/ports.sh"

# The binary is built first, rather than started with go run, so that the
# process stopped at the end is the gateway itself and not the go tool.
go build -o "$work/gatehouse" ./cmd/gatehouse
port="$(free_port)"
serve_args=(serve --data "$work/data" --listen "127.0.0.1:$port")
admin_port=""
if "$work/gatehouse" serve --help 2>/dev/null | grep -q -- '-admin-listen'; then
  admin_port="$(free_port)"
  serve_args+=(--admin-listen "127.0.0.1:$admin_port")
fi
"$work/gatehouse" "${serve_args[@]}" >"$work/serve.log" 2>&1 &
server_pid=$!
wait_port "$port"
[ -z "$admin_port" ] || wait_port "$admin_port"

# Cipher suite ids allowed by internal/tlspolicy: the TLS 1.3 suites, then
# ECDHE-ECDSA and ECDHE-RSA with AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305.
allowed_ids=" 0x1301 0x1302 0x1303 0xC02B 0xC02C 0xCCA9 0xC02F 0xC030 0xCCA8 "
failures=0

fail() {
  echo "tls-scan: FAIL: $*"
  failures=$((failures + 1))
}

# check_scan NAME XML: checks one sslscan XML report.
check_scan() {
  local name="$1" xml="$2" spec type version enabled line id cipher sslversion tls12=0
  if ! grep -q '<protocol ' "$xml"; then
    fail "$name: the sslscan report has no protocol results"
    return
  fi
  for spec in ssl:2:0 ssl:3:0 tls:1.0:0 tls:1.1:0 tls:1.3:1; do
    IFS=: read -r type version enabled <<<"$spec"
    if ! grep -q "<protocol type=\"$type\" version=\"$version\" enabled=\"$enabled\"" "$xml"; then
      fail "$name: $type $version should have enabled=\"$enabled\""
    fi
  done
  while IFS= read -r line; do
    id="$(sed -n 's/.* id="\([^"]*\)".*/\1/p' <<<"$line")"
    cipher="$(sed -n 's/.* cipher="\([^"]*\)".*/\1/p' <<<"$line")"
    sslversion="$(sed -n 's/.* sslversion="\([^"]*\)".*/\1/p' <<<"$line")"
    if [[ "$allowed_ids" != *" ${id^^} "* && "$allowed_ids" != *" $id "* ]]; then
      fail "$name: $sslversion suite $cipher ($id) accepted; only ECDHE with AEAD is allowed"
    fi
    [ "$sslversion" != "TLSv1.2" ] || tls12=$((tls12 + 1))
  done < <(grep -E '<cipher status="(accepted|preferred)"' "$xml" || true)
  if [ "$tls12" -eq 0 ]; then
    fail "$name: no TLS 1.2 suite accepted, so the scan did not complete a TLS 1.2 handshake"
  fi
  echo "tls-scan: $name: $(grep -cE '<cipher status="(accepted|preferred)"' "$xml" || true) suites accepted ($tls12 TLS 1.2)"
}

# scan NAME PORT CERT KEY
scan() {
  local name="$1" port="$2" cert="$3" key="$4"
  sslscan --no-colour --certs="$cert" --pk="$key" --xml="$work/$name.xml" \
    "127.0.0.1:$port" >"$work/$name.txt" 2>&1 || {
    fail "$name: sslscan exited with an error"
    cat "$work/$name.txt"
  }
  check_scan "$name" "$work/$name.xml"
}

# A control scan of a deliberately weak OpenSSL server (TLS 1.2 only, with a
# CBC suite) must fail two checks, or the checks themselves are broken.
control_port="$(free_port)"
openssl s_server -quiet -accept "127.0.0.1:$control_port" -no_tls1_3 \
  -cert "$work/data/server/server.pem" -key "$work/data/server/server-key.pem" \
  -cipher 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256' >/dev/null 2>&1 </dev/null &
control_pid=$!
wait_port "$control_port"
scan control "$control_port" "$work/data/partners/demo-ehr/client.pem" "$work/data/partners/demo-ehr/client-key.pem" >"$work/control.checks"
kill "$control_pid" 2>/dev/null || true
wait "$control_pid" 2>/dev/null || true
control_pid=""
if [ "$failures" -ne 2 ] || ! grep -q 'ECDHE-ECDSA-AES128-SHA' "$work/control.checks"; then
  echo "tls-scan: error: the control scan of a weak server found $failures problems, want 2 (TLS 1.3 disabled, a CBC suite):"
  cat "$work/control.checks"
  exit 1
fi
rm -f "$work/control.txt"
failures=0

scan inbound "$port" "$work/data/partners/demo-ehr/client.pem" "$work/data/partners/demo-ehr/client-key.pem"
if [ -n "$admin_port" ]; then
  scan admin "$admin_port" "$work/data/admin/admin.pem" "$work/data/admin/admin-key.pem"
fi

if [ "$failures" -gt 0 ]; then
  echo "tls-scan: $failures check(s) failed; the sslscan output follows"
  cat "$work"/*.txt
  exit 1
fi
echo "tls-scan: PASS: TLS 1.0/1.1 and SSL disabled, TLS 1.3 enabled, only ECDHE+AEAD suites accepted"
