// Plots of a sweep, drawn by gnuplot from data and scripts kbench writes: for each operation its
// median time and throughput against one axis, a line per (device, variant) and per value of
// the other axes that vary; for each device a roofline of the rows that count flops, with the
// peaks the registry knows. The .dat and .gp files stay next to the images, so a plot can be
// restyled or redrawn without rerunning the sweep. Without gnuplot only those files are written.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bench/report.h"

namespace tessera::bench {

struct PlotFiles {
  std::vector<std::string> scripts; // every .gp written
  std::vector<std::string> images;  // every image gnuplot produced
  std::vector<std::string> notes;   // what could not be drawn, and why (one line each)
};

// `format`: "svg" or "png". `gnuplot`: the program to run; empty: write data and scripts only.
// Throws std::runtime_error when `dir` cannot be written.
PlotFiles write_plots(const std::string& dir, const std::vector<Row>& rows,
                      const std::map<std::string, DevicePeaks>& peaks, const std::string& format,
                      const std::string& gnuplot);

// The full path of `program` found in $PATH, or "" when it is not there.
std::string find_in_path(const std::string& program);

// The integer axis a plot of these rows (all of one op) runs along: the one with the most
// distinct values, the first in axis order on a tie; "" when the rows have no integer axis.
std::string plot_axis(const std::vector<const Row*>& rows);

} // namespace tessera::bench
