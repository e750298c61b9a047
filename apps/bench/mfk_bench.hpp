#pragma once
// MFK: 20 M records {key, value} over 10 k keys -> map -> filter (keeps half) ->
// key_by(key) -> count per key -> checksum sink, in SAGE and as a hand-written loop.
// Its records and job front are shared with the remote, cluster and memory runs.

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "bench_common.hpp"

#include <sage/sage.hpp>

namespace sage::bench {

constexpr uint64_t kMfkKeys = 10'000;

struct Rec {
  uint64_t key;
  uint64_t value;
};

/// Rec's codec, for the remote run (records cross a node as Cap'n Proto batches).
template <class Inspector>
auto inspect(Inspector& f, Rec& x) {
  return f(caf::meta::type_name("Rec"), x.key, x.value);
}

struct KeyCount {
  uint64_t key;
  uint64_t count;
};

/// Record i of the MFK input: a pseudo-random key in [0, 10 k), value i.
inline Rec mfk_record(uint64_t i) { return Rec{mix64(i) % kMfkKeys, i}; }
/// The map: value * 3 + 1.
inline Rec mfk_map(const Rec& r) { return Rec{r.key, r.value * 3 + 1}; }
/// The filter: keeps even mapped values, i.e. odd i: exactly half of the records.
inline bool mfk_keep(const Rec& r) { return (r.value & 1) == 0; }
/// The sink's checksum of one (key, running count): the sum over a run does not
/// depend on the order of the keys, only on the counts.
inline uint64_t mfk_check(const KeyCount& kc) { return (kc.key + 1) * kc.count; }

using MfkCounts = std::unordered_map<uint64_t, uint64_t>;

struct MfkLoopResult {
  MfkCounts counts;
  uint64_t checksum = 0;
  uint64_t records = 0;
};

/// The hand-written loop: generate, map, filter, count per key, checksum.
MfkLoopResult mfk_loop(uint64_t n);

/// The source: generates the records (no 320 MB input vector).
class MfkSource : public sage::BatchFunction<Rec> {
 public:
  explicit MfkSource(uint64_t n) : n_(n) {}
  std::optional<Rec> execute() override {
    if (i_ == n_) return std::nullopt;
    return mfk_record(i_++);
  }

 private:
  uint64_t n_;
  uint64_t i_ = 0;
};

/// The front of MFK in `env`: `gen -> map -> filter`, keyed by the record's key.
inline auto mfk_keyed(sage::Environment& env, uint64_t n) {
  return env.from_collection<MfkSource>(n)
      .name("gen")
      .map([](const Rec& r) { return mfk_map(r); })
      .name("map")
      .filter([](const Rec& r) { return mfk_keep(r); })
      .name("filter")
      .key_by([](const Rec& r) { return r.key; });
}

/// One SAGE run of MFK; returns seconds from submit to the end of the job. Ends
/// the benchmark when its counts or checksum differ from `expected`.
double mfk_sage(uint64_t n, int count_parallelism, const MfkLoopResult& expected,
                sage::Config config = job_config());

/// MFK in this process, best of `runs`: the loop, and SAGE with the count (and
/// sink) at parallelism 1 and 2. Adds mfk_* pairs to `out` and `extra`.
void mfk_local_figures(uint64_t n, int runs, Output& out, Output& extra);

}  // namespace sage::bench
