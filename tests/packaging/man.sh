#!/usr/bin/env bash
# tests/packaging/man.sh - the manual pages: each page in man/man3 lints
# cleanly with groff -man -ww (and mandoc -T lint at error level, when
# installed), every .so link names a page that exists, and every public
# function in the headers has a page or a link of its own name.
# Protocol of tests/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
failed=0

if ! command -v groff >/dev/null; then
	echo "SKIP: man: groff is not installed"
	exit 0
fi
bad=""
for page in man/man3/*.3; do
	out=$(cd man && groff -man -ww -z "man3/$(basename "$page")" 2>&1)
	if command -v mandoc >/dev/null; then
		out+=$(cd man && mandoc -T lint -W error "man3/$(basename "$page")" 2>&1)
	fi
	[ -n "$out" ] && bad+=" $(basename "$page"): $(echo "$out" | head -2 | tr '\n' ' ')"
	target=$(sed -n 's/^\.so //p' "$page")
	if [ -n "$target" ] && [ ! -f "man/$target" ]; then
		bad+=" $(basename "$page"): .so names $target, which does not exist"
	fi
done
if [ -z "$bad" ]; then
	echo "PASS: man: $(ls man/man3 | wc -l) pages and links lint cleanly (groff -man -ww$(command -v mandoc >/dev/null && echo ', mandoc -T lint'))"
else
	echo "FAIL: man: lint:$bad"
	failed=1
fi

# Public functions: pvlock_NAME( in the headers, not pvlock__ internals and
# not the _raw halves the annotated wrappers call.
funcs=$(grep -ohE '\bpvlock_[a-z_]+\(' include/pvlock.h include/pvlock/*.h | tr -d '(' |
	grep -v -e '^pvlock__' -e '_raw$' | sort -u)
for fn in $(grep -ohE 'PVLOCK__ANNOTATED_OPS\([^)]*\)' include/pvlock/*.h |
	    sed 's/.*(\([^,]*\), *\([^,]*\), *\([^,]*\), *\([^)]*\))/\2 \3 \4/'); do
	[[ "$fn" == pvlock_* ]] && funcs+=$'\n'$fn
done
missing=""
for fn in $(echo "$funcs" | sort -u); do
	[ -f "man/man3/$fn.3" ] || missing+=" $fn"
done
if [ -z "$missing" ]; then
	echo "PASS: man: every public function has a page or link ($(echo "$funcs" | sort -u | wc -l) functions)"
else
	echo "FAIL: man: public functions without a page or link in man/man3:$missing"
	failed=1
fi
exit $failed
