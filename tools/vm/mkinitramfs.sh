#!/usr/bin/env bash
# tools/vm/mkinitramfs.sh OUT.cpio.gz JOB [FILE...]
# Build a guest initramfs from static binaries only: busybox-static as
# /bin/busybox, tools/vm/init as /init, JOB (a shell script run by /init) as
# /job, and each FILE as /bin/$(basename FILE), less a "-static" suffix
# (build/bin/pvlock-bench-static is /bin/pvlock-bench in the guest).  Every FILE must be
# statically linked: the image has no C library.
set -eu
[ $# -ge 2 ] || { echo "usage: mkinitramfs.sh OUT.cpio.gz JOB [STATIC-BINARY...]" >&2; exit 2; }
out=$1 job=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
busybox=$(command -v busybox) || { echo "mkinitramfs: busybox not found (Debian: busybox-static)" >&2; exit 2; }
static() { file -L "$1" 2>/dev/null | grep -q 'statically linked' ||
	! LC_ALL=C ldd "$1" >/dev/null 2>&1; }
static "$busybox" || { echo "mkinitramfs: $busybox is not statically linked (Debian: busybox-static)" >&2; exit 2; }
[ -r "$job" ] || { echo "mkinitramfs: job script '$job' not readable" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$dir/bin/busybox"
cp "$here/init" "$dir/init"
cp "$job" "$dir/job"
chmod 755 "$dir/init" "$dir/bin/busybox"
for f in "$@"; do
	static "$f" || { echo "mkinitramfs: $f is not statically linked" >&2; exit 2; }
	name=$(basename "$f")
	cp "$f" "$dir/bin/${name%-static}"
done
mkdir -p "$(dirname "$out")"
(cd "$dir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$out"
