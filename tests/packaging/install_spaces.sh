#!/usr/bin/env bash
# tests/packaging/install_spaces.sh - `make install` and `make uninstall` with a PREFIX
# and a DESTDIR that hold spaces (and a quote): everything lands under them,
# exactly the files `make installed-files` lists, nothing outside (decoy
# files named by the paths' first words survive, the source tree gains
# nothing), the installed pvlock.pc still builds a program, and uninstall
# leaves nothing under the prefix.
#
# Protocol of tests/run.sh: one PASS:/FAIL:/SKIP: line per step, non-zero exit
# if any step failed.  About 5 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
TEST_NAME="install with spaces"
. tests/lib/install.sh
make_tmp install-spaces

# The files under a directory, relative, one a line (files and links).
listing() { (cd "$1" && find . -mindepth 1 ! -type d | sed 's|^\./||' | LC_ALL=C sort); }
tree_top() { (cd "$ROOT" && ls -A | LC_ALL=C sort); }

want=$(submake installed-files | LC_ALL=C sort)
if [ -z "$want" ] || ! grep -qx lib/libpvlock.so <<<"$want"; then
	fail "make installed-files" "no list (got '$(head -3 <<<"$want" | tr '\n' ' ')')"
	exit 1
fi

# case(name, DESTDIR, PREFIX): install, compare, uninstall.
case_install() {
	local name=$1 destdir=$2 prefix=$3 dest=$2$3 top_before
	top_before=$(tree_top)
	if ! submake install DESTDIR="$destdir" PREFIX="$prefix" >"$TMP/log" 2>&1; then
		fail "$name: make install" "$(tail -3 "$TMP/log" | tr '\n' ' ')"
		return 1
	fi
	local got diffs
	got=$(listing "$dest")
	diffs=$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed -n 's/^</missing:/p; s/^>/extra:/p' | tr '\n' ' ')
	if [ -z "$diffs" ]; then
		pass "$name: make install puts exactly the $(wc -l <<<"$want") installed-files under '$dest'"
	else
		fail "$name: installed files" "differ from make installed-files: $diffs"
	fi
	[ "$(tree_top)" = "$top_before" ] && pass "$name: make install adds nothing to the source tree" ||
		fail "$name: source tree" "new entries: $(diff <(echo "$top_before") <(tree_top) | grep '^>' | tr '\n' ' ')"
	return 0
}
case_uninstall() {
	local name=$1 destdir=$2 prefix=$3 dest=$2$3 top_before left
	top_before=$(tree_top)
	if ! submake uninstall DESTDIR="$destdir" PREFIX="$prefix" >"$TMP/log" 2>&1; then
		fail "$name: make uninstall" "$(tail -3 "$TMP/log" | tr '\n' ' ')"
		return
	fi
	left=$(cd "$dest" && find . -mindepth 1 | tr '\n' ' ')
	if [ -z "$left" ]; then
		pass "$name: make uninstall leaves nothing under '$dest'"
	else
		fail "$name: make uninstall" "left behind: $left"
	fi
	[ "$(tree_top)" = "$top_before" ] && pass "$name: make uninstall touches nothing in the source tree" ||
		fail "$name: source tree" "changed by make uninstall"
}
decoys() {	# the files named by the paths' first words must survive
	local name=$1 missing=""
	for d in "$TMP/notes" "$TMP/dest"; do
		[ "$(cat "$d" 2>/dev/null)" = decoy ] || missing+=" $d"
	done
	[ -z "$missing" ] && pass "$name: the user's files $TMP/notes and $TMP/dest are untouched" ||
		fail "$name: decoys" "removed or changed:$missing"
}
echo decoy >"$TMP/notes"
echo decoy >"$TMP/dest"

# ---- 1. PREFIX with a space ----------------------------------------------------
PREFIX="$TMP/notes x"
if case_install "PREFIX with a space" "" "$PREFIX"; then
	decoys "after install"
	# The installed pvlock.pc: its flags name the prefix, one word each
	# when a shell reads them (pkg-config escapes the space).
	export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
	if flags=$(pkg-config --cflags --libs pvlock 2>&1); then
		eval "set -- $flags"
		if printf '%s\n' "$@" | grep -qxF -- "-I$PREFIX/include" &&
		   printf '%s\n' "$@" | grep -qxF -- "-L$PREFIX/lib"; then
			pass "pkg-config --cflags --libs: -I and -L name the prefix as one word each"
		else
			fail "pkg-config" "flags '$flags' do not name '$PREFIX' as one word"
		fi
		printf '#include <pvlock.h>\nstatic pvlock_t l = PVLOCK_INIT;\nint main(void) { pvlock_lock(&l); pvlock_unlock(&l); return pvlock_is_locked(&l); }\n' >"$TMP/prog.c"
		if $CC -std=c11 -Wall -Wextra -Werror -o "$TMP/prog" "$TMP/prog.c" "$@" >"$TMP/cc.log" 2>&1 &&
		   LD_LIBRARY_PATH="$PREFIX/lib" "$TMP/prog" &&
		   LD_LIBRARY_PATH="$PREFIX/lib" ldd "$TMP/prog" | grep -qF "$PREFIX/lib/libpvlock.so"; then
			pass "a program built with the installed pvlock.pc links and runs the installed libpvlock.so"
		else
			fail "build with pkg-config" "$(head -3 "$TMP/cc.log" | tr '\n' ' ')"
		fi
	else
		fail "pkg-config" "$flags"
	fi
	case_uninstall "PREFIX with a space" "" "$PREFIX"
	decoys "after uninstall"
fi

# ---- 2. DESTDIR and PREFIX with spaces and a quote -------------------------------
DESTDIR="$TMP/dest dir's"
if case_install "DESTDIR and PREFIX with spaces" "$DESTDIR" "$PREFIX"; then
	[ ! -e "$PREFIX" ] || [ -z "$(ls -A "$PREFIX")" ] &&
		pass "with DESTDIR, nothing is installed into PREFIX itself" ||
		fail "DESTDIR" "files appeared under '$PREFIX'"
	grep -qF 'prefix='"${PREFIX// /\\ }" "$DESTDIR$PREFIX/lib/pkgconfig/pvlock.pc" &&
		pass "pvlock.pc names PREFIX, not DESTDIR" ||
		fail "pvlock.pc" "$(head -1 "$DESTDIR$PREFIX/lib/pkgconfig/pvlock.pc")"
	case_uninstall "DESTDIR and PREFIX with spaces" "$DESTDIR" "$PREFIX"
	decoys "DESTDIR, after uninstall"
fi

finish
