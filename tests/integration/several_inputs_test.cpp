// Several inputs end to end on a LocalEnvironment (API.md section 3.1):
// union_with, connect with comap/coflatmap (callables and classes, 2 to 5
// inputs, inputs of one type kept apart), keyed connect with shared keyed
// state, join<F>, window_join and interval_join against a brute force at
// parallelism 1 and 3, inputs of very different lengths and speeds.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

#include "window_oracle.hpp"

using sage::test::Event;
using sage::test::JoinPair;
using namespace std::chrono_literals;

namespace {

int key_of(const Event& e) { return e.key; }
int64_t ts_of(const Event& e) { return e.ts; }

std::vector<int> range(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

/// A source that emits `n` numbers from `first`, slowly (one per `pause`).
class SlowNumbers : public sage::SourceFunction<int> {
 public:
  SlowNumbers(int first, int n, int pause_us) : next_(first), end_(first + n), pause_(pause_us) {}
  void execute(sage::SourceContext<int>& ctx) override {
    if (next_ == end_) {
      ctx.stop();
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(pause_));
    ctx.emit(next_++);
  }

 private:
  int next_, end_, pause_;
};

struct Describe : sage::CoMapFunction<std::string, int, std::string, double> {
  std::string map0(const int& x) override { return "int " + std::to_string(x); }
  std::string map1(const std::string& x) override { return "string " + x; }
  std::string map2(const double& x) override { return "double " + std::to_string(int(x)); }
};

struct Repeat : sage::CoFlatMapFunction<int, int, int> {
  void flatmap0(const int& x, sage::Collector<int>& out) override { out.collect(x); }
  void flatmap1(const int& x, sage::Collector<int>& out) override {
    out.collect(x);
    out.collect(x);
  }
};

/// Counts the records of each key over both inputs in one keyed state, and
/// emits (key, input, count so far).
struct SharedCount : sage::CoMapFunction<std::tuple<int, int, int64_t>, Event, Event> {
  std::tuple<int, int, int64_t> map0(const Event& e) override { return bump(e, 0); }
  std::tuple<int, int, int64_t> map1(const Event& e) override { return bump(e, 1); }
  std::tuple<int, int, int64_t> bump(const Event& e, int input) {
    auto& count = ctx().value_state<int64_t>("count");
    const int64_t n = count.value().value_or(0) + 1;
    count.update(n);
    CHECK(ctx().key<int>() == e.key);
    return {e.key, input, n};
  }
};

/// Orders (key, amount) joined with payments (key, paid) of the same key,
/// whichever comes first: the first side waits in keyed state.
struct OrderPayment : sage::JoinFunction<int, Event, Event, JoinPair> {
  void left(const int& key, const Event& order, sage::Collector<JoinPair>& out) override {
    CHECK(key == order.key);
    if (auto p = ctx().value_state<Event>("payment").value())
      out.collect(sage::test::join_pair(order, *p));
    else
      ctx().value_state<Event>("order").update(order);
  }
  void right(const int& key, const Event& payment, sage::Collector<JoinPair>& out) override {
    CHECK(key == payment.key);
    if (auto o = ctx().value_state<Event>("order").value())
      out.collect(sage::test::join_pair(*o, payment));
    else
      ctx().value_state<Event>("payment").update(payment);
  }
};

sage::Config small_batches() {
  sage::Config cfg;
  cfg.set("watermark.interval", 1);
  cfg.set("batch.size", 64);
  return cfg;
}

/// Runs two event streams through assign_timestamps -> key_by -> `join` at parallelism `p`.
template <class Make>
std::vector<JoinPair> run_join(const std::vector<Event>& left, const std::vector<Event>& right,
                               int p, Make&& make) {
  sage::LocalEnvironment env("join", small_batches());
  auto l = env.from_batch(left)
               .parallelism(2)
               .assign_timestamps(ts_of, sage::bounded_out_of_order(50ms))
               .key_by(key_of);
  auto r = env.from_batch(right)
               .parallelism(3)
               .assign_timestamps(ts_of, sage::bounded_out_of_order(50ms))
               .key_by(key_of);
  auto out = make(l, r).parallelism(p).collect();
  env.submit(true);
  auto got = out.get();
  std::sort(got.begin(), got.end());
  for (const auto& op : env.status().operators)
    if (op.name == "window_join" || op.name == "interval_join") CHECK(op.records_late_dropped == 0);
  return got;
}

}  // namespace

TEST_CASE("several inputs: union_with merges every record of every input, of any length") {
  sage::LocalEnvironment env("union");
  auto a = env.from_batch(range(0, 10000)).parallelism(2);
  auto b = env.from_source<SlowNumbers>(100000, 50, 200);  // slow and short
  auto c = env.from_batch(range(200000, 200003));
  auto all = a.union_with(b, c.map([](const int& x) { return x; }).parallelism(3))
                 .map([](const int& x) { return x; })
                 .parallelism(2)
                 .collect();
  env.submit(true);
  auto got = all.get();
  std::sort(got.begin(), got.end());
  auto want = range(0, 10000);
  for (int x : range(100000, 100050)) want.push_back(x);
  for (int x : range(200000, 200003)) want.push_back(x);
  CHECK(got == want);
}

TEST_CASE("several inputs: union_with of keyed streams keeps each key on one instance") {
  sage::LocalEnvironment env("union-keyed");
  auto a = env.from_batch(range(0, 3000)).key_by([](const int& x) { return x % 7; });
  auto b = env.from_batch(range(3000, 5000)).key_by([](const int& x) { return x % 7; });
  struct Where : sage::MapFunction<int, std::pair<int, int>> {
    std::pair<int, int> execute(const int& x) override { return {x % 7, ctx().index()}; }
  };
  auto out = a.union_with(b).parallelism(3).map<Where>().collect();
  env.submit(true);
  std::map<int, std::set<int>> instances;
  for (auto [key, inst] : out.get()) instances[key].insert(inst);
  CHECK(instances.size() == 7);
  for (const auto& [key, where] : instances) CHECK(where.size() == 1);
}

TEST_CASE("several inputs: comap and coflatmap with callables, two inputs of one type apart") {
  sage::LocalEnvironment env("comap");
  auto a = env.from_batch(range(0, 1000)).parallelism(2);
  auto b = env.from_batch(range(0, 500));
  auto tagged = a.connect(b)
                    .comap([](const int& x) { return std::make_pair(0, x); },
                           [](const int& x) { return std::make_pair(1, x); })
                    .parallelism(3)
                    .collect();
  auto doubled = a.connect(b)
                     .coflatmap([](const int& x, sage::Collector<int>& out) { out.collect(x); },
                                [](const int& x, sage::Collector<int>& out) {
                                  out.collect(-x - 1);
                                  out.collect(-x - 1);
                                })
                     .collect();
  env.submit(true);
  std::map<int, std::vector<int>> by_input;
  for (auto [input, x] : tagged.get()) by_input[input].push_back(x);
  std::sort(by_input[0].begin(), by_input[0].end());
  std::sort(by_input[1].begin(), by_input[1].end());
  CHECK(by_input[0] == range(0, 1000));
  CHECK(by_input[1] == range(0, 500));
  auto d = doubled.get();
  CHECK(std::count_if(d.begin(), d.end(), [](int x) { return x >= 0; }) == 1000);
  CHECK(std::count_if(d.begin(), d.end(), [](int x) { return x < 0; }) == 1000);
}

TEST_CASE("several inputs: CoMapFunction over three types and CoFlatMapFunction classes") {
  sage::LocalEnvironment env("comap-class");
  auto ints = env.from_batch({1, 2});
  auto strings = env.from_batch(std::vector<std::string>{"x"});
  auto doubles = env.from_batch({7.0});
  auto described = ints.connect(strings, doubles).comap<Describe>().collect();
  auto repeated = ints.connect(ints).coflatmap<Repeat>().collect();
  env.submit(true);
  auto got = described.get();
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"double 7", "int 1", "int 2", "string x"});
  auto r = repeated.get();
  std::sort(r.begin(), r.end());
  CHECK(r == std::vector<int>{1, 1, 1, 2, 2, 2});
}

TEST_CASE("several inputs: five inputs end only when every one has ended") {
  sage::LocalEnvironment env("five");
  auto s0 = env.from_batch(range(0, 100));
  auto s1 = env.from_source<SlowNumbers>(1000, 20, 2000);  // the last to end, by far
  auto s2 = env.from_batch(range(2000, 2001));
  auto s3 = env.from_batch(range(3000, 3500)).parallelism(2);
  auto s4 = env.from_batch(std::vector<int>{});
  auto id = [](const int& x) { return x; };
  auto out = s0.connect(s1, s2, s3, s4).comap(id, id, id, id, id).parallelism(2).collect();
  env.submit(true);
  auto got = out.get();
  std::sort(got.begin(), got.end());
  auto want = range(0, 100);
  for (int x : range(1000, 1020)) want.push_back(x);
  want.push_back(2000);
  for (int x : range(3000, 3500)) want.push_back(x);
  CHECK(got == want);
}

TEST_CASE("several inputs: a keyed connect shares keyed state per key, 1000 keys on 3 instances") {
  const auto left = sage::test::random_events(6000, 1000, 1, 0, 3);
  const auto right = sage::test::random_events(4000, 1000, 1, 0, 4);
  sage::LocalEnvironment env("keyed-connect");
  auto l = env.from_batch(left).parallelism(2).key_by(key_of);
  auto r = env.from_batch(right).key_by(key_of);
  auto out = l.connect(r).comap<SharedCount>().parallelism(3).collect();
  env.submit(true);
  std::map<int, std::vector<int64_t>> counts;
  std::map<int, int64_t> expected;
  for (const auto& e : left) ++expected[e.key];
  for (const auto& e : right) ++expected[e.key];
  for (auto [key, input, n] : out.get()) counts[key].push_back(n);
  CHECK(counts.size() == expected.size());
  for (auto& [key, ns] : counts) {
    // One count per record of the key, on either input: 1, 2, ..., n.
    std::sort(ns.begin(), ns.end());
    std::vector<int64_t> want;
    for (int64_t i = 1; i <= expected[key]; ++i) want.push_back(i);
    CHECK(ns == want);
  }
}

TEST_CASE("several inputs: join<F> pairs every order with its payment, whichever comes first") {
  std::vector<Event> orders, payments;
  for (int k = 0; k < 2000; ++k) {
    orders.push_back(Event{k, k, 10 * k});
    payments.push_back(Event{(k * 7919) % 2000, k, k});
  }
  for (int p : {1, 3}) {
    CAPTURE(p);
    sage::LocalEnvironment env("join-class");
    auto o = env.from_batch(orders).parallelism(2).key_by(key_of);
    auto pay = env.from_batch(payments).parallelism(3).key_by(key_of);
    auto out = o.connect(pay).join<OrderPayment>().parallelism(p).collect();
    env.submit(true);
    auto got = out.get();
    std::sort(got.begin(), got.end());
    std::vector<JoinPair> want;
    for (const auto& x : orders)
      for (const auto& y : payments)
        if (x.key == y.key) want.push_back(sage::test::join_pair(x, y));
    std::sort(want.begin(), want.end());
    CHECK(got == want);
  }
}

TEST_CASE("several inputs: window_join matches the brute force for every window kind") {
  const auto left = sage::test::random_events(3000, 20, 2, 40, 11);
  const auto right = sage::test::random_events(2000, 20, 3, 40, 12);
  auto pair = [](const Event& l, const Event& r) { return sage::test::join_pair(l, r); };
  for (int p : {1, 3}) {
    CAPTURE(p);
    CHECK(run_join(left, right, p, [&](auto& l, auto& r) {
            return l.window_join(r, sage::tumbling(100ms), pair);
          }) == sage::test::expected_window_join(left, right, 100, 100));
    CHECK(run_join(left, right, p, [&](auto& l, auto& r) {
            return l.window_join(r, sage::sliding(200ms, 50ms), pair);
          }) == sage::test::expected_window_join(left, right, 200, 50));
    CHECK(run_join(left, right, p, [&](auto& l, auto& r) {
            return l.window_join(r, sage::session(30ms), pair);
          }) == sage::test::expected_session_join(left, right, 30));
  }
}

TEST_CASE("several inputs: interval_join matches the brute force, negative bounds too") {
  const auto left = sage::test::random_events(3000, 30, 2, 40, 21);
  const auto right = sage::test::random_events(3000, 30, 2, 40, 22);
  auto pair = [](const Event& l, const Event& r) { return sage::test::join_pair(l, r); };
  for (int p : {1, 3}) {
    CAPTURE(p);
    CHECK(run_join(left, right, p, [&](auto& l, auto& r) {
            return l.interval_join(r, -20ms, 30ms, pair);
          }) == sage::test::expected_interval_join(left, right, -20, 30));
    CHECK(run_join(left, right, p, [&](auto& l, auto& r) {
            return l.interval_join(r, std::chrono::seconds(-1), -100ms, pair);
          }) == sage::test::expected_interval_join(left, right, -1000, -100));
  }
}

TEST_CASE("several inputs: records behind the watermark are late for interval_join, and counted") {
  // The left record (ts 0) arrives and its input ends; the right side then
  // runs to ts 5000 and, once its watermark has had time to pass, sends ten
  // records of ts 0..9 that would match the left one: late, counted, not joined.
  struct LateRight : sage::SourceFunction<Event> {
    void execute(sage::SourceContext<Event>& ctx) override {
      if (sent_ < 200) {
        ctx.emit(Event{1, 5000 + sent_, sent_});
        ++sent_;
        return;
      }
      if (sent_ == 200) {
        done_ = std::chrono::steady_clock::now();
        ++sent_;
      }
      if (std::chrono::steady_clock::now() - done_ < 300ms) {  // time for watermarks to travel
        std::this_thread::sleep_for(1ms);
        return;  // nothing now: the task sends its periodic watermark
      }
      for (int i = 0; i < 10; ++i) ctx.emit(Event{1, i, 1000 + i});
      ctx.stop();
    }
    int sent_ = 0;
    std::chrono::steady_clock::time_point done_;
  };
  sage::LocalEnvironment env("late-join", small_batches());
  auto l = env.from_batch(std::vector<Event>{{1, 0, 1}})
               .assign_timestamps(ts_of, sage::monotonous())
               .key_by(key_of);
  auto r = env.from_source<LateRight>()
               .assign_timestamps(ts_of, sage::bounded_out_of_order(50ms))
               .key_by(key_of);
  auto out = l.interval_join(r, 0ms, 10ms, [](const Event& a, const Event& b) {
                return sage::test::join_pair(a, b);
              }).collect();
  env.submit(true);
  CHECK(out.get().empty());
  for (const auto& op : env.status().operators)
    if (op.name == "interval_join") {
      CHECK(op.records_in == 211);
      CHECK(op.records_late_dropped == 10);
    }
}

TEST_CASE("several inputs: joins refuse bounds and inputs that cannot work") {
  sage::LocalEnvironment env("join-errors");
  auto timed = env.from_batch(std::vector<Event>{})
                   .assign_timestamps(ts_of, sage::monotonous())
                   .key_by(key_of);
  auto untimed = env.from_batch(std::vector<Event>{}).key_by(key_of);
  auto pair = [](const Event& l, const Event& r) { return sage::test::join_pair(l, r); };
  CHECK_THROWS_AS(timed.interval_join(timed, 10ms, 5ms, pair), sage::GraphError);
  CHECK_THROWS_AS(untimed.interval_join(untimed, 0ms, 5ms, pair), sage::GraphError);
  CHECK_THROWS_AS(timed.window_join(untimed, sage::tumbling(10ms), pair), sage::GraphError);
  CHECK_THROWS_AS(timed.window_join(timed, sage::tumbling(0ms), pair), sage::GraphError);
}
