// kbench compare A.json B.json: each row of B against the same row of A (same op, variant,
// backend, device and shape), labelled faster, slower or same given both runs' noise.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::bench {

enum class Change { Faster, Slower, Same };
const char* change_name(Change c);

// B against A. The difference counts only when it is larger than the two runs' noise combined
// (the square root of the sum of their squares, as for independent errors). A noise that is
// unknown (one sample) counts as `fallback_noise_pct`, the run's noise target.
Change classify_change(double a_ms, double a_noise_pct, double b_ms, double b_noise_pct,
                       double fallback_noise_pct);

struct CompareRow {
  std::string key; // "op variant backend device shape", for display
  double a_ms = 0, b_ms = 0;
  double a_noise = 0, b_noise = 0;
  double change_pct = 0; // (b - a) / a, percent: negative is faster
  Change change = Change::Same;
};

struct Comparison {
  std::vector<CompareRow> rows;
  std::vector<std::string> only_a, only_b;
  // Matched rows whose inputs lived in different memories ("resident": a file from before
  // resident timing has none, and timed host tensors): their times are not like for like.
  std::vector<std::string> mixed_memory;
};

// Throws std::runtime_error when a document is not kbench JSON.
Comparison compare_runs(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b);

void print_comparison(std::FILE* out, const Comparison& c, const std::string& a_name,
                      const std::string& b_name);

// Reads both files, prints the comparison; 0 on success, 2 when a file cannot be read.
int compare_main(const std::string& a_path, const std::string& b_path);

} // namespace tessera::bench
