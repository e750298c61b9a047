// sage-bench's TW (see tw_bench.hpp): source -> assign_timestamps (monotonous,
// chained) -> key_by -> window(tumbling 1 s).aggregate(count) -> checksum sink,
// at parallelism 1 and 2, against a single-thread loop.

#include "tw_bench.hpp"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include <sage/sage.hpp>

namespace sage::bench {

namespace {

constexpr uint64_t kKeys = 10'000;
constexpr int64_t kWindowMs = 1000;

inline uint64_t tw_key(uint64_t i) { return mix64(i) % kKeys; }
inline int64_t tw_time(uint64_t i) { return static_cast<int64_t>(i / 1000); }

/// A record: its index; the key and event time follow from it.
struct TwRecord {
  uint64_t i = 0;
};

/// The records `index, index + p, ...` below `n`: each instance's event times rise.
class TwSource : public sage::BatchFunction<TwRecord> {
 public:
  explicit TwSource(uint64_t n) : n_(n) {}
  void open(sage::RuntimeContext& ctx) override {
    next_ = static_cast<uint64_t>(ctx.index());
    stride_ = static_cast<uint64_t>(ctx.parallelism());
  }
  std::optional<TwRecord> execute() override {
    if (next_ >= n_) return std::nullopt;
    TwRecord r{next_};
    next_ += stride_;
    return r;
  }

 private:
  uint64_t n_;
  uint64_t next_ = 0;
  uint64_t stride_ = 1;
};

using KeyCount = std::pair<uint64_t, uint64_t>;

/// Counts per key and window: the accumulator is the count.
struct TwCount {
  uint64_t create() const { return 0; }
  void add(const TwRecord&, uint64_t& acc) const { ++acc; }
  KeyCount result(const uint64_t& key, const sage::Window&, const uint64_t& acc) const {
    return {key, acc};
  }
};

struct TwResult {
  std::mutex mutex;
  uint64_t checksum = 0;
  uint64_t records = 0;  ///< window results
};

inline uint64_t tw_check(const KeyCount& kc) { return (kc.first + 1) * kc.second; }
using TwSink = ChecksumSink<KeyCount, TwResult, tw_check>;

struct TwLoopResult {
  uint64_t checksum = 0;
  uint64_t windows = 0;  ///< results: (key, window) pairs
};

/// What a programmer writes without a framework: the open window's counts in a
/// hash map, emitted when a record of the next window arrives.
TwLoopResult tw_loop(uint64_t n) {
  TwLoopResult res;
  std::unordered_map<uint64_t, uint64_t> counts;
  int64_t window = 0;
  auto emit = [&] {
    for (const auto& [key, count] : counts) {
      res.checksum += (key + 1) * count;
      ++res.windows;
    }
    counts.clear();
  };
  for (uint64_t i = 0; i < n; ++i) {
    const int64_t w = tw_time(i) / kWindowMs;
    if (w != window) {
      emit();
      window = w;
    }
    ++counts[tw_key(i)];
  }
  emit();
  return res;
}

double tw_sage(uint64_t n, int parallelism, const TwLoopResult& expected) {
  auto result = std::make_shared<TwResult>();
  sage::LocalEnvironment env("bench-tw", job_config());
  env.from_collection<TwSource>(n)
      .name("source")
      .parallelism(parallelism)
      .assign_timestamps([](const TwRecord& r) { return tw_time(r.i); }, sage::monotonous())
      .key_by([](const TwRecord& r) { return tw_key(r.i); })
      .window(sage::tumbling(std::chrono::milliseconds(kWindowMs)))
      .aggregate(TwCount{})
      .name("count")
      .parallelism(parallelism)
      .sink<TwSink>(result)
      .name("sink")
      .parallelism(parallelism);
  const auto t0 = Clock::now();
  run_job(env);
  const double s = seconds_since(t0);
  if (result->records != expected.windows || result->checksum != expected.checksum)
    fail("TW: SAGE result differs from the loop's (window results " +
         std::to_string(result->records) + " vs " + std::to_string(expected.windows) +
         ", checksum " + std::to_string(result->checksum) + " vs " +
         std::to_string(expected.checksum) + ")");
  return s;
}

}  // namespace

void tw_figures(uint64_t records, int runs, Output& out, Output& extra) {
  const double n = static_cast<double>(records);
  std::fprintf(stderr, "TW: %llu records, %llu keys, 1 s tumbling event-time windows\n",
               static_cast<unsigned long long>(records), static_cast<unsigned long long>(kKeys));
  const BestOfRuns b = best_of_runs(
      runs, [&] { return tw_loop(records); },
      [&](const TwLoopResult& expected) {
        if (expected.windows == 0) fail("TW: the loop counted nothing");
      },
      [&](int parallelism, const TwLoopResult& expected) {
        return tw_sage(records, parallelism, expected);
      },
      [&](int r, const Round& t, const TwLoopResult& expected) {
        std::fprintf(stderr,
                     "  run %d: loop %.3f s (%.1f M rec/s), sage p1 %.3f s (%.1f M/s, %.2f cores "
                     "busy), sage p2 %.3f s (%.1f M/s, %.2f cores busy); %llu window results\n",
                     r + 1, t.loop_s, n / t.loop_s / 1e6, t.p1_s, n / t.p1_s / 1e6, t.p1_cores,
                     t.p2_s, n / t.p2_s / 1e6, t.p2_cores,
                     static_cast<unsigned long long>(expected.windows));
      });
  const double best = std::min(b.p1.seconds, b.p2.seconds);
  out.add("tw_sage_records_per_s", n / best, 0);
  out.add("tw_loop_records_per_s", n / b.loop.seconds, 0);
  out.add("tw_ratio", b.loop.seconds / best, 4);
  extra.add("tw_sage_p1_records_per_s", n / b.p1.seconds, 0);
  extra.add("tw_sage_p2_records_per_s", n / b.p2.seconds, 0);
  extra.add("tw_sage_p1_cores_busy", b.p1.cores, 2);
  extra.add("tw_sage_p2_cores_busy", b.p2.cores, 2);
  report_rss("TW");
}

}  // namespace sage::bench
