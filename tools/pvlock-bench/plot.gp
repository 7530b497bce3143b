# plot.gp - draws the study in DIR as PNG and SVG.
#   gnuplot -e "dir='results'" tools/pvlock-bench/plot.gp
# Reads DIR/plot-vars.gp and the DIR/plot-*.csv files pvlock-bench --output
# writes: one row per x value, one column (or min/median/max triple) per lock.

if (!exists("dir")) dir = "results"
load dir."/plot-vars.gp"

set datafile separator ","
set datafile missing ""
set key outside right top vertical noenhanced
set grid
set logscale x 2
set format x "%g"

# A colour and a point per lock position; pvlock's own locks come first in
# the default order, drawn solid; the others dashed.
array colours[16] = ["#1f77b4", "#aec7e8", "#d62728", "#ff9896", "#2ca02c", \
                     "#000000", "#7f7f7f", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", \
                     "#17becf", "#bcbd22", "#393b79", "#637939", "#843c39"]
do for [i=1:16] {
	c = colours[i]
	pt = i % 7 + 1
	dt = (i <= 5) ? 1 : 2
	set linetype i linecolor rgb c linewidth 2 pointtype pt pointsize 0.8 dashtype dt
}

do for [t in "png svg"] {
	if (t eq "png") {
		set terminal pngcairo size 1100,650 noenhanced font ",10"
	} else {
		set terminal svg size 1100,650 noenhanced font ",10" background "white"
	}

	if (have_contention) {
		# Throughput: median with the min..max of the repeats as error bars.
		set output dir."/throughput.".t
		set title sprintf("Throughput vs threads on %d CPUs (%s)", cpus, setup)
		set xlabel "threads (log scale; more threads than CPUs = overcommit)"
		set ylabel "acquisitions per second (log scale)"
		set logscale y 10
		set format y "%.0s%c"
		plot for [i=1:nlocks] dir."/plot-throughput.csv" \
			using 1:(column(3*i-1)):(column(3*i)):(column(3*i+1)) \
			with yerrorlines linetype i title word(locks, i)

		# Latency percentiles: one panel each.
		set output dir."/latency.".t
		set multiplot layout 1,3 title sprintf("Acquisition latency on %d CPUs (%s)", cpus, setup)
		set ylabel "ns (log scale)"
		set xlabel "threads"
		set format y "%.0s%c"
		set key inside left top font ",8"
		do for [p in "p50 p99 p999"] {
			set title (p eq "p999" ? "p99.9" : p)
			plot for [i=1:nlocks] dir."/plot-".p.".csv" using 1:(column(i+1)) \
				with linespoints linetype i title (p eq "p50" ? word(locks, i) : "")
		}
		unset multiplot
		set key outside right top vertical font ",10"

		# Fairness: per-thread acquisition counts, two summaries.
		set output dir."/fairness.".t
		set multiplot layout 1,2 title sprintf("Fairness on %d CPUs (%s)", cpus, setup)
		unset logscale y
		set format y "%g"
		set yrange [0:1.05]
		set key inside left bottom font ",8"
		set title "least / most served thread (min/max)"
		set ylabel "ratio"
		plot for [i=1:nlocks] dir."/plot-minmax.csv" using 1:(column(i+1)) \
			with linespoints linetype i title word(locks, i)
		set title "Jain's index (1 = equal shares, 1/n = one thread)"
		set ylabel "index"
		plot for [i=1:nlocks] dir."/plot-jain.csv" using 1:(column(i+1)) \
			with linespoints linetype i title ""
		unset multiplot
		set autoscale y
		set key outside right top vertical font ",10"
		set xlabel "threads (log scale; more threads than CPUs = overcommit)"
	}

	if (have_heat) {
		# pv-queued / best peer per cell: log2 colour scale, red < 1 < green.
		set output dir."/heatmap.".t
		set title sprintf("pv-queued throughput / the best peer's, per cell, on %d CPUs (%s)", cpus, setup_heat)
		unset logscale x
		unset logscale y
		unset grid
		set format x "%g"
		set format y "%g"
		set xlabel "threads"
		set ylabel ""
		eval("set xtics ".heat_xtics)
		eval("set ytics ".heat_ytics)
		set xrange [-0.5:heat_nx-0.5]
		set yrange [heat_ny-0.5:-0.5]
		set cbrange [-2:2]
		set cblabel "log2(ratio): +1 = pvlock 2x ahead, -1 = 2x behind"
		set palette defined (-2 "#b2182b", -0.5 "#f4a582", 0 "#f7f7f7", 0.5 "#92c5de", 2 "#2166ac")
		set key off
		set datafile separator ","
		plot dir."/plot-heat.csv" skip 1 using 1:2:(log($3)/log(2)) with image, \
		     dir."/plot-heat.csv" skip 1 using 1:2:(sprintf("%.2f", $3)) with labels font ",9"
		unset xtics
		unset ytics
		set xtics
		set ytics
		set autoscale x
		set autoscale y
		set key outside right top vertical
		set grid
		set logscale x 2
		unset colorbox
		set colorbox
		set ylabel ""
	}

	if (have_sweep) {
		set output dir."/sweep.".t
		set title sprintf("pv spin threshold sweep: %d threads on %d CPUs (%s)", sweep_threads, cpus, setup)
		set xlabel "spin threshold (loop iterations before sleeping, log scale)"
		set ylabel "acquisitions per second (log scale)"
		set logscale y 10
		set format y "%.0s%c"
		set format x "2^%L"
		plot for [i=1:nsweep] dir."/plot-sweep.csv" \
			using 1:(column(3*i-1)):(column(3*i)):(column(3*i+1)) \
			with yerrorlines linetype (i == 1 ? 1 : 3) title word(sweep_locks, i)
		set format x "%g"
	}
	unset output
}
