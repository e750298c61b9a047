// Event time and windows end to end on a LocalEnvironment (API.md section 3.2):
// every window kind against a brute force over random out-of-order input, at
// window parallelism 1 and 3; processing-time windows; late records; idle
// inputs with and without `with_idleness`; KeyedProcessFunction timers and side
// outputs; the watermark in status().

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sage/sage.hpp>

#include "window_oracle.hpp"

using sage::test::CountSum;
using sage::test::CountSumNoMerge;
using sage::test::Event;
using sage::test::WindowResult;
using namespace std::chrono_literals;

namespace {

int key_of(const Event& e) { return e.key; }
int64_t ts_of(const Event& e) { return e.ts; }

/// Runs `events` through assign_timestamps -> key_by -> `window` at parallelism `p`.
template <class Make>
std::vector<WindowResult> run_windows(const std::vector<Event>& events, int source_p, int p,
                                      Make&& make) {
  sage::Config cfg;
  cfg.set("watermark.interval", 1);
  cfg.set("batch.size", 64);  // many batches: watermarks come between them
  sage::LocalEnvironment env("windows", cfg);
  auto keyed = env.from_batch(events)
                   .parallelism(source_p)
                   .assign_timestamps(ts_of, sage::bounded_out_of_order(50ms))
                   .key_by(key_of);
  auto out = make(keyed).parallelism(p).collect();
  env.submit(true);
  auto got = out.get();
  std::sort(got.begin(), got.end());
  // Nothing was late: the disorder stays within the bound.
  for (const auto& op : env.status().operators)
    if (op.name == "window") CHECK(op.records_late_dropped == 0);
  return got;
}

}  // namespace

TEST_CASE("windows: tumbling, sliding, session and count windows match the brute force") {
  const auto events = sage::test::random_events(20000, 40, 1, 40, 7);
  for (int p : {1, 3}) {
    CAPTURE(p);
    CHECK(run_windows(events, 2, p, [](auto& k) {
            return k.window(sage::tumbling(100ms)).aggregate(CountSum{});
          }) == sage::test::expected_time_windows(events, 100, 100));
    CHECK(run_windows(events, 2, p, [](auto& k) {
            return k.window(sage::sliding(std::chrono::seconds(1), 250ms)).aggregate(CountSum{});
          }) == sage::test::expected_time_windows(events, 1000, 250));
    CHECK(run_windows(events, 2, p, [](auto& k) {
            return k.window(sage::session(60ms)).aggregate(CountSum{});
          }) == sage::test::expected_sessions(events, 60));
    // One source instance: each key's records reach its window in input order.
    CHECK(run_windows(events, 1, p, [](auto& k) {
            return k.count_window(50, 20).aggregate(CountSum{});
          }) == sage::test::expected_count_windows(events, 50, 20));
    CHECK(run_windows(events, 1, p, [](auto& k) {
            return k.count_window(30).aggregate(CountSum{});
          }) == sage::test::expected_count_windows(events, 30, 30));
  }
}

TEST_CASE("windows: an aggregate without merge works on sessions and every other window") {
  const auto events = sage::test::random_events(5000, 10, 2, 30, 9);
  CHECK(run_windows(events, 2, 2, [](auto& k) {
          return k.window(sage::session(9ms)).aggregate(CountSumNoMerge{});
        }) == sage::test::expected_sessions(events, 9));
  CHECK(run_windows(events, 2, 2, [](auto& k) {
          return k.window(sage::sliding(100ms, 50ms)).aggregate(CountSumNoMerge{});
        }) == sage::test::expected_time_windows(events, 100, 50));
}

TEST_CASE("windows: reduce and process give the same windows as aggregate") {
  const auto events = sage::test::random_events(5000, 10, 2, 30, 3);
  auto expected = sage::test::expected_time_windows(events, 200, 200);
  // reduce: the sum of values per key and window (the key and count are not kept).
  auto reduced = run_windows(events, 2, 3, [](auto& k) {
    return k.window(sage::tumbling(200ms))
        .reduce([](const Event& a, const Event& b) {
          return Event{a.key, a.ts, a.value + b.value};
        })
        .map([](const Event& e) {
          return WindowResult{e.key, 0, 0, 0, e.value};
        });
  });
  std::vector<WindowResult> sums;
  for (const auto& [k, s, e, n, v] : expected) sums.emplace_back(k, 0, 0, 0, v);
  std::sort(sums.begin(), sums.end());
  CHECK(reduced == sums);
  auto processed = run_windows(events, 2, 3, [](auto& k) {
    return k.window(sage::tumbling(200ms))
        .process([](const int& key, const sage::Window& w, const std::vector<Event>& all,
                    sage::Collector<WindowResult>& out) {
          int64_t sum = 0;
          for (const auto& e : all) sum += e.value;
          out.collect({key, w.start, w.end, static_cast<int64_t>(all.size()), sum});
        });
  });
  CHECK(processed == expected);
}

TEST_CASE("windows: a negative or zero size, slide or gap is a GraphError") {
  sage::LocalEnvironment env("bad-windows");
  auto keyed = env.from_batch(std::vector<Event>{}).key_by(key_of);
  CHECK_THROWS_AS(keyed.window(sage::tumbling(0ms)), sage::GraphError);
  CHECK_THROWS_AS(keyed.window(sage::tumbling(-5ms)), sage::GraphError);
  CHECK_THROWS_AS(keyed.window(sage::sliding(100ms, 0ms)), sage::GraphError);
  CHECK_THROWS_AS(keyed.window(sage::session(0ms)), sage::GraphError);
  CHECK_THROWS_AS(keyed.count_window(0), sage::GraphError);
  CHECK_THROWS_AS(keyed.count_window(5, 0), sage::GraphError);
}

TEST_CASE("windows: processing-time windows count every record once, in aligned windows") {
  sage::LocalEnvironment env("processing-time");
  std::vector<Event> events;
  for (int i = 0; i < 30000; ++i) events.push_back(Event{i % 5, 0, 1});
  auto out = env.from_batch(events)
                 .key_by(key_of)
                 .window(sage::tumbling(20ms))
                 .aggregate(CountSum{})
                 .parallelism(2)
                 .collect();
  env.submit(true);
  std::map<int, int64_t> per_key;
  for (const auto& [key, start, end, count, sum] : out.get()) {
    CHECK(end - start == 20);
    CHECK(start % 20 == 0);
    per_key[key] += count;
  }
  CHECK(per_key == std::map<int, int64_t>{{0, 6000}, {1, 6000}, {2, 6000}, {3, 6000}, {4, 6000}});
}

namespace {

std::atomic<bool> window_seen{false};
std::atomic<bool> stop_sources{false};

/// Instance 0 emits `Event`s at times 0..99 and one at 2000, then either a
/// late one once a window has fired (`late_record`), or records at 2000 every
/// few ms, so that it is never idle; instance 1 (if any) emits nothing until told to stop.
class PhasedSource : public sage::SourceFunction<Event> {
 public:
  explicit PhasedSource(bool late_record) : late_record_(late_record) {}
  void execute(sage::SourceContext<Event>& out) override {
    if (stop_sources) {
      out.stop();
      return;
    }
    if (ctx().index() != 0) {
      std::this_thread::sleep_for(1ms);
      return;
    }
    if (step_ == 0) {
      for (int i = 0; i < 100; ++i) out.emit(Event{i % 2, i, 1});
      out.emit(Event{0, 2000, 1});  // moves the watermark past the first windows
      step_ = 1;
    } else if (!late_record_) {
      // Keeps instance 0 active (never idle), inside the window [2000, 2100).
      std::this_thread::sleep_for(5ms);
      out.emit(Event{0, 2000, 0});
    } else if (step_ == 1 && window_seen) {
      out.emit(Event{1, 5, 100});  // far behind the watermark now
      step_ = 2;
      stop_sources = true;
    } else {
      std::this_thread::sleep_for(1ms);
    }
  }

 private:
  bool late_record_;
  int step_ = 0;
};

}  // namespace

TEST_CASE("windows: a late record goes to the side output, tagged, never lost") {
  window_seen = false;
  stop_sources = false;
  sage::Config cfg;
  cfg.set("watermark.interval", 5);
  sage::LocalEnvironment env("late", cfg);
  sage::OutputTag<Event> late("late");
  auto windows = env.from_source<PhasedSource>(true)
                     .assign_timestamps(ts_of, sage::monotonous())
                     .key_by(key_of)
                     .window(sage::tumbling(100ms))
                     .side_output_late(late)
                     .aggregate(CountSum{});
  auto results = windows.map([](const WindowResult& r) {
    window_seen = true;
    return r;
  });
  auto main_out = results.collect();
  auto late_out = windows.side_output(late).collect();
  env.submit(true);
  auto got = main_out.get();
  std::sort(got.begin(), got.end());
  CHECK(got ==
        std::vector<WindowResult>{{0, 0, 100, 50, 50}, {0, 2000, 2100, 1, 1}, {1, 0, 100, 50, 50}});
  CHECK(late_out.get() == std::vector<Event>{{1, 5, 100}});
}

TEST_CASE("windows: an idle input holds windows back unless with_idleness marks it idle") {
  for (bool idleness : {true, false}) {
    CAPTURE(idleness);
    window_seen = false;
    stop_sources = false;
    sage::Config cfg;
    cfg.set("watermark.interval", 5);
    sage::LocalEnvironment env("idle", cfg);
    auto strategy = sage::monotonous();
    if (idleness) strategy = strategy.with_idleness(50ms);
    auto out = env.from_source<PhasedSource>(false)
                   .parallelism(2)
                   .assign_timestamps(ts_of, strategy)
                   .key_by(key_of)
                   .window(sage::tumbling(100ms))
                   .aggregate(CountSum{})
                   .collect();
    env.submit();
    // With idleness the silent instance stops holding time back: windows fire
    // while the job runs. Without, nothing fires within a generous wait.
    auto first = out.next(idleness ? 30s : 1500ms);
    CHECK(first.has_value() == idleness);
    if (!idleness) {
      bool held = false;
      for (const auto& op : env.status().operators)
        if (op.name == "window") held = op.watermark_held_by == "timestamps_1";
      CHECK(held);
    }
    stop_sources = true;
    env.wait();
    auto rest = out.get();
    CHECK(rest.size() + (first ? 1 : 0) == 3);  // every window fired by the end
  }
}

namespace {

/// Per key: counts records; an event-time timer 1 s after each record's time
/// emits the count so far; every record above 50 also goes to a side output.
class CountWithTimeout : public sage::KeyedProcessFunction<int, Event, std::string> {
 public:
  inline static const sage::OutputTag<int64_t> big{"big"};
  void process(const Event& e, sage::Collector<std::string>& out) override {
    auto& n = ctx().value_state<int64_t>("n");
    n.update(n.value().value_or(0) + 1);
    ctx().timers().at_event_time(e.ts + 1000);
    if (e.value > 50) ctx().output(big, e.value);
    (void)out;
  }
  void on_timer(int64_t ts, sage::Collector<std::string>& out) override {
    out.collect(std::to_string(ctx().key<int>()) + "@" + std::to_string(ts) + "=" +
                std::to_string(ctx().value_state<int64_t>("n").value().value_or(-1)));
  }
};

}  // namespace

TEST_CASE("windows: KeyedProcessFunction timers fire once per key and time, with side outputs") {
  std::vector<Event> events;
  for (int i = 0; i < 300; ++i) events.push_back(Event{i % 3, (i / 3) * 10, i % 100});
  sage::LocalEnvironment env("process");
  auto processed = env.from_batch(events)
                       .assign_timestamps(ts_of, sage::monotonous())
                       .key_by(key_of)
                       .process<CountWithTimeout>()
                       .parallelism(2);
  auto out = processed.collect();
  auto big = processed.side_output(CountWithTimeout::big).collect();
  env.submit(true);
  auto fired = out.get();
  CHECK(fired.size() == 300);  // one timer per record's time: (i / 3) * 10 + 1000 per key
  std::map<int, int> per_key;
  for (const auto& s : fired) per_key[s[0] - '0']++;
  CHECK(per_key == std::map<int, int>{{0, 100}, {1, 100}, {2, 100}});
  // The last timers fire at the end of the stream with every record counted.
  CHECK(std::count(fired.begin(), fired.end(), "0@1990=100") == 1);
  auto bigs = big.get();
  CHECK(bigs.size() ==
        static_cast<size_t>(std::count_if(events.begin(), events.end(),
                                          [](const Event& e) { return e.value > 50; })));
  for (const auto& op : env.status().operators)
    if (op.name == "process") CHECK(op.watermark == sage::detail::max_watermark);
}
