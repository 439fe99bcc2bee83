#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages if it is missing, starts the
# cluster, creates a test role and database, and prints the one line that
# points the test suites at them:
#
#   eval "$(bash .ci/postgres.sh)"
#
# Only that export line goes to stdout. Progress and errors go to stderr.
# The server listens on localhost only (the Debian default). Running the
# script again reuses the cluster, the role and the database, and sets a
# new password.
set -euo pipefail
exec 3>&1 1>&2

role=gatehouse_test
database=gatehouse_test

if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# The first cluster, creating one if the package did not.
read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1) || true
if [ -z "${version:-}" ]; then
  version=$(basename "$(dirname "$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1)")")")
  cluster=main
  pg_createcluster "$version" "$cluster"
  read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
fi

# The suites open one pool per test and run packages in parallel.
pg_conftool "$version" "$cluster" set max_connections 300
# The server must not inherit fd 3, the pipe of the caller's $(...):
# a daemon holding it open would keep the caller waiting forever.
if [ "$status" = online ]; then
  pg_ctlcluster "$version" "$cluster" restart 3>&-
else
  pg_ctlcluster "$version" "$cluster" start 3>&-
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$port"

password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
as_postgres psql -q -v ON_ERROR_STOP=1 -p "$port" -d postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \gexec
ALTER ROLE $role WITH LOGIN PASSWORD '$password';
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', '$database', '$role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$database') \gexec
SQL

echo "PostgreSQL $version cluster $cluster ready on 127.0.0.1:$port, database $database" >&2
echo "export GATEHOUSE_TEST_POSTGRES='postgres://$role:$password@127.0.0.1:$port/$database?sslmode=disable'" >&3
