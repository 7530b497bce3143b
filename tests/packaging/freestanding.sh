#!/usr/bin/env bash
# tests/packaging/freestanding.sh - the architecture rule "the lock algorithms are
# freestanding (no libc)": src/algo/ may use only what the compiler itself
# provides, and reaches the world only through the pvlock__* hooks that
# src/runtime/ and src/backend/ define (src/algo/hooks.h).
#
# Checks, each a PASS:/FAIL: line (protocol of tests/run.sh):
#   1. the objects of the product build (build/lib/obj/algo/*.o): every
#      undefined symbol is a pvlock__* hook or defined by another algo object;
#   2. the same for objects built here by gcc and clang at other optimisation
#      levels and with a distribution-style hardening flag (a compiler may
#      emit memcpy/memset for a struct copy, __stack_chk_fail for a canary);
#   3. src/algo/*.[ch] include only freestanding C headers (stddef.h,
#      stdint.h, stdbool.h, stdatomic.h, limits.h, stdalign.h, stdnoreturn.h)
#      and the project's own headers;
#   4. every src/algo/*.c compiles with -nostdinc: no libc header is reached
#      even through a project header.
set -u
cd "$(dirname "$0")/../.." || exit 1
failed=0
pass() { echo "PASS: freestanding: $1"; }
fail() { echo "FAIL: freestanding: $1: $2"; failed=$((failed + 1)); }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-freestanding.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

# The flags the Makefile compiles src/algo/ with (besides -O and warnings).
ALGO_FLAGS="-std=gnu11 -fPIC -ffreestanding -fno-builtin -Iinclude -Isrc"

# check_objects LABEL OBJECT...: the undefined symbols of each object.
# Allowed: pvlock__* (the hooks), symbols another algo object defines (e.g.
# the pv hash table's functions, called by the queued lock), and
# _GLOBAL_OFFSET_TABLE_ (the linker's, for -fPIC code; not a library symbol).
check_objects() {
	local label=$1; shift
	local defined bad="" o sym
	defined=$(nm --defined-only -g "$@" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u)
	for o in "$@"; do
		for sym in $(nm -u "$o" | awk '{print $2}'); do
			case $sym in
			pvlock__*|_GLOBAL_OFFSET_TABLE_) continue ;;
			esac
			grep -qx -- "$sym" <<<"$defined" && continue
			bad+=" $(basename "$o"):$sym"
		done
	done
	if [ -z "$bad" ]; then
		pass "$label: no undefined symbol outside the pvlock__ hooks"
	else
		fail "$label" "undefined symbols that are not pvlock__ hooks (libc?):$bad"
	fi
}

# ---- 1. the product build ---------------------------------------------------
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s build/lib/libpvlock.a >"$TMP/make.log" 2>&1; then
	fail "make build/lib/libpvlock.a" "$(tail -3 "$TMP/make.log" | tr '\n' ' ')"
else
	objs=(build/lib/obj/algo/*.o)
	if [ ! -e "${objs[0]}" ]; then
		fail "objects" "no build/lib/obj/algo/*.o after make"
	else
		check_objects "build/lib/obj/algo (${#objs[@]} objects)" "${objs[@]}"
	fi
fi

# ---- 2. other compilers and flags ---------------------------------------------
for cc in gcc clang; do
	if ! command -v "$cc" >/dev/null; then
		echo "SKIP: freestanding: $cc objects: no $cc"
		continue
	fi
	for flags in "-O0" "-O2" "-O3" "-O2 -fstack-protector-strong"; do
		dir="$TMP/$cc${flags// /}"
		mkdir -p "$dir"
		ok=1
		for src in src/algo/*.c; do
			# shellcheck disable=SC2086	# flag lists
			if ! "$cc" $ALGO_FLAGS $flags -c "$src" -o "$dir/$(basename "$src" .c).o" \
					2>"$dir/err"; then
				fail "$cc $flags" "$src does not compile: $(head -2 "$dir/err" | tr '\n' ' ')"
				ok=0
				break
			fi
		done
		[ "$ok" = 1 ] && check_objects "$cc $flags" "$dir"/*.o
	done
done

# ---- 3. the headers src/algo/ includes ------------------------------------------
FREESTANDING_HEADERS="stddef.h stdint.h stdbool.h stdatomic.h limits.h stdalign.h stdnoreturn.h"
bad=""
while IFS= read -r line; do
	file=${line%%:*}; rest=${line#*:}; lineno=${rest%%:*}; text=${rest#*:}
	if [[ "$text" =~ \#[[:space:]]*include[[:space:]]*\<([^>]+)\> ]]; then
		h=${BASH_REMATCH[1]}
		# The public headers are the project's own (and pass check 4).
		[[ " $FREESTANDING_HEADERS " == *" $h "* ]] && continue
		[[ "$h" == pvlock.h || "$h" == pvlock/*.h ]] && [ -f "include/$h" ] && continue
		bad+=" $file:$lineno:<$h>"
	elif [[ "$text" =~ \#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
		h=${BASH_REMATCH[1]}
		[ -f "src/$h" ] || [ -f "include/$h" ] || [ -f "$(dirname "$file")/$h" ] && continue
		bad+=" $file:$lineno:\"$h\"(not a project header)"
	else
		bad+=" $file:$lineno:(unparsed: $text)"
	fi
done < <(grep -n '^[[:space:]]*#[[:space:]]*include' src/algo/*.c src/algo/*.h)
if [ -z "$bad" ]; then
	pass "src/algo includes only freestanding C headers and project headers"
else
	fail "src/algo includes" "not allowed:$bad"
fi

# ---- 4. no libc header reached through a project header -----------------------
inc=$(gcc -print-file-name=include)	# gcc's own: stddef.h, stdint.h, ...
bad=""
for src in src/algo/*.c; do
	# shellcheck disable=SC2086
	if ! gcc $ALGO_FLAGS -nostdinc -isystem "$inc" -fsyntax-only "$src" 2>"$TMP/err"; then
		bad+=" $src: $(grep -m1 -E 'error|fatal' "$TMP/err")"
	fi
done
if [ -z "$bad" ]; then
	pass "src/algo/*.c compile with -nostdinc (the compiler's headers only)"
else
	fail "-nostdinc" "$bad"
fi

exit $((failed > 0))
