# tests/lib/install.sh - the common start of the install tests
# (tests/install*.sh), sourced from the repository root with TEST_NAME set to
# the name their PASS:/FAIL:/SKIP: lines carry.
#
# Sets ROOT (the repository root), failed (the count of FAIL lines), CC; and
# defines pass NAME, fail NAME WHY, skip WHY (exits 0), finish (exits non-zero
# if any step failed), submake ARGS... and make_tmp TAG.

ROOT=$PWD
failed=0
CC=${CC:-cc}
pass() { echo "PASS: $TEST_NAME: $1"; }
fail() { echo "FAIL: $TEST_NAME: $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP: $TEST_NAME: $1"; exit 0; }
finish() { exit $((failed > 0)); }

# make in ROOT as a sub-make of `make check`: without the parent's jobserver
# and flags.
submake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" "$@"; }

# make_tmp TAG: TMP, a new directory ${TMPDIR:-/tmp}/pvlock-TAG.XXXXXX removed
# at exit; PREFIX=$TMP/prefix.  Without one: a FAIL line, and finish.
make_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-$1.XXXXXX") || { fail "mktemp" "no temp dir"; finish; }
	trap 'rm -rf "$TMP"' EXIT
	PREFIX=$TMP/prefix
}
