#pragma once
// What every sage-bench workload shares: the clock, the record-index hash, failing,
// running a job (and how many cores it kept busy), the config every job starts from,
// the checksum sink, RSS figures, "best of N runs" and the `name value` output.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

namespace sage::bench {

using Clock = std::chrono::steady_clock;

// Inline: the latency and memory workloads call these per record.
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

/// splitmix64's finalizer: a cheap, well-spread function of the record index.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Prints `what` and ends the benchmark with exit status 2.
[[noreturn]] void fail(const std::string& what);

/// CPU seconds (user + system) this process has used so far.
double cpu_seconds();

/// How many cores the last job kept busy on average (process CPU time / wall time).
extern double g_last_job_cores;

/// Runs a job to its end; a failure ends the benchmark.
void run_job(sage::Environment& env);

/// The settings given on the command line (e.g. `--batch.size 4096`), applied to every job.
extern sage::Config g_base_config;

/// g_base_config with `extra` set on top.
sage::Config job_config(
    std::initializer_list<std::pair<const std::string, std::string>> extra = {});

/// Starts this process's runtime with a small job; the runtime lives as long as
/// the environment returned (every LocalEnvironment meanwhile shares it).
std::unique_ptr<sage::LocalEnvironment> start_runtime();

/// A sink that sums `Check(record)` and counts records, adding both to the
/// shared result when it closes (the same for MFK and WC).
template <class Record, class Result, uint64_t (*Check)(const Record&)>
class ChecksumSink : public sage::SinkFunction<Record> {
 public:
  explicit ChecksumSink(std::shared_ptr<Result> result) : result_(std::move(result)) {}
  void execute(const Record& r) override {
    checksum_ += Check(r);
    ++records_;
  }
  void close() override {
    std::lock_guard<std::mutex> guard(result_->mutex);
    result_->checksum += checksum_;
    result_->records += records_;
  }

 private:
  std::shared_ptr<Result> result_;
  uint64_t checksum_ = 0;
  uint64_t records_ = 0;
};

/// Resident set size now, from /proc/self/statm.
double rss_mb();

/// A `kB` field of /proc/self/status (VmHWM, VmRSS), in MB; -1 when absent.
double status_mb(const std::string& field);

/// Prints RSS and VmHWM to stderr, after the workload `after`.
void report_rss(const char* after);

/// `name value` pairs, printed to stdout at the end in the order they were added.
struct Output {
  std::vector<std::pair<std::string, std::string>> pairs;
  void add(const std::string& name, double v, int decimals);
  void print() const;
};

/// The fastest of several runs, and the cores its job kept busy.
struct Best {
  double seconds = 1e300;
  double cores = 0;
  void add(double s, double c) {
    if (s < seconds) cores = c;
    seconds = std::min(seconds, s);
  }
};

/// One round of `best_of_runs`: the loop's seconds, and SAGE's at parallelism 1
/// and 2 with the cores each job kept busy.
struct Round {
  double loop_s = 0;
  double p1_s = 0, p1_cores = 0;
  double p2_s = 0, p2_cores = 0;
};

struct BestOfRuns {
  Best loop, p1, p2;
};

/// `runs` rounds of: the hand-written loop `loop()` (timed here; it returns the
/// result SAGE must match, which `check` may refuse), then the SAGE job
/// `sage(parallelism, expected)` (returning its seconds) at parallelism 1 and 2;
/// `report(r, round, expected)` prints round r. Returns the best of each.
template <class Loop, class Check, class Sage, class Report>
BestOfRuns best_of_runs(int runs, Loop&& loop, Check&& check, Sage&& sage, Report&& report) {
  BestOfRuns best;
  for (int r = 0; r < runs; ++r) {
    Round round;
    const auto t0 = Clock::now();
    const auto expected = loop();
    round.loop_s = seconds_since(t0);
    best.loop.add(round.loop_s, 0);
    check(expected);
    round.p1_s = sage(1, expected);
    round.p1_cores = g_last_job_cores;
    best.p1.add(round.p1_s, round.p1_cores);
    round.p2_s = sage(2, expected);
    round.p2_cores = g_last_job_cores;
    best.p2.add(round.p2_s, round.p2_cores);
    report(r, round, expected);
  }
  return best;
}

}  // namespace sage::bench
