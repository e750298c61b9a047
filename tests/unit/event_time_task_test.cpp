// Event time inside one task, driven deterministically through the task
// harness: markers travel after the batches before them, watermarks are the
// minimum over active channels, timestamps travel with records (also encoded),
// windows fire exactly when the watermark passes them, late records go to the
// side output or are counted, timers fire once per key and time.

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <sage/sage.hpp>

#include "task_harness.hpp"
#include "window_oracle.hpp"

using sage::test::CountSum;
using sage::test::Event;
using sage::test::TaskHarness;
using sage::test::WindowResult;
using namespace std::chrono_literals;

namespace {

int key_of(const Event& e) { return e.key; }

using Results = std::shared_ptr<std::vector<WindowResult>>;

/// from_batch -> key_by -> window(assigner) -> sink into `out`; the harness runs the window's task.
std::unique_ptr<TaskHarness> window_task(const Results& out, sage::WindowAssigner assigner,
                                         int64_t lateness_ms = 0, bool late_side = false,
                                         std::shared_ptr<std::vector<Event>> late = nullptr) {
  sage::LocalEnvironment env("window-task");
  auto windows = env.from_batch(std::vector<Event>{})
                     .assign_timestamps([](const Event& e) { return e.ts; }, sage::monotonous())
                     .key_by(key_of)
                     .window(assigner)
                     .allowed_lateness(std::chrono::milliseconds(lateness_ms));
  sage::OutputTag<Event> tag("late");
  if (late_side) windows.side_output_late(tag);
  auto result = windows.aggregate(CountSum{});
  result.sink([out](const WindowResult& r) { out->push_back(r); });
  if (late_side) result.side_output(tag).sink([late](const Event& e) { late->push_back(e); });
  return TaskHarness::of(env, "window");
}

/// Feeds `events` (3 ms apart, at most 40 ms out of order) in batches of 500,
/// each followed by a watermark that trails them by the disorder bound, then ends.
void feed_in_pieces(TaskHarness& h, const std::vector<Event>& events) {
  for (size_t i = 0; i < events.size(); i += 500) {
    const size_t end = std::min(events.size(), i + 500);
    std::vector<Event> piece(events.begin() + static_cast<std::ptrdiff_t>(i),
                             events.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<int64_t> stamps;
    for (const auto& e : piece) stamps.push_back(e.ts);
    h.push_timed<Event>(0, std::move(piece), std::move(stamps));
    h.watermark(0, static_cast<int64_t>(end) * 3 - 41);
  }
  h.end(0);
}

}  // namespace

TEST_CASE("event time: a tumbling window fires when the watermark passes its end, not before") {
  auto out = std::make_shared<std::vector<WindowResult>>();
  auto h = window_task(out, sage::tumbling(1000ms));
  h->push_timed<Event>(0, {{1, 10, 5}, {2, 999, 7}, {1, 1000, 1}}, {10, 999, 1000});
  h->watermark(0, 998);
  CHECK(out->empty());
  h->watermark(0, 999);  // no record <= 999 follows: [0, 1000) is complete
  std::sort(out->begin(), out->end());
  CHECK(*out == std::vector<WindowResult>{{1, 0, 1000, 1, 5}, {2, 0, 1000, 1, 7}});
  out->clear();
  h->end(0);  // end of stream: the maximal watermark fires the rest
  CHECK(*out == std::vector<WindowResult>{{1, 1000, 2000, 1, 1}});
}

TEST_CASE("event time: late records update a fired window within the lateness, else go aside") {
  auto out = std::make_shared<std::vector<WindowResult>>();
  auto late = std::make_shared<std::vector<Event>>();
  auto h = window_task(out, sage::tumbling(1000ms), 500, true, late);
  h->push_timed<Event>(0, {{1, 100, 1}}, {100});
  h->watermark(0, 1200);
  CHECK(*out == std::vector<WindowResult>{{1, 0, 1000, 1, 1}});
  h->push_timed<Event>(0, {{1, 200, 2}}, {200});  // 200 + lateness 500 still counts at 1200
  CHECK(out->back() == WindowResult{1, 0, 1000, 2, 3});
  CHECK(late->empty());
  h->watermark(0, 1499);  // 999 + 500: the window is gone
  h->push_timed<Event>(0, {{1, 300, 4}}, {300});
  CHECK(out->size() == 2);
  CHECK(*late == std::vector<Event>{{1, 300, 4}});
}

TEST_CASE("event time: records later than the lateness without a side output are counted") {
  auto out = std::make_shared<std::vector<WindowResult>>();
  auto h = window_task(out, sage::tumbling(1000ms));
  h->watermark(0, 5000);
  h->push_timed<Event>(0, {{1, 100, 1}, {1, 5001, 1}, {1, 4999, 1}}, {100, 5001, 4999});
  h->end(0);
  CHECK(*out == std::vector<WindowResult>{{1, 5000, 6000, 1, 1}});
  h->body().publish_counters();
  const auto status = h->job().handle->snapshot();
  bool found = false;
  for (const auto& op : status.operators)
    if (op.name == "window") {
      found = true;
      CHECK(op.records_late_dropped == 2);
      CHECK(op.watermark == sage::detail::max_watermark);
    }
  CHECK(found);
}

TEST_CASE("event time: sliding and session windows match the brute force") {
  const auto events = sage::test::random_events(3000, 7, 3, 40, 11);
  SUBCASE("sliding") {
    auto out = std::make_shared<std::vector<WindowResult>>();
    auto h = window_task(out, sage::sliding(300ms, 100ms));
    // In pieces, with watermarks between that trail the records by the disorder bound.
    feed_in_pieces(*h, events);
    std::sort(out->begin(), out->end());
    CHECK(*out == sage::test::expected_time_windows(events, 300, 100));
  }
  SUBCASE("session") {
    auto out = std::make_shared<std::vector<WindowResult>>();
    auto h = window_task(out, sage::session(25ms));
    feed_in_pieces(*h, events);
    std::sort(out->begin(), out->end());
    CHECK(*out == sage::test::expected_sessions(events, 25));
  }
}

TEST_CASE("event time: markers leave after the records before them, watermarks only rising") {
  sage::LocalEnvironment env("markers");
  env.from_batch(std::vector<int>{})
      .rebalance()
      .map([](const int& x) { return x + 1; })
      .rebalance()
      .map([](const int& x) { return x; })
      .parallelism(2)
      .sink([](const int&) {});
  sage::Config cfg;
  cfg.set("batch.size", 100);
  auto h = TaskHarness::of(env, "map", cfg);
  h->push<int>(0, {1, 2, 3});  // partly filled batches wait in the writer
  h->watermark(0, 10);
  h->watermark(0, 5);  // lower: ignored
  h->mark(0, sage::detail::Marker{sage::detail::Marker::Kind::idle, 0});
  h->mark(0, sage::detail::Marker{sage::detail::Marker::Kind::active, 0});
  h->watermark(0, 20);
  // Round robin from instance 0: 2 and 4 to channel 0, 3 to channel 1; each
  // channel's partial batch goes out before the watermark.
  CHECK(h->sequence(0) == std::vector<std::string>{"b2", "w10", "idle", "active", "w20"});
  CHECK(h->sequence(1) == std::vector<std::string>{"b1", "w10", "idle", "active", "w20"});
  CHECK(h->shipped<int>(0) == std::vector<int>{2, 4});
}

TEST_CASE("event time: a task's watermark is the minimum over its active input channels") {
  sage::LocalEnvironment env("valve");
  env.from_batch(std::vector<int>{})
      .parallelism(3)
      .rebalance()
      .map([](const int& x) { return x; })
      .parallelism(1)
      .rebalance()
      .sink([](const int&) {});
  auto h = TaskHarness::of(env, "map");
  REQUIRE(h->body().input_count() == 3);
  h->watermark(0, 100);
  h->watermark(1, 50);
  CHECK(h->markers(0).empty());  // channel 2 has said nothing yet
  h->watermark(2, 70);
  REQUIRE(h->markers(0).size() == 1);
  CHECK(h->markers(0)[0].value == 50);
  h->mark(1, sage::detail::Marker{sage::detail::Marker::Kind::idle, 0});
  CHECK(h->markers(0).back().value == 70);  // channel 1 idle: it holds nobody back
  h->end(2);                                // an ended channel is at the maximal watermark
  CHECK(h->markers(0).back().value == 100);
}

TEST_CASE(
    "event time: the assigner stamps records, chained maps keep the stamp, ticks make watermarks") {
  sage::LocalEnvironment env("stamps");
  std::vector<Event> events;
  for (int i = 0; i < 100; ++i) events.push_back(Event{i % 3, i * 10, i});
  env.from_batch(events)
      .assign_timestamps([](const Event& e) { return e.ts; }, sage::bounded_out_of_order(10ms))
      .map([](const Event& e) { return e.value; })
      .rebalance()
      .map([](const int64_t& v) { return v; })
      .parallelism(2)
      .sink([](const int64_t&) {});
  auto h = TaskHarness::of(env, "from_batch");  // from_batch -> timestamps -> map, chained
  h->step(50);
  h->flush();
  h->tick();  // the periodic watermark: highest timestamp 490, minus 10, minus 1
  for (uint32_t slot : {0U, 1U}) {
    const auto values = h->shipped<int64_t>(slot);
    const auto stamps = h->shipped_timestamps<int64_t>(slot);
    REQUIRE(values.size() == 25);
    REQUIRE(stamps.size() == values.size());
    for (size_t i = 0; i < values.size(); ++i) CHECK(stamps[i] == values[i] * 10);
    REQUIRE(h->markers(slot).size() == 1);
    CHECK(h->markers(slot)[0].value == 479);
  }
  h->run_source();  // the end: the maximal watermark
  CHECK(h->markers(0).back().value == sage::detail::max_watermark);
}

TEST_CASE("event time: an encoded batch keeps its timestamps, a wrong count is refused") {
  using namespace sage::detail;
  Batch<int> batch(std::vector<int>{1, 2, 3}, std::vector<int64_t>{-5, 0, 1LL << 40});
  EncodedBatch encoded(batch.encode());
  const auto view = encoded.view();
  CHECK(decode_batch<int>(view) == std::vector<int>{1, 2, 3});
  CHECK(view.timestamps == std::vector<int64_t>{-5, 0, 1LL << 40});
  EncodedBatch plain(Batch<int>(std::vector<int>{1}).encode());
  CHECK(plain.view().timestamps.empty());
  EncodedBatch lying(frame_batch(record_type_id<int>(), 1, std::vector<uint8_t>(4, 0), {1, 2}));
  CHECK_THROWS_AS(decode_batch<int>(lying), sage::DecodeError);
}

TEST_CASE("event time: a count window fires when full, a partial one does not") {
  sage::LocalEnvironment env("count");
  auto out = std::make_shared<std::vector<WindowResult>>();
  env.from_batch(std::vector<Event>{})
      .key_by(key_of)
      .count_window(3, 2)
      .aggregate(CountSum{})
      .sink([out](const WindowResult& r) { out->push_back(r); });
  auto h = TaskHarness::of(env, "window");
  std::vector<Event> events;
  for (int i = 0; i < 7; ++i) events.push_back(Event{1, 0, i + 1});
  h->push<Event>(0, events);
  h->end(0);
  // As Flink's countWindow(3, 2): every 2nd record, the last 3 (fewer at first):
  // after the 2nd {1, 2}, the 4th {2, 3, 4}, the 6th {4, 5, 6}; the 7th waits for ever.
  CHECK(*out == std::vector<WindowResult>{{1, 0, 2, 2, 3}, {1, 1, 4, 3, 9}, {1, 3, 6, 3, 15}});
}

TEST_CASE("event time: timers fire once per key and time, with the key current") {
  struct Timers : sage::KeyedProcessFunction<int, Event, std::string> {
    void process(const Event& e, sage::Collector<std::string>& out) override {
      ctx().timers().at_event_time(e.ts + 100);
      ctx().timers().at_event_time(e.ts + 100);  // the same timer: once
      auto& n = ctx().value_state<int64_t>("n");
      n.update(n.value().value_or(0) + 1);
      out.collect("rec " + std::to_string(ctx().key<int>()));
    }
    void on_timer(int64_t ts, sage::Collector<std::string>& out) override {
      out.collect("timer " + std::to_string(ctx().key<int>()) + " at " + std::to_string(ts) +
                  " n " + std::to_string(ctx().value_state<int64_t>("n").value().value_or(0)) +
                  " wm " + std::to_string(ctx().current_watermark()));
    }
  };
  sage::LocalEnvironment env("timers");
  auto out = std::make_shared<std::vector<std::string>>();
  env.from_batch(std::vector<Event>{})
      .assign_timestamps([](const Event& e) { return e.ts; }, sage::monotonous())
      .key_by(key_of)
      .process<Timers>()
      .sink([out](const std::string& s) { out->push_back(s); });
  auto h = TaskHarness::of(env, "process");
  h->push_timed<Event>(0, {{1, 0, 0}, {2, 50, 0}, {1, 10, 0}}, {0, 50, 10});
  h->watermark(0, 99);
  CHECK(out->size() == 3);
  h->watermark(0, 110);
  CHECK(*out == std::vector<std::string>{"rec 1", "rec 2", "rec 1", "timer 1 at 100 n 2 wm 110",
                                         "timer 1 at 110 n 2 wm 110"});
  h->end(0);
  CHECK(out->back() == "timer 2 at 150 n 1 wm " + std::to_string(sage::detail::max_watermark));
}
