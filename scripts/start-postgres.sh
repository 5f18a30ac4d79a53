#!/usr/bin/env bash
# Makes sure a PostgreSQL answers at 127.0.0.1:5432 for the tests on the real server (test/helpers/postgres.ts):
# user postgres with trust authentication from 127.0.0.1, databases test and root. Does nothing when one already
# answers there. Otherwise installs Debian's postgresql (apt-get; sudo when not root), creates or starts its cluster,
# trusts local connections and creates the databases. Meant for CI and fresh development machines, not production.
set -euo pipefail
HOST=127.0.0.1
PORT=5432

answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PORT" -U postgres
  else
    command -v psql >/dev/null 2>&1 && psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if answers; then
  exit 0
fi

echo "PostgreSQL does not answer at $HOST:$PORT: installing and starting Debian's postgresql" >&2
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
PATH="/usr/lib/postgresql/$version/bin:$PATH"

# The cluster Debian's package made (or one made now), on our port.
if ! as_root pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | grep -qx "$version main"; then
  as_root pg_createcluster --port "$PORT" "$version" main >/dev/null
fi
hba="/etc/postgresql/$version/main/pg_hba.conf"
if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
  # Lines are read top-down: trust local TCP and socket connections before Debian's own lines.
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all postgres trust' "$hba"
fi
if as_root pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  as_root pg_ctlcluster "$version" main reload
else
  as_root pg_ctlcluster "$version" main start
fi

for _ in $(seq 1 60); do
  answers && break
  sleep 0.5
done
answers || { echo "PostgreSQL did not start at $HOST:$PORT (see /var/log/postgresql/)" >&2; exit 1; }

for db in test root; do
  if [ "$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atqc "select 1 from pg_database where datname = '$db'")" != 1 ]; then
    psql -h "$HOST" -p "$PORT" -U postgres -d postgres -qc "create database $db" >/dev/null
  fi
done
echo "PostgreSQL $version answers at $HOST:$PORT (user postgres, databases test and root)" >&2
