#!/bin/bash
# plot.sh DIR - draw DIR/*.png and DIR/*.svg from pvlock-bench --output DIR.
set -euo pipefail
dir=${1:-results}
here=$(dirname "$0")
if ! command -v gnuplot >/dev/null; then
	echo "plot.sh: gnuplot is not installed: no plots (the CSV and JSON are in $dir)" >&2
	exit 1
fi
if [ ! -f "$dir/plot-vars.gp" ]; then
	echo "plot.sh: $dir/plot-vars.gp missing: run pvlock-bench --output $dir first" >&2
	exit 1
fi
gnuplot -e "dir='$dir'" "$here/plot.gp"
ls "$dir"/*.png "$dir"/*.svg | sed 's/^/plot: /'
