#!/usr/bin/env bash
# tests/packaging/install_bpf.sh - the bpf backend's loader, found from an installed
# pvlock: `make` then `make install PREFIX=<tmp>` (the README's order), a
# program outside the tree linked statically against the installed
# libpvlock.a (so the loader is not next to any libpvlock.so), run with
# PVLOCK_BACKEND=bpf: the backend loads from PREFIX/lib.  Then the same with
# the loader removed: the message names where it looked.
#
# Needs root, BTF and a build with the loader: SKIP lines otherwise.
# Protocol of tests/run.sh: PASS:/FAIL:/SKIP: lines, non-zero exit on FAIL.
set -u
cd "$(dirname "$0")/../.." || exit 1
TEST_NAME="install bpf"
. tests/lib/install.sh

[ "$(id -u)" = 0 ] || skip "not root (loading a BPF program needs root)"
[ -r /sys/kernel/btf/vmlinux ] || skip "no BTF (/sys/kernel/btf/vmlinux)"
[ -f "$ROOT/build/lib/libpvlock-bpf.so" ] ||
	skip "this build left the loader out (build/lib/libpvlock-bpf.so: clang, bpftool, libbpf-dev)"

make_tmp install-bpf

# ---- 1. make, then make install PREFIX=<tmp> ----------------------------------
if ! submake >"$TMP/make.log" 2>&1; then
	fail "make" "failed: $(tail -3 "$TMP/make.log" | tr '\n' ' ')"
	finish
fi
if submake install PREFIX="$PREFIX" >"$TMP/install.log" 2>&1; then
	pass "make, then make install PREFIX=<tmp>"
else
	fail "make install PREFIX=<tmp>" "failed: $(tail -3 "$TMP/install.log" | tr '\n' ' ')"
	finish
fi
[ -f "$PREFIX/lib/libpvlock-bpf.so" ] || { fail "installed loader" "no $PREFIX/lib/libpvlock-bpf.so"; finish; }

# ---- 2. a static program elsewhere, PVLOCK_BACKEND=bpf ---------------------------
mkdir -p "$TMP/elsewhere/bin"
cat >"$TMP/elsewhere/prog.c" <<'EOF'
#include <stdio.h>
#include <pvlock.h>
int main(void)
{
	pvlock_ticket_t l = PVLOCK_TICKET_INIT;
	pvlock_ticket_lock(&l);
	pvlock_ticket_unlock(&l);
	printf("%s\n", pvlock_backend());
	return 0;
}
EOF
PROG=$TMP/elsewhere/bin/prog
if ! "$CC" -std=gnu11 -I"$PREFIX/include" -o "$PROG" "$TMP/elsewhere/prog.c" \
		"$PREFIX/lib/libpvlock.a" -pthread -ldl >"$TMP/cc.log" 2>&1; then
	fail "static link against the installed libpvlock.a" "$(head -3 "$TMP/cc.log" | tr '\n' ' ')"
	finish
fi
got=$(cd / && env -u PVLOCK_BPF_LIBRARY PVLOCK_BACKEND=bpf "$PROG" 2>"$TMP/run.err")
if [ "$got" = bpf ]; then
	pass "a static program finds the loader in PREFIX/lib"
else
	fail "a static program finds the loader in PREFIX/lib" \
		"pvlock_backend() says '$got': $(tr '\n' ' ' <"$TMP/run.err")"
fi

# ---- 3. loader missing: the message says where it looked --------------------------
mv "$PREFIX/lib/libpvlock-bpf.so" "$TMP/libpvlock-bpf.so.away"
got=$(cd / && env -u PVLOCK_BPF_LIBRARY PVLOCK_BACKEND=bpf "$PROG" 2>"$TMP/run.err")
msg=$(tr '\n' ' ' <"$TMP/run.err")
if [ "$got" = futex ] && [[ $msg == *"not found in:"*"$PREFIX/lib"* ]] &&
		[[ $msg != *"built without"* ]]; then
	pass "loader missing: the message lists PREFIX/lib among the places tried"
else
	fail "loader missing: the message lists PREFIX/lib among the places tried" \
		"backend '$got', message: $msg"
fi
finish
