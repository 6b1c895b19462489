#!/usr/bin/env bash
# verify-generated.sh regenerates every generated file into the work tree and
# fails, showing the diff, when anything changed: generated files are never
# edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s generate
if ! git diff --exit-code -- config charts docs/install.md "api/*/zz_generated.*"; then
	echo "generated files drifted: run 'make generate' and commit the result" >&2
	exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- config charts "api/*/zz_generated.*")
if [ -n "$untracked" ]; then
	echo "generated files not committed:" >&2
	echo "$untracked" >&2
	exit 1
fi
