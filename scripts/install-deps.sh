#!/usr/bin/env bash
# install-deps.sh - install what pvlock's build, tests, models and benchmark
# need on Debian 12, if anything is missing.  Safe to run again: it installs
# only missing packages.  Needs root (or sudo) when something is missing.
set -eu

PACKAGES=(
	gcc make pkg-config binutils	# build
	clang-14 libclang-rt-14-dev	# ThreadSanitizer build (make check-tsan)
	spin				# the SPIN model checker (models/)
	libck-dev			# Concurrency Kit locks for the benchmark
	g++ libabsl-dev libtbb-dev	# the benchmark's C++ peers: absl::Mutex, oneTBB mutexes
	gnuplot-nox			# benchmark plots
	valgrind			# callgrind instruction counts (fast-path table)
	xz-utils zstd sqlite3		# real programs under pvlock-run (tests/programs/preload_programs.sh,
	kyotocabinet-utils stress-ng	#   tools/pvlock-preload-programs.sh)
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user	# make check-aarch64
	qemu-system-x86 linux-image-amd64 busybox-static cpio python3	# make vm-demo, tests/programs/vm.sh (tools/vm/)
	clang libbpf-dev bpftool	# the bpf backend (src/backend/bpf/); clang, clang++ for tests/packaging/headers.sh
	groff-base mandoc		# man page lint (tests/packaging/man.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
	[ "${p#\#}" = "$p" ] || continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: need root to install: ${missing[*]}" >&2
		exit 1
	}
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
