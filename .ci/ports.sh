# Shared by the CI scripts that start a development gateway: finding a free
# loopback port and waiting for a listener. Source it after setting
# script_name (the prefix of error lines), work (the directory containing
# serve.log) and, before wait_port is called, server_pid.

# free_port prints a loopback port that nothing listens on, below the
# kernel's ephemeral range. The gateway binds its internal listeners, such
# as the built-in payer service, to port 0. A port inside the range could be
# handed to one of those before the gateway binds the port chosen here.
free_port() {
  local port low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  [ "$low" -gt 11000 ] || low=32768
  for _ in $(seq 1 50); do
    port=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "$script_name: error: no free loopback port found" >&2
  return 1
}

# wait_port waits up to 60 seconds for a listener on the loopback port $1,
# and fails early if the gateway ($server_pid) exits.
wait_port() {
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "$script_name: error: the gateway exited; its output:" >&2
      cat "$work/serve.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "$script_name: error: nothing listens on 127.0.0.1:$1 after 60s" >&2
  return 1
}
