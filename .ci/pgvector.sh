#!/usr/bin/env bash
# Build and install pgvector into the installed PostgreSQL server when it lacks it (Debian 12
# has no pgvector package). Run by `make deps` (root). Upstream source: the tarball named by
# PGVECTOR_TARBALL (default ../shared/vendor/pgvector-0.8.6.tar.gz, relative to the repository),
# built in a temporary directory against postgresql-server-dev-<major>:
# `make OPTFLAGS="" && make install` (OPTFLAGS="": no -march=native, so the build runs on any
# machine of the architecture). Production: install the distribution's pgvector package.
set -euo pipefail
cd "$(dirname "$0")/.."

latest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$latest" ]; then
  echo "pgvector: no PostgreSQL server in /usr/lib/postgresql; install postgresql first" >&2
  exit 1
fi
major=$(basename "$(dirname "$latest")")
if [ -f "/usr/share/postgresql/$major/extension/vector.control" ]; then
  echo "pgvector: already installed for PostgreSQL $major"
  exit 0
fi
tarball=${PGVECTOR_TARBALL:-../shared/vendor/pgvector-0.8.6.tar.gz}
if [ ! -f "$tarball" ]; then
  echo "pgvector is not installed for PostgreSQL $major and its source $tarball is missing:" >&2
  echo "  put pgvector's release tarball there (or set PGVECTOR_TARBALL=/path/to/it)," >&2
  echo "  or install your distribution's package (postgresql-$major-pgvector)" >&2
  exit 1
fi
tarball=$(realpath "$tarball")
missing=$(for p in "postgresql-server-dev-$major" build-essential; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
done)
if [ -n "$missing" ]; then
  echo "pgvector: installing" $missing
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
echo "pgvector: building $(basename "$src") for PostgreSQL $major"
make -C "$src" -s PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" OPTFLAGS=""
make -C "$src" -s PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install
test -f "/usr/share/postgresql/$major/extension/vector.control"
echo "pgvector: installed for PostgreSQL $major"
