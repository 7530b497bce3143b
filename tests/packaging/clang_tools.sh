#!/usr/bin/env bash
# tests/packaging/clang_tools.sh - the tools and the example compile cleanly under
# clang with the build's warnings (-Wall -Wextra -Werror): clang warns about
# things gcc does not (-Wfor-loop-analysis, for one), and `make CC=clang`
# must build.  Syntax and warnings only (-fsyntax-only), each file with the
# flags its rule adds; .ci/run builds the whole tree with clang.  Protocol
# of tests/run.sh.  About 20 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
CLANG=$(command -v clang-14 || command -v clang)
if [ -z "$CLANG" ]; then
	echo "SKIP: clang tools: no clang-14 or clang (Debian: clang-14; scripts/install-deps.sh)"
	exit 0
fi
failed=0 n=0
for f in tools/*/*.c examples/*.c; do
	extra=()
	case $f in
	tools/pvlock-bench/*) extra=(-D_GNU_SOURCE) ;;
	tools/pvlock-torture/*) extra=(-Itests) ;;
	esac
	n=$((n + 1))
	if ! out=$("$CLANG" -std=gnu11 -O2 -Wall -Wextra -Werror -Iinclude -Isrc "${extra[@]}" \
			-fsyntax-only "$f" 2>&1); then
		echo "FAIL: clang tools: $f: $(grep -m1 'error:' <<<"$out")"
		failed=1
	fi
done
[ $failed -eq 0 ] && echo "PASS: clang tools: $n files of tools/ and examples/ compile under $(basename "$CLANG") -Wall -Wextra -Werror"
exit $failed
