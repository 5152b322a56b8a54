#!/usr/bin/env bash
# Every ```sql block of docs/operations.md runs on ferry's schema: a scratch database gets the
# producer's and the consumer's migrations, then the blocks, which must all succeed.
# Usage: check_docs_sql.sh SOURCE_DIR (FERRY_TEST_PG: a libpq conninfo of the test stack).
set -euo pipefail
src="$1"
: "${FERRY_TEST_PG:?set FERRY_TEST_PG (eval \"\$(scripts/stack env)\")}"
db="ferry_docs_sql_$$"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_q "$FERRY_TEST_PG" -c "CREATE DATABASE $db" >/dev/null
trap 'psql_q "$FERRY_TEST_PG" -c "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
target="$FERRY_TEST_PG dbname=$db"
for f in "$src"/sql/producer/*.sql "$src"/sql/consumer/*.sql; do
	psql_q "$target" -f "$f" >/dev/null
done
# shellcheck disable=SC2016 # the backticks are Python's, not the shell's
blocks="$(python3 -c 'import re,sys; print("\n".join(re.findall(r"```sql\n(.*?)```", open(sys.argv[1]).read(), re.S)))' "$src/docs/operations.md")"
[[ -n "$blocks" ]] || { echo "docs/operations.md has no sql blocks" >&2; exit 1; }
psql_q "$target" <<<"$blocks" >/dev/null
echo "docs/operations.md: $(grep -c '^```sql' "$src/docs/operations.md") SQL block(s) ran on the schema"
