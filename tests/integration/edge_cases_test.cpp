// Edge cases of the API and the runtime: slow sources, keys outside records,
// changes to a stream after submit, unusual record and callable types,
// exceptions that are not std::exception, Collected misuse.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <sage/sage.hpp>

using namespace std::chrono_literals;

TEST_CASE("a source that blocks in every call still ships its records in time") {
  // Each call blocks ~1 ms and emits one record. A step of the default 4096
  // records would take seconds; the step's time budget ends it after ~1 ms, so
  // the first record reaches the sink long before the 4096th call.
  struct Blocking : sage::SourceFunction<int> {
    Blocking(std::atomic<int>* calls, std::atomic<int>* calls_at_first)
        : calls(calls), first(calls_at_first) {}
    void execute(sage::SourceContext<int>& ctx) override {
      std::this_thread::sleep_for(1ms);
      ctx.emit(calls->fetch_add(1));
      if (first->load() >= 0 || calls->load() >= 5000) ctx.stop();
    }
    std::atomic<int>* calls;
    std::atomic<int>* first;
  };
  std::atomic<int> calls{0};
  std::atomic<int> calls_at_first{-1};
  sage::LocalEnvironment env("blocking-source");
  env.from_source<Blocking>(&calls, &calls_at_first).rebalance().sink([&](const int&) {
    int expected = -1;
    calls_at_first.compare_exchange_strong(expected, calls.load());
  });
  env.submit(true);
  INFO("calls when the first record arrived: " << calls_at_first.load());
  CHECK(calls_at_first.load() >= 0);
  CHECK(calls_at_first.load() < 2000);
}

TEST_CASE("ctx().key outside the processing of a record is a clear error") {
  struct KeyInClose : sage::SinkFunction<int> {
    void execute(const int& x) override { CHECK(ctx().key<int>() == x % 3); }
    void close() override { (void)ctx().key<int>(); }
  };
  sage::LocalEnvironment env("key-in-close");
  env.from_batch({1, 2, 3, 4})
      .key_by([](const int& x) { return x % 3; })
      .sink<KeyInClose>()
      .name("k");
  CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("only while a record is processed"),
                       sage::JobFailed);
}

TEST_CASE("changing the streams after submit does not touch the running job") {
  std::atomic<int64_t> seen{0};
  struct Endless : sage::SourceFunction<int64_t> {
    void execute(sage::SourceContext<int64_t>& ctx) override {
      for (int i = 0; i < 64; ++i) ctx.emit(n++);
    }
    int64_t n = 0;
  };
  sage::LocalEnvironment env("mutate");
  auto src = env.from_source<Endless>();
  auto mapped = src.map([](const int64_t& x) { return x + 1; }).name("inc");
  mapped.sink([&seen](const int64_t&) { seen.fetch_add(1); });
  env.submit(false);
  // While the job starts and runs: a new branch and a new name.
  mapped.filter([](const int64_t&) { return true; }).print();
  mapped.name("renamed");
  while (seen.load() < 10000) std::this_thread::sleep_for(1ms);
  env.stop();
  const auto s = env.status();
  CHECK(s.state == sage::JobState::finished);
  REQUIRE(s.operators.size() == 3);  // the job's own graph: no filter, no print
  CHECK(s.operators[1].name == "inc");
}

TEST_CASE("records of type bool, and from_batch of string literals") {
  sage::LocalEnvironment env("bools");
  auto flags = env.from_batch({1, 2, 3, 4})
                   .map([](const int& x) { return x > 2; })
                   .rebalance()
                   .map([](const bool& b) { return !b; });
  auto collected = flags.parallelism(2).collect();
  auto words =
      env.from_batch({"a", "bc"}).map([](const std::string& s) { return s.size(); }).collect();
  env.submit(true);
  auto v = collected.get();
  CHECK(std::count(v.begin(), v.end(), true) == 2);
  CHECK(std::count(v.begin(), v.end(), false) == 2);
  CHECK(words.get() == std::vector<size_t>{1, 2});
}

TEST_CASE("noexcept flatmaps, mutable key selectors and function objects") {
  struct Doubler {
    int operator()(const int& x) const { return 2 * x; }
  };
  sage::LocalEnvironment env("callables");
  auto out = env.from_batch({1, 2, 3, 4, 5, 6})
                 .flatmap([](const int& x, sage::Collector<int>& c) noexcept { c.collect(x); })
                 .map(Doubler{})
                 // a stateful selector: each writer has its own copy
                 .key_by([calls = 0](const int& x) mutable {
                   ++calls;
                   return x % 4;
                 })
                 .map([](const int& x) { return x; })
                 .parallelism(2)
                 .collect();
  env.submit(true);
  auto v = out.get();
  std::sort(v.begin(), v.end());
  CHECK(v == std::vector<int>{2, 4, 6, 8, 10, 12});
}

TEST_CASE("an exception that is not a std::exception names its operator") {
  struct ThrowsInt : sage::MapFunction<int, int> {
    ThrowsInt() { throw 7; }
    int execute(const int& x) override { return x; }
  };
  sage::LocalEnvironment env("throw-int");
  env.from_batch({1}).map<ThrowsInt>().name("odd-ctor").print();
  CHECK_THROWS_WITH_AS(env.submit(true),
                       doctest::Contains("\"odd-ctor\" instance 0 failed: construction failed"),
                       sage::JobFailed);
}

TEST_CASE("Collected: get before submit and after a cancel are errors") {
  struct Endless : sage::SourceFunction<int> {
    void execute(sage::SourceContext<int>& ctx) override { ctx.emit(1); }
  };
  sage::LocalEnvironment env("collected-misuse");
  auto out = env.from_source<Endless>().collect();
  CHECK_THROWS_AS(out.get(), std::logic_error);
  env.submit(false);
  CHECK(out.next(30s).has_value());
  env.close();
  CHECK(env.status().state == sage::JobState::cancelled);
  CHECK_THROWS_WITH_AS(out.get(), doctest::Contains("cancelled"), sage::JobFailed);
}
