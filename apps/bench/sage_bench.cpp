// sage-bench: throughput, latency and memory figures of the SAGE runtime, each
// measured against a hand-written single-thread loop where that makes sense.
// docs/performance.md describes every figure and how to read it.
//
//   MFK      20 M records {key, value} over 10 k keys -> map -> filter (keeps half)
//            -> key_by(key) -> count per key -> checksum sink; and the same as a loop.
//   WC       word count over 1 M generated lines x 8 words (10 k vocabulary);
//            SAGE with split/count parallelism 1 and 2; and the same as a loop.
//   TW       20 M records over 10 k keys, event time i / 1000 ms -> 1 s tumbling windows
//            counting per key (aggregate) -> checksum sink; and the same as a loop.
//   latency  source -> map -> key_by -> map -> sink at 20 k records/s for 2.5 s (default
//            config; extras with buffer.timeout 0 and with chaining off).
//   memory   a fast source into a sink that spins ~100 ns per record: peak RSS.
//   remote   MFK and 16 KB documents between two actor systems over loopback TCP.
//   svc      service calls from one operator instance: synchronous (calls/s, p50, p99)
//            and through map_async (capacity 100), in one process and across two nodes;
//            against a thread round trip through a mutex and a condition variable.
//   cluster  (--only cluster, not part of the default run) starts a head and a worker
//            with the `sage` command and runs MFK across their task hosts.
//
// Usage: sage-bench [--quick] [--only mfk|remote|cluster|wc|tw|latency|memory|svc] [--runs N]
//                   [--skip-memory] [--<config key> <value> ...]
//   A config key and value (e.g. --batch.size 4096) is applied to every job.
//
// Progress goes to stderr; at the end stdout carries only `name value` lines.
// Exits non-zero when a SAGE result differs from the loop's.
//
// This file parses the arguments and runs the workloads in order; each workload is
// in a file of its own (mfk_bench, remote_bench, cluster_bench, wc_bench,
// latency_bench, memory_bench), what they share in bench_common.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "cluster_bench.hpp"
#include "latency_bench.hpp"
#include "memory_bench.hpp"
#include "mfk_bench.hpp"
#include "remote_bench.hpp"
#include "service_bench.hpp"
#include "tw_bench.hpp"
#include "wc_bench.hpp"

#include <sage/detail/runtime.hpp>
#include <sage/sage.hpp>

namespace {

void usage() {
  std::fprintf(
      stderr,
      "usage: sage-bench [--quick] [--only mfk|remote|cluster|wc|tw|latency|memory|svc] [--runs N] "
      "[--skip-memory] [--<config key> <value> ...]\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sage::bench;
  bool quick = false;
  bool skip_memory = false;
  std::string only;
  int runs = 3;
  std::vector<const char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--skip-memory") {
      skip_memory = true;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a.rfind("--only=", 0) == 0) {
      only = a.substr(7);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (!only.empty() && only != "mfk" && only != "remote" && only != "cluster" && only != "wc" &&
      only != "tw" && only != "latency" && only != "memory" && only != "svc") {
    usage();
    return 1;
  }
  const auto positional = g_base_config.merge_args(static_cast<int>(rest.size()), rest.data());
  if (!positional.empty()) {
    usage();
    return 1;
  }
  auto enabled = [&](const char* what) { return only.empty() || only == what; };

  const uint64_t mfk_n = quick ? 2'000'000 : 20'000'000;
  if (sage::detail::is_task_host()) {
    // This program, shipped by the cluster of `--only cluster`: it serves its job
    // (see mfk_cluster_task_host) and does not return from it.
    mfk_cluster_task_host(mfk_n, runs);
    return 0;
  }
  const size_t wc_lines = quick ? 100'000 : 1'000'000;
  const uint64_t tw_records = quick ? 2'000'000 : 20'000'000;
  const double latency_seconds = quick ? 1.0 : 2.5;
  const uint64_t latency_rate = 20'000;
  const uint64_t memory_n = quick ? 3'000'000 : 30'000'000;
  const int64_t spin_ns = 100;
  const uint64_t big_records = quick ? 5'000 : 20'000;  // documents of 16 KB (--only remote)

  std::fprintf(stderr, "sage-bench: %s sizes, best of %d runs, %u hardware threads\n",
               quick ? "quick" : "full", runs, std::thread::hardware_concurrency());
  for (const auto& [k, v] : g_base_config.entries())
    std::fprintf(stderr, "sage-bench: config %s = %s\n", k.c_str(), v.c_str());

  // Starts the embedded actor system once, so that no timing includes its start-up.
  auto keeper = start_runtime();

  Output out;
  Output extra;
  Output mem_pairs;  // printed last, after the other extra pairs

  // Memory runs first: the runtime keeps the state of finished jobs (e.g. the copy of
  // the WC lines that from_batch makes), which would inflate the baseline.
  if (enabled("memory") && !skip_memory) memory_figures(memory_n, spin_ns, mem_pairs);

  if (enabled("mfk")) mfk_local_figures(mfk_n, runs, out, extra);

  if (enabled("remote")) {
    // The runtime is made anew for each run, in plain or with TLS (on_two_nodes).
    keeper.reset();
    remote_figures(mfk_n, big_records, runs, extra);
    keeper = start_runtime();
  }

  // --only cluster is not in the default set: it starts processes.
  if (only == "cluster") mfk_cluster_figures(mfk_n, runs, extra);

  if (enabled("wc")) wc_figures(wc_lines, runs, out, extra);

  if (enabled("tw")) tw_figures(tw_records, runs, out, extra);

  if (enabled("latency")) latency_figures(latency_rate, latency_seconds, out, extra);

  if (enabled("svc")) {
    // Two-node runs make the runtime anew (on_two_nodes), as --only remote does.
    keeper.reset();
    service_figures(quick ? 5'000 : 20'000, quick ? 50'000 : 200'000, runs, out, extra);
    keeper = start_runtime();
  }

  out.print();
  extra.print();
  mem_pairs.print();
  return 0;
}
