#!/usr/bin/env bash
# tests/programs/preload_programs.sh - make check's bounded run of real programs under
# pvlock-run (xz, zstd, sqlite3, kccachetest, stress-ng): same output as
# plain glibc, and the pvlock-preload: line shows pvlock handled their locks.
# The full, measured set is `tools/pvlock-preload-programs.sh table`.
exec bash "$(dirname "$0")/../../tools/pvlock-preload-programs.sh" check
