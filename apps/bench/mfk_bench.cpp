// sage-bench's MFK in one process: map -> filter -> key_by -> count per key, in
// SAGE (count parallelism 1 and 2) against the same as a single-thread loop.

#include "mfk_bench.hpp"

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace sage::bench {

namespace {

struct MfkResult {
  std::mutex mutex;
  MfkCounts counts;  // merged from the count instances at close
  uint64_t checksum = 0;
  uint64_t records = 0;  // records seen by the sinks
};

/// Keyed by key: the running count of the current key (the same map as the loop).
class MfkCount : public sage::MapFunction<Rec, KeyCount> {
 public:
  explicit MfkCount(std::shared_ptr<MfkResult> result) : result_(std::move(result)) {}
  KeyCount execute(const Rec& r) override { return KeyCount{r.key, ++counts_[r.key]}; }
  void close() override {
    std::lock_guard<std::mutex> guard(result_->mutex);
    for (const auto& [k, c] : counts_) result_->counts[k] += c;
  }

 private:
  std::shared_ptr<MfkResult> result_;
  MfkCounts counts_;
};

using MfkSink = ChecksumSink<KeyCount, MfkResult, mfk_check>;

}  // namespace

MfkLoopResult mfk_loop(uint64_t n) {
  MfkLoopResult res;
  for (uint64_t i = 0; i < n; ++i) {
    const Rec m = mfk_map(mfk_record(i));
    if (!mfk_keep(m)) continue;
    const KeyCount kc{m.key, ++res.counts[m.key]};
    res.checksum += mfk_check(kc);
    ++res.records;
  }
  return res;
}

double mfk_sage(uint64_t n, int count_parallelism, const MfkLoopResult& expected,
                sage::Config config) {
  auto result = std::make_shared<MfkResult>();
  sage::LocalEnvironment env("bench-mfk", std::move(config));
  mfk_keyed(env, n)
      .map<MfkCount>(result)
      .name("count")
      .parallelism(count_parallelism)
      .sink<MfkSink>(result)
      .name("sink")
      .parallelism(count_parallelism);
  const auto t0 = Clock::now();
  run_job(env);
  const double s = seconds_since(t0);
  if (result->records != expected.records || result->checksum != expected.checksum ||
      result->counts != expected.counts)
    fail("MFK: SAGE result differs from the loop's (records " + std::to_string(result->records) +
         " vs " + std::to_string(expected.records) + ", keys " +
         std::to_string(result->counts.size()) + " vs " + std::to_string(expected.counts.size()) +
         ", checksum " + std::to_string(result->checksum) + " vs " +
         std::to_string(expected.checksum) + ")");
  return s;
}

void mfk_local_figures(uint64_t n_records, int runs, Output& out, Output& extra) {
  std::fprintf(stderr, "MFK: %.0f M records, %llu keys\n", static_cast<double>(n_records) / 1e6,
               static_cast<unsigned long long>(kMfkKeys));
  const BestOfRuns best = best_of_runs(
      runs, [&] { return mfk_loop(n_records); }, [](const MfkLoopResult&) {},
      [&](int parallelism, const MfkLoopResult& expected) {
        return mfk_sage(n_records, parallelism, expected);
      },
      [&](int r, const Round& t, const MfkLoopResult& expected) {
        std::fprintf(stderr,
                     "  run %d: loop %.3f s (%.1f M/s), sage p1 %.3f s (%.1f M/s, %.2f cores "
                     "busy), sage count-p2 %.3f s (%.1f M/s, %.2f cores busy); %llu kept, "
                     "checksum %llu\n",
                     r + 1, t.loop_s, static_cast<double>(n_records) / t.loop_s / 1e6, t.p1_s,
                     static_cast<double>(n_records) / t.p1_s / 1e6, t.p1_cores, t.p2_s,
                     static_cast<double>(n_records) / t.p2_s / 1e6, t.p2_cores,
                     static_cast<unsigned long long>(expected.records),
                     static_cast<unsigned long long>(expected.checksum));
      });
  const double n = static_cast<double>(n_records);
  out.add("mfk_sage_records_per_s", n / best.p1.seconds, 0);
  out.add("mfk_loop_records_per_s", n / best.loop.seconds, 0);
  out.add("mfk_ratio", best.loop.seconds / best.p1.seconds, 4);
  extra.add("mfk_sage_count_p2_records_per_s", n / best.p2.seconds, 0);
  extra.add("mfk_sage_count_p2_ratio", best.loop.seconds / best.p2.seconds, 4);
  extra.add("mfk_sage_cores_busy", best.p1.cores, 2);
  extra.add("mfk_sage_count_p2_cores_busy", best.p2.cores, 2);
  report_rss("MFK");
}

}  // namespace sage::bench
