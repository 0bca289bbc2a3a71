#!/bin/sh
# Run the whole test suite (as root) with the interpreter scripts/install.sh set up.
# Extra arguments go to pytest (for example: sh scripts/test.sh -k pull -x).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=${POCKETBOX_PREFIX:-/opt/pocketbox}/venv/bin/python
[ -x "$PY" ] || { echo "test.sh: run scripts/install.sh first" >&2; exit 1; }
cd "$SRC"
set +e
# Not /tmp: creating files there is ~20x slower than elsewhere on our machines' disks.
BASETEMP=${POCKETBOX_TEST_TMP:-/var/lib/pocketbox-tests}
mkdir -p "$BASETEMP"
"$PY" -m pytest -ra --basetemp="$BASETEMP/run" "$@" tests
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
