// Feedback loops end to end on a LocalEnvironment (API.md section 3.1,
// docs/streams.md): from_future / fill_future, a job that ends by itself once
// its sources have ended and nothing is left in the loop, at any parallelism,
// under backpressure, with keyed state and event time inside; GraphErrors for
// a future never filled or filled twice.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

#include "loops.hpp"

using namespace std::chrono_literals;
using sage::test::Walk;

namespace {

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

/// A node of a binary tree: each trip around the loop splits it in two.
struct Branch {
  int root = 0;
  int depth = 0;
  int64_t path = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Branch& x) {
  return f(caf::meta::type_name("test.branch"), x.root, x.depth, x.path);
}

/// An unbounded source of 0, 1, 2, ... until the job is stopped.
struct Numbers : sage::SourceFunction<int> {
  void execute(sage::SourceContext<int>& ctx) override {
    std::this_thread::sleep_for(100us);
    ctx.emit(n++);
  }
  int n = 0;
};

/// Counts, in keyed state, the trips of each key around the loop.
struct CountTrips : sage::MapFunction<int, std::pair<int, int>> {
  std::pair<int, int> execute(const int& k) override {
    auto& trips = ctx().value_state<int>("trips");
    const int n = trips.value().value_or(0) + 1;
    trips.update(n);
    return {k, n};
  }
};

using Trip = std::pair<int, int64_t>;  // (trips left, event time)
std::atomic<int64_t> highest_watermark{std::numeric_limits<int64_t>::min()};

/// Notes the highest watermark seen by a record that came around the loop.
struct NoteWatermark : sage::MapFunction<Trip, Trip> {
  Trip execute(const Trip& e) override {
    const int64_t w = ctx().current_watermark();
    if (e.first < 50 && w > highest_watermark.load()) highest_watermark = w;
    return e;
  }
};

}  // namespace

TEST_CASE("loops: a counter runs to 10 and the job ends by itself") {
  sage::LocalEnvironment env("counter");
  auto counter = env.from_future<int>("counter");
  auto next = env.from_batch({0}).union_with(counter).map([](const int& x) { return x + 1; });
  next.filter([](const int& x) { return x < 10; }).fill_future(counter);
  auto values = next.collect();
  env.submit(true);  // returns: the loop ended without a timeout
  CHECK(values.get() == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const auto status = env.status();
  CHECK(status.state == sage::JobState::finished);
  const auto op = std::find_if(status.operators.begin(), status.operators.end(),
                               [](const auto& o) { return o.name == "counter"; });
  REQUIRE(op != status.operators.end());  // the future is an operator named after it
  CHECK(op->records_in == 9);
}

TEST_CASE("loops: walks of different lengths at parallelism 1, 2 and 3 inside the loop") {
  for (int p : {1, 2, 3}) {
    CAPTURE(p);
    sage::LocalEnvironment env("collatz");
    env.config().set("batch.size", 64);
    auto done = sage::test::collatz_loop(env, 3000, p);
    env.submit(true);
    CHECK(sorted(done.get()) == sage::test::expected_walks(3000));
  }
}

TEST_CASE("loops: a loop that multiplies its records, with little credit and a slow sink") {
  // Every trip doubles the records: the feedback channel takes what the
  // bounded channels cannot, and nothing deadlocks or is lost.
  sage::LocalEnvironment env("tree");
  env.config().set("batch.size", 4).set("channel.credits", 2).set("parallelism", 2);
  constexpr int roots = 6, depth = 10;
  std::vector<Branch> seeds;
  for (int r = 0; r < roots; ++r) seeds.push_back(Branch{r, 0, 0});
  auto tree = env.from_future<Branch>("tree");
  auto grown = env.from_batch(seeds)
                   .union_with(tree.rebalance())
                   .flatmap([](const Branch& b, sage::Collector<Branch>& out) {
                     out.collect(Branch{b.root, b.depth + 1, b.path * 2});
                     out.collect(Branch{b.root, b.depth + 1, b.path * 2 + 1});
                   });
  grown.filter([](const Branch& b) { return b.depth < depth; }).fill_future(tree);
  std::atomic<int64_t> leaves{0};
  std::mutex m;
  std::map<int, std::vector<int64_t>> paths;
  grown.filter([](const Branch& b) { return b.depth == depth; })
      .rebalance()
      .sink([&](const Branch& b) {
        std::this_thread::sleep_for(std::chrono::microseconds(leaves++ % 64 == 0 ? 200 : 0));
        std::lock_guard lock(m);
        paths[b.root].push_back(b.path);
      })
      .parallelism(1);
  env.submit(true);
  // 2^depth leaves per root, every path once.
  CHECK(leaves.load() == roots * (int64_t{1} << depth));
  std::vector<int64_t> all(size_t{1} << depth);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  for (int r = 0; r < roots; ++r) CHECK(sorted(paths[r]) == all);
}

TEST_CASE("loops: keyed state inside the loop, shared by every trip of a key") {
  // Each key's record goes around until its count, kept in keyed state by the
  // loop's keyed map, reaches the key: the state sees every trip of its key.
  sage::LocalEnvironment env("keyed-loop");
  env.config().set("parallelism", 3);
  std::vector<int> keys;
  for (int k = 1; k <= 200; ++k) keys.push_back(k);
  auto again = env.from_future<int>("again");
  auto counted = env.from_batch(keys)
                     .union_with(again)
                     .key_by([](const int& k) { return k; })
                     .map<CountTrips>();
  counted.filter([](const std::pair<int, int>& kn) { return kn.second < kn.first; })
      .map([](const std::pair<int, int>& kn) { return kn.first; })
      .fill_future(again);
  auto finals =
      counted.filter([](const std::pair<int, int>& kn) { return kn.second == kn.first; }).collect();
  env.submit(true);
  std::vector<std::pair<int, int>> expected;
  for (int k = 1; k <= 200; ++k) expected.emplace_back(k, k);
  CHECK(sorted(finals.get()) == expected);
}

TEST_CASE("loops: event time inside a loop follows the inputs from outside") {
  // The watermark inside the loop advances while records still go around: the
  // feedback edge does not hold it back (it would until the loop had ended).
  sage::LocalEnvironment env("timed-loop");
  env.config().set("watermark.interval", 5);
  std::vector<Trip> events;
  for (int i = 0; i < 1000; ++i) events.emplace_back(50 + i % 3, i);
  highest_watermark = std::numeric_limits<int64_t>::min();
  auto back = env.from_future<Trip>("back");
  auto body = env.from_batch(events)
                  .assign_timestamps([](const Trip& e) { return e.second; },
                                     sage::bounded_out_of_order(10ms))
                  .union_with(back)
                  .map<NoteWatermark>();
  body.filter([](const Trip& e) { return e.first > 0; })
      .map([](const Trip& e) {
        return Trip{e.first - 1, e.second};
      })
      .fill_future(back);
  auto out = body.filter([](const Trip& e) { return e.first == 0; }).collect();
  env.submit(true);
  CHECK(out.get().size() == 1000);  // every record ends its trips
  CHECK(highest_watermark.load() >= 999 - 10);
}

TEST_CASE("loops: stop() ends a loop fed by an unbounded source") {
  sage::LocalEnvironment env("endless-loop");
  auto back = env.from_future<int>("back");
  auto body = env.from_source<Numbers>().union_with(back).map([](const int& x) { return x; });
  std::atomic<int64_t> out{0};
  body.filter([](const int& x) { return x % 2 == 1; })
      .map([](const int& x) { return x - 1; })
      .fill_future(back);
  body.filter([](const int& x) { return x % 2 == 0; }).sink([&](const int&) { ++out; });
  env.submit(false);
  while (out.load() < 200) std::this_thread::sleep_for(1ms);
  env.stop();
  CHECK(env.status().state == sage::JobState::finished);
}

TEST_CASE("loops: two loops in one job, each ending on its own") {
  sage::LocalEnvironment env("two-loops");
  auto a = env.from_future<int>("a");
  auto b = env.from_future<int>("b");
  auto src = env.from_batch({0, 100});
  auto ia = src.union_with(a).map([](const int& x) { return x + 1; });
  ia.filter([](const int& x) { return x % 100 < 5; }).fill_future(a);
  auto ib =
      ia.filter([](const int& x) { return x % 100 == 5; }).union_with(b).map([](const int& x) {
        return x + 10;
      });
  ib.filter([](const int& x) { return x % 100 < 50; }).fill_future(b);
  auto out = ib.filter([](const int& x) { return x % 100 >= 50; }).collect();
  env.submit(true);
  CHECK(sorted(out.get()) == std::vector<int>{55, 155});
}

TEST_CASE("loops: a future never filled, or filled twice, is a GraphError naming it") {
  {
    sage::LocalEnvironment env("unfilled");
    auto f = env.from_future<int>("pending-work");
    env.from_batch({1}).union_with(f).print();
    CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("'pending-work' is never filled"),
                         sage::GraphError);
  }
  {
    sage::LocalEnvironment env("twice");
    auto f = env.from_future<int>("retries");
    auto s = env.from_batch({1}).union_with(f);
    s.filter([](const int&) { return false; }).fill_future(f);
    CHECK_THROWS_WITH_AS(s.fill_future(f), doctest::Contains("'retries' is filled twice"),
                         sage::GraphError);
  }
  {
    sage::LocalEnvironment env("not-a-future");
    auto s = env.from_batch({1});
    auto m = s.map([](const int& x) { return x; });
    CHECK_THROWS_WITH_AS(m.fill_future(s), doctest::Contains("not a future"), sage::GraphError);
  }
  {
    sage::LocalEnvironment env("names");
    env.from_future<int>("x");
    CHECK_THROWS_AS(env.from_future<int>("x"), sage::GraphError);  // names are unique
  }
}
