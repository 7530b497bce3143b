#!/usr/bin/env bash
# tests/aarch64/instructions.sh VARIANT - do the aarch64 builds use the
# atomics they claim?  Disassembles build/aarch64-VARIANT/libpvlock.a (the
# slow paths) and tests/api (the inline fast paths) and counts
#   LL/SC  load/store-exclusive: ldxr, ldaxr, stxr, stlxr (and b/h forms)
#   LSE    cas*, swp*, ldadd*, ldset*, ldclr*, ldeor* and their st* forms
# v80 (-march=armv8-a -mno-outline-atomics) must have LL/SC and no LSE, and
# no call to libgcc's outline-atomics helpers (__aarch64_*);
# v81 (-march=armv8.1-a) must have LSE and no exclusive loop.
set -u
cd "$(dirname "$0")/../.." || exit 1
v=${1:?variant}
OBJDUMP=${AARCH64_OBJDUMP:-aarch64-linux-gnu-objdump}
failed=0
pass() { echo "PASS: aarch64 $v: $1"; }
fail() { echo "FAIL: aarch64 $v: $1: $2"; failed=$((failed + 1)); }

for f in build/aarch64-$v/libpvlock.a build/aarch64-$v/tests/api; do
	if [ ! -e "$f" ]; then
		fail "$f" "missing (make check-aarch64 builds it)"
		continue
	fi
	# The mnemonic is the third tab-separated field of objdump -d.
	mn=$("$OBJDUMP" -d "$f" | awk -F'\t' 'NF >= 3 {split($3, a, " "); print a[1]}')
	llsc=$(grep -cE '^(ld|st)l?a?xr[bh]?$' <<<"$mn")
	lse=$(grep -cE '^(cas|casp|swp|ldadd|ldset|ldclr|ldeor|stadd|stset|stclr|steor)(a|l|al)?[bh]?$' <<<"$mn")
	outline=$("$OBJDUMP" -d "$f" | grep -c '<__aarch64_[a-z]*[0-9]*_[a-z_]*>' || true)
	case $v in
	v80) want=$llsc want_name="load/store-exclusive" other=$lse other_name="LSE" ;;
	v81) want=$lse want_name="LSE" other=$llsc other_name="load/store-exclusive" ;;
	*) fail "variant" "unknown variant $v (v80 or v81)"; continue ;;
	esac
	if [ "$want" -gt 0 ] && [ "$other" -eq 0 ] && [ "$outline" -eq 0 ]; then
		pass "$(basename "$f"): $want $want_name instructions, no $other_name, no outline-atomics calls"
	else
		fail "$(basename "$f")" "want $want_name only: $want $want_name, $other $other_name, $outline outline-atomics calls"
	fi
done
exit $((failed > 0))
