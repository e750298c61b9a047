// A feedback loop: the hops from vertex 0 to every vertex of a graph, found by
// relaxing distances around a loop until nothing improves (a breadth-first
// search without supersteps). Each trip around the loop:
//   - `relax`, keyed by vertex, keeps the vertex's best distance in keyed state
//     and passes a visit on only if it improves it;
//   - `expand` sends the improved vertex's neighbours, one hop further, back
//     into the loop through the future "frontier".
// The job ends by itself once no visit is left anywhere in the loop: SAGE
// detects it (docs/streams.md), no timeout. The result is checked against a
// plain breadth-first search.
//
// Usage: sage-feedback-loop [--vertices N] [--parallelism P] [--address HOST:PORT]

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <vector>

#include <sage/sage.hpp>

#include "environment_from_args.hpp"

namespace {

struct Visit {
  int64_t vertex = 0;
  int64_t hops = 0;
};
template <class Inspector>
auto inspect(Inspector& f, Visit& v) {
  return f(v.vertex, v.hops);
}

/// Three edges out of every vertex, made up from its number (the graph is
/// computed where it is needed, not shipped).
std::vector<int64_t> neighbours(int64_t v, int64_t n) {
  auto mix = [](uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  const auto u = static_cast<uint64_t>(v);
  return {static_cast<int64_t>((u + 1) % static_cast<uint64_t>(n)),
          static_cast<int64_t>(mix(u) % static_cast<uint64_t>(n)),
          static_cast<int64_t>(mix(u + 0x9e3779b97f4a7c15ULL) % static_cast<uint64_t>(n))};
}

/// Per vertex (keyed state): the best distance so far; a visit that does not
/// improve it goes no further.
struct Relax : sage::FlatMapFunction<Visit, Visit> {
  void execute(const Visit& v, sage::Collector<Visit>& out) override {
    auto& best = ctx().value_state<int64_t>("best");
    if (auto b = best.value(); b && *b <= v.hops) return;
    best.update(v.hops);
    out.collect(v);
  }
};

std::vector<int64_t> breadth_first(int64_t n) {
  std::vector<int64_t> hops(static_cast<size_t>(n), -1);
  std::deque<int64_t> queue{0};
  hops[0] = 0;
  while (!queue.empty()) {
    const auto v = queue.front();
    queue.pop_front();
    for (auto w : neighbours(v, n))
      if (hops[w] < 0) {
        hops[w] = hops[v] + 1;
        queue.push_back(w);
      }
  }
  return hops;
}

int run(int argc, char** argv) {
  sage::Config config;
  config.merge_args(argc, argv);
  const int64_t n = config.get_int("vertices", 100'000);
  const int p = static_cast<int>(config.get_int("parallelism", 2));
  auto environment = sage_examples::environment_from_args("feedback-loop", config);
  auto& env = *environment;

  auto frontier = env.from_future<Visit>("frontier");
  auto improved = env.from_batch({Visit{0, 0}})
                      .union_with(frontier)
                      .key_by([](const Visit& v) { return v.vertex; })
                      .flatmap<Relax>()
                      .name("relax")
                      .parallelism(p);
  improved
      .flatmap([n](const Visit& v, sage::Collector<Visit>& out) {
        for (auto w : neighbours(v.vertex, n)) out.collect(Visit{w, v.hops + 1});
      })
      .name("expand")
      .parallelism(p)
      .fill_future(frontier);
  auto reached = improved.collect();
  env.submit(/*autostop=*/true);

  std::map<int64_t, int64_t> best;
  size_t improvements = 0;
  for (const auto& v : reached.get()) {
    auto [it, fresh] = best.emplace(v.vertex, v.hops);
    if (!fresh) it->second = std::min(it->second, v.hops);
    ++improvements;
  }
  const auto expected = breadth_first(n);
  int64_t reachable = 0, farthest = 0;
  bool agrees = true;
  for (int64_t v = 0; v < n; ++v) {
    if (expected[v] < 0) {
      agrees = agrees && !best.contains(v);
      continue;
    }
    ++reachable;
    farthest = std::max(farthest, expected[v]);
    agrees = agrees && best.contains(v) && best[v] == expected[v];
  }
  std::printf(
      "%lld vertices: %lld reached from vertex 0 within %lld hops (%zu improvements around the "
      "loop); %s\n",
      static_cast<long long>(n), static_cast<long long>(reachable),
      static_cast<long long>(farthest), improvements,
      agrees ? "a breadth-first search agrees" : "a breadth-first search DISAGREES");
  return agrees ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sage-feedback-loop: %s\n", e.what());
    return 1;
  }
}
