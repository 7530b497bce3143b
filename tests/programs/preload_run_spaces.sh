#!/usr/bin/env bash
# tests/programs/preload_run_spaces.sh - pvlock-run from a directory whose path has a
# space, or a colon: ld.so splits LD_PRELOAD at both, so pvlock-run must
# hand it a path without them (a link in a private directory) and the
# drop-in must be active, in the program and in the programs it runs (each
# prints its "pvlock-preload:" report line).  Where no link can be made,
# one clear line and status 2.  Protocol of tests/run.sh.  About 1 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
failed=0
pass() { echo "PASS: pvlock-run spaces: $1"; }
fail() { echo "FAIL: pvlock-run spaces: $1: $2"; failed=1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-run-spaces.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

RUN=build/bin/pvlock-run
LIB=build/lib/libpvlock-preload.so
[ -x "$RUN" ] && [ -f "$LIB" ] || { fail "build" "$RUN or $LIB missing (make builds them)"; exit 1; }
# The links go to a runtime directory of the test's own.
mkdir -m 700 "$TMP/rt"
export XDG_RUNTIME_DIR=$TMP/rt

for name in "with space" "with:colon"; do
	dir=$TMP/$name
	mkdir -p "$dir/bin" "$dir/lib"
	cp "$RUN" "$dir/bin/" && cp "$LIB" "$dir/lib/"
	# sh runs two programs: three processes, each with the drop-in.
	out=$("$dir/bin/pvlock-run" --report -- sh -c 'env true; env true; echo "LD_PRELOAD=$LD_PRELOAD"' 2>"$TMP/e")
	rc=$?
	reports=$(grep -c '^pvlock-preload: spinlocks' "$TMP/e")
	preload=${out#LD_PRELOAD=}
	if [ $rc -ne 0 ]; then
		fail "'$name'" "status $rc: $(head -3 "$TMP/e" | tr '\n' '|')"
	elif grep -q 'cannot be preloaded' "$TMP/e"; then
		fail "'$name'" "ld.so ignored the library: $(head -2 "$TMP/e" | tr '\n' '|')"
	elif [ "$reports" -lt 2 ]; then
		fail "'$name'" "$reports pvlock-preload report line(s), want one from each of the two children at least: $(tr '\n' '|' <"$TMP/e")"
	elif [[ "$preload" == *[\ :]* ]] || [ "$(readlink -f "$preload")" != "$(readlink -f "$dir/lib/libpvlock-preload.so")" ]; then
		fail "'$name'" "LD_PRELOAD '$preload' has a space or colon, or is not the library in '$dir/lib'"
	else
		pass "from '$name': the drop-in is active in the program and its children ($reports report lines; LD_PRELOAD is a link to it without a space or colon)"
	fi
done

# The same library again: the same link, not a new one.
n_before=$(find "$TMP/rt" -type l | wc -l)
"$TMP/with space/bin/pvlock-run" -- true
n_after=$(find "$TMP/rt" -type l | wc -l)
[ "$n_before" -eq 2 ] && [ "$n_after" -eq 2 ] && pass "one link per library, reused (2 links for 2 libraries after 3 runs)" ||
	fail "links" "$n_before links after two libraries, $n_after after a third run (want 2 and 2)"

# No private directory to be had: one line naming the path and the reason.
mkdir -p "$TMP/bad"
: >"$TMP/bad/pvlock-run"
XDG_RUNTIME_DIR=$TMP/bad "$TMP/with space/bin/pvlock-run" -- true >"$TMP/o" 2>"$TMP/e"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/e")" -eq 1 ] && grep -qF "\"$TMP/with space/lib/libpvlock-preload.so\" has a space or colon" "$TMP/e" &&
   grep -qF "$TMP/bad/pvlock-run is not a directory" "$TMP/e"; then
	pass "no link possible: status 2, one line: $(cat "$TMP/e")"
else
	fail "no link possible" "status $rc, stderr '$(tr '\n' '|' <"$TMP/e")'"
fi

exit $failed
