// sage-bench's memory under backpressure: how much the process grows while a source
// outruns its sink by far (an unbounded queue would hold every record).

#include "memory_bench.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "mfk_bench.hpp"

#include <sage/sage.hpp>

namespace sage::bench {

namespace {

/// Resets VmHWM to the current RSS (Linux >= 4.0); false when not possible.
bool reset_hwm() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

class FastSource : public sage::BatchFunction<Rec> {
 public:
  explicit FastSource(uint64_t n) : n_(n) {}
  std::optional<Rec> execute() override {
    if (i_ == n_) return std::nullopt;
    const uint64_t i = i_++;
    return Rec{i, i};
  }

 private:
  uint64_t n_;
  uint64_t i_ = 0;
};

struct SlowResult {
  std::atomic<uint64_t> records{0};
  uint64_t sum = 0;
};

/// Spins about `spin_ns` per record.
class SlowSink : public sage::SinkFunction<Rec> {
 public:
  SlowSink(std::shared_ptr<SlowResult> result, int64_t spin_ns)
      : result_(std::move(result)), spin_ns_(spin_ns) {}
  void execute(const Rec& r) override {
    const int64_t until = now_ns() + spin_ns_;
    while (now_ns() < until) {
    }
    sum_ += r.value;
    result_->records.fetch_add(1, std::memory_order_relaxed);
  }
  void close() override { result_->sum = sum_; }

 private:
  std::shared_ptr<SlowResult> result_;
  int64_t spin_ns_;
  uint64_t sum_ = 0;
};

struct MemoryRun {
  double baseline_mb = 0;
  double peak_mb = 0;
  double hwm_mb = -1;
  double seconds = 0;
};

MemoryRun memory_run(uint64_t n, int64_t spin_ns) {
  malloc_trim(0);  // return what earlier phases freed, so that growth shows in RSS
  auto result = std::make_shared<SlowResult>();
  sage::LocalEnvironment env("bench-backpressure", job_config());
  env.from_collection<FastSource>(n)
      .name("fast")
      .rebalance()  // a channel between the source and the sink: they run as two tasks
      .sink<SlowSink>(result, spin_ns)
      .name("slow");

  MemoryRun m;
  m.baseline_mb = rss_mb();
  const bool hwm_ok = reset_hwm();
  std::atomic<bool> done{false};
  double peak = m.baseline_mb;
  std::thread sampler([&] {
    auto next_report = Clock::now() + std::chrono::seconds(1);
    while (!done.load()) {
      peak = std::max(peak, rss_mb());
      if (Clock::now() >= next_report) {
        std::fprintf(stderr, "  memory: %6.1f M records through the sink, RSS %.1f MB\n",
                     static_cast<double>(result->records.load()) / 1e6, rss_mb());
        next_report += std::chrono::seconds(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto t0 = Clock::now();
  run_job(env);
  m.seconds = seconds_since(t0);
  done = true;
  sampler.join();
  m.peak_mb = std::max(peak, rss_mb());
  if (hwm_ok) m.hwm_mb = status_mb("VmHWM");
  const uint64_t expected_sum = n * (n - 1) / 2;
  if (result->records.load() != n || result->sum != expected_sum)
    fail("memory: the sink saw " + std::to_string(result->records.load()) + " of " +
         std::to_string(n) + " records");
  return m;
}

}  // namespace

void memory_figures(uint64_t memory_n, int64_t spin_ns, Output& mem_pairs) {
  std::fprintf(stderr, "memory: %.0f M records into a sink spinning %lld ns per record\n",
               static_cast<double>(memory_n) / 1e6, static_cast<long long>(spin_ns));
  const MemoryRun m = memory_run(memory_n, spin_ns);
  std::fprintf(stderr,
               "  %.2f s; RSS baseline %.1f MB, peak %.1f MB (VmHWM %.1f MB); an unbounded "
               "queue would hold up to %.0f MB of records\n",
               m.seconds, m.baseline_mb, m.peak_mb, m.hwm_mb,
               static_cast<double>(memory_n * sizeof(Rec)) / (1024.0 * 1024.0));
  mem_pairs.add("backpressure_baseline_rss_mb", m.baseline_mb, 1);
  mem_pairs.add("backpressure_peak_rss_mb", m.peak_mb, 1);
  if (m.hwm_mb >= 0) mem_pairs.add("backpressure_vmhwm_mb", m.hwm_mb, 1);
  mem_pairs.add("backpressure_records", static_cast<double>(memory_n), 0);
  mem_pairs.add("backpressure_seconds", m.seconds, 2);
  mem_pairs.add("backpressure_sink_records_per_s", static_cast<double>(memory_n) / m.seconds, 0);
  report_rss("memory");
}

}  // namespace sage::bench
