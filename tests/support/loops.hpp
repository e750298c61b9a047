#pragma once
/// @file loops.hpp
/// Feedback-loop jobs shared by the integration tests and cluster_check (the
/// same job on one process and on a cluster), with what they must produce,
/// computed without SAGE.

#include <cstdint>
#include <vector>

#include <sage/sage.hpp>

namespace sage::test {

/// A walk along the Collatz sequence from `start`: one step per trip around
/// the loop, until the value is 1 (at most a few hundred trips for the starts
/// the tests use, a different number for each).
struct Walk {
  int64_t start = 0;
  int64_t value = 0;
  int64_t steps = 0;
  friend bool operator==(const Walk&, const Walk&) = default;
  friend auto operator<=>(const Walk&, const Walk&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Walk& x) {
  return f(caf::meta::type_name("sage.test.walk"), x.start, x.value, x.steps);
}

inline Walk collatz_step(const Walk& w) {
  return Walk{w.start, w.value % 2 == 0 ? w.value / 2 : 3 * w.value + 1, w.steps + 1};
}

/// The finished walks of the starts 1..n, sorted: each at least one step.
inline std::vector<Walk> expected_walks(int64_t n) {
  std::vector<Walk> out;
  for (int64_t s = 1; s <= n; ++s) {
    Walk w{s, s, 0};
    do w = collatz_step(w);
    while (w.value != 1);
    out.push_back(w);
  }
  return out;
}

/// The walks of the starts 1..n go around a loop at parallelism `p` (records
/// come back to another instance than the one that sent them: the future's
/// output is rebalanced) until they reach 1; they leave it as they finish.
/// The loop's body is `union -> map -> filter` on each of its instances.
inline Collected<Walk> collatz_loop(Environment& env, int64_t n, int p) {
  std::vector<Walk> starts;
  for (int64_t s = 1; s <= n; ++s) starts.push_back(Walk{s, s, 0});
  auto walks = env.from_future<Walk>("walks").parallelism(p);
  auto stepped = env.from_batch(starts)
                     .parallelism(2)
                     .rebalance()
                     .union_with(walks.rebalance())
                     .parallelism(p)
                     .map(collatz_step)
                     .parallelism(p);
  stepped.filter([](const Walk& w) { return w.value != 1; }).parallelism(p).fill_future(walks);
  return stepped.filter([](const Walk& w) { return w.value == 1; }).parallelism(p).collect();
}

}  // namespace sage::test
