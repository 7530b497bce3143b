#!/usr/bin/env bash
# tests/packaging/headers.sh - the public headers as users compile
# them:
#   * the README's API example, as a file, with gcc and clang in C99 and C11
#     under -pedantic -Wall -Wextra -Werror (the INIT macros are constant
#     initialisers; no anonymous-member or _Static_assert warnings);
#   * pvlock.h included from C++ with g++ and clang++, C++11 to C++20, under
#     -pedantic -Wall -Wextra -Werror, and linked (extern "C");
#   * pvlock.hpp: tests/packaging/headers_cxx.cpp built the same ways and run.
# Protocol of tests/run.sh.  A compiler that is not installed is a SKIP.
set -u
cd "$(dirname "$0")/../.." || exit 1
failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-headers.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
FLAGS="-pedantic -Wall -Wextra -Werror -O2 -Iinclude"
LIB=build/lib/libpvlock.a

# The README's example: the first ```c block after "## API".
awk '/^## API/ {api = 1} api && /^```c/ {on = 1; next} on && /^```/ {exit} on {print}' \
	README.md > "$TMP/readme.c"
if ! grep -q 'PVLOCK_INIT' "$TMP/readme.c"; then
	echo "FAIL: headers: README example: no C block with PVLOCK_INIT after ## API"
	failed=1
fi

compile() {	# name, compiler, args...
	local name=$1 cc=$2; shift 2
	if ! command -v "$cc" >/dev/null; then
		echo "SKIP: headers: $name: $cc is not installed"
		return 1
	fi
	if "$cc" "$@" >"$TMP/log" 2>&1; then
		return 0
	fi
	echo "FAIL: headers: $name: $(head -3 "$TMP/log" | tr '\n' ' ')"
	failed=1
	return 1
}

for cc in gcc clang; do
	for std in c99 c11; do
		name="README example, $cc -std=$std -pedantic"
		compile "$name" "$cc" -std=$std $FLAGS -c "$TMP/readme.c" -o "$TMP/readme.o" &&
			echo "PASS: headers: $name"
	done
done

printf '#include <pvlock.h>\nint main() { static pvlock_t l = PVLOCK_INIT; pvlock_lock(&l);\n  pvlock_unlock(&l); pvlock_ticket_t t = PVLOCK_TICKET_INIT; pvlock_ticket_lock(&t);\n  pvlock_ticket_unlock(&t); struct pvlock_stats s; pvlock_stats_read(&s);\n  return pvlock_get_mode() == PVLOCK_MODE_PV ? 0 : 0; }\n' > "$TMP/plain.cpp"
for cxx in g++ clang++; do
	for std in c++11 c++14 c++17 c++20; do
		name="pvlock.h in C++, $cxx -std=$std -pedantic"
		compile "$name" "$cxx" -std=$std $FLAGS "$TMP/plain.cpp" $LIB -pthread -o "$TMP/plain" &&
			echo "PASS: headers: $name"
		name="pvlock.hpp mutexes with lock_guard/unique_lock/scoped_lock, $cxx -std=$std"
		if compile "$name" "$cxx" -std=$std $FLAGS tests/packaging/headers_cxx.cpp $LIB -pthread -o "$TMP/cxx"; then
			if out=$(timeout 60 "$TMP/cxx" 2>&1); then
				echo "PASS: headers: $name"
			else
				echo "FAIL: headers: $name: run failed: $out"
				failed=1
			fi
		fi
	done
done
exit $failed
