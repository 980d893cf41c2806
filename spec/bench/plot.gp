# make bench-plot: a bar chart of section 1 (sequential calls per second per
# client) from build/bench/results.csv. bench.mk extracts the rows into a
# tab-separated file (case, median, min, max) and passes:
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" spec/bench/plot.gp
if (!exists("datafile")) datafile = "build/bench/calls_per_second.dat"
if (!exists("outfile")) outfile = "build/bench/calls_per_second.png"
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1100,700 font "DejaVu Sans,12" noenhanced
set output outfile
set datafile separator "\t"
set title "GET /api/v2/tokens/me, sequential, one keep-alive connection on loopback\n" . subtitle
set ylabel "calls per second (median of the turns; whiskers: min to max)"
set yrange [0:*]
set offsets 0.5, 0.5, 0, 0
set grid ytics lc rgb "#cccccc"
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.6
set bmargin 5
set xtics nomirror scale 0
set ytics nomirror
set format y "%.0f"
unset key
set linetype 1 lc rgb "#2b6cb0"
set linetype 2 lc rgb "#4a9ad6"
set linetype 3 lc rgb "#7a7a7a"
set linetype 4 lc rgb "#d97706"
set linetype 5 lc rgb "#16a34a"

stats datafile using 4 nooutput
set yrange [0:STATS_max * 1.12]

# "a|b" in a label: two lines.
br(s) = strstrt(s, "|") > 0 ? s[1:strstrt(s, "|") - 1] . "\n" . s[strstrt(s, "|") + 1:] : s

plot datafile using 0:2:($0 + 1):xtic(br(strcol(1))) with boxes lc variable, \
     ''       using 0:3:(0):($4 - $3) with vectors nohead lc rgb "#111111" lw 2, \
     ''       using 0:2:(sprintf("%.0f", $2)) with labels offset 4.5, 0.8 font ",12"
