// Job lifecycle on a LocalEnvironment: sources (bounded and unbounded), stop,
// failures, invalid graphs, several jobs at once, partial batches leaving on an
// idle stream, and backpressure bounding what is in flight.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sage/sage.hpp>

using namespace std::chrono_literals;

namespace {

/// Counts down from `n`; a BatchFunction ends with nullopt.
class Countdown : public sage::BatchFunction<int> {
 public:
  explicit Countdown(int n) : n_(n) {}
  std::optional<int> execute() override {
    if (n_ == 0) return std::nullopt;
    return n_--;
  }

 private:
  int n_;
};

/// Emits nothing on most calls, a record on every third, and stops after `n` records.
class Sporadic : public sage::SourceFunction<int> {
 public:
  explicit Sporadic(int n) : n_(n) {}
  void execute(sage::SourceContext<int>& ctx) override {
    if (++calls_ % 3 != 0) return;  // nothing now: not the end
    ctx.emit(emitted_++);
    if (emitted_ == n_) ctx.stop();
  }

 private:
  int n_;
  int calls_ = 0;
  int emitted_ = 0;
};

/// Never ends by itself: emits increasing numbers, counting them.
class Endless : public sage::SourceFunction<int64_t> {
 public:
  explicit Endless(std::atomic<int64_t>* emitted) : emitted_(emitted) {}
  void execute(sage::SourceContext<int64_t>& ctx) override {
    for (int i = 0; i < 100; ++i) ctx.emit(next_++);
    emitted_->fetch_add(100);
  }

 private:
  std::atomic<int64_t>* emitted_;
  int64_t next_ = 0;
};

}  // namespace

TEST_CASE("from_collection ends at nullopt, from_source calls that emit nothing are not the end") {
  sage::LocalEnvironment env("sources");
  auto a = env.from_collection<Countdown>(1000).collect();
  auto b = env.from_source<Sporadic>(500).collect();
  env.submit(true);
  auto va = a.get();
  REQUIRE(va.size() == 1000);
  CHECK(va.front() == 1000);
  CHECK(va.back() == 1);
  auto vb = b.get();
  REQUIRE(vb.size() == 500);
  for (int i = 0; i < 500; ++i) CHECK(vb[i] == i);
}

TEST_CASE("stop() ends an unbounded job gracefully: every emitted record reaches the sink") {
  std::atomic<int64_t> emitted{0};
  std::atomic<int64_t> received{0};
  std::atomic<int> closes{0};
  struct CountingSink : sage::SinkFunction<int64_t> {
    CountingSink(std::atomic<int64_t>* r, std::atomic<int>* c) : received(r), closes(c) {}
    void execute(const int64_t&) override { received->fetch_add(1); }
    void close() override { closes->fetch_add(1); }
    std::atomic<int64_t>* received;
    std::atomic<int>* closes;
  };
  sage::LocalEnvironment env("unbounded");
  env.from_source<Endless>(&emitted)
      .map([](const int64_t& x) { return x * 2; })
      .parallelism(2)
      .sink<CountingSink>(&received, &closes)
      .parallelism(2);
  env.submit(false);
  while (received.load() < 100000) std::this_thread::sleep_for(1ms);
  CHECK(env.status().state == sage::JobState::running);
  env.stop();
  CHECK(env.status().state == sage::JobState::finished);
  CHECK(closes.load() == 2);
  CHECK(received.load() == emitted.load());
}

TEST_CASE("close() cancels a running job") {
  std::atomic<int64_t> emitted{0};
  sage::LocalEnvironment env("cancel");
  env.from_source<Endless>(&emitted).sink([](const int64_t&) {});
  env.submit(false);
  while (emitted.load() < 10000) std::this_thread::sleep_for(1ms);
  env.close();
  CHECK(env.status().state == sage::JobState::cancelled);
}

TEST_CASE("a throwing user function fails the job, naming operator, instance and message") {
  sage::LocalEnvironment env("throws");
  env.from_batch(std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8})
      .rebalance()
      .map([](const int& x) {
        if (x == 5) throw std::runtime_error("bad record 5");
        return x;
      })
      .name("parser")
      .parallelism(2)
      .sink([](const int&) {});
  try {
    env.submit(true);
    FAIL("submit(true) should have thrown JobFailed");
  } catch (const sage::JobFailed& e) {
    const std::string what = e.what();
    CHECK(what.find("\"parser\"") != std::string::npos);
    CHECK(what.find("instance 0") != std::string::npos);  // round-robin from 0: 5 is the 5th record
    CHECK(what.find("bad record 5") != std::string::npos);
  }
  const auto s = env.status();
  CHECK(s.state == sage::JobState::failed);
  CHECK(s.error.find("bad record 5") != std::string::npos);
}

TEST_CASE("failures in sources, sinks, open and constructors fail the job") {
  struct ThrowingOpen : sage::MapFunction<int, int> {
    void open(sage::RuntimeContext&) override { throw std::runtime_error("cannot open"); }
    int execute(const int& x) override { return x; }
  };
  struct ThrowingCtor : sage::SinkFunction<int> {
    ThrowingCtor() { throw std::runtime_error("cannot construct"); }
    void execute(const int&) override {}
  };
  struct ThrowingSource : sage::SourceFunction<int> {
    void execute(sage::SourceContext<int>&) override { throw std::logic_error("source broke"); }
  };
  {
    sage::LocalEnvironment env("open");
    env.from_batch({1}).map<ThrowingOpen>().name("opener").sink([](const int&) {});
    CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("cannot open"), sage::JobFailed);
    CHECK(env.status().error.find("opener") != std::string::npos);
  }
  {
    sage::LocalEnvironment env("ctor");
    env.from_batch({1}).sink<ThrowingCtor>().name("built");
    CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("cannot construct"), sage::JobFailed);
  }
  {
    sage::LocalEnvironment env("source");
    env.from_source<ThrowingSource>().name("gen").print();
    CHECK_THROWS_WITH_AS(env.submit(true),
                         doctest::Contains("\"gen\" instance 0 failed: source broke"),
                         sage::JobFailed);
  }
  {
    sage::LocalEnvironment env("sink");
    env.from_batch({1, 2, 3}).sink([](const int& x) {
      if (x == 3) throw 42;  // not even a std::exception
    });
    CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("unknown exception"), sage::JobFailed);
  }
}

TEST_CASE("an invalid graph is a clear error, never a hang") {
  sage::LocalEnvironment env("invalid");
  CHECK_THROWS_AS(env.submit(true), sage::GraphError);  // no operators
  auto s = env.from_batch({1, 2});
  CHECK_THROWS_WITH_AS(s.map([](const int& x) { return x; }).parallelism(0),
                       doctest::Contains("parallelism must be at least 1"), sage::GraphError);
  CHECK_THROWS_AS(s.parallelism(-3), sage::GraphError);
  auto named = s.map([](const int& x) { return x; }).name("twice");
  CHECK_THROWS_WITH_AS(s.filter([](const int&) { return true; }).name("twice"),
                       doctest::Contains("unique"), sage::GraphError);
  sage::Config bad;
  bad.set("parallelism", 0);
  sage::LocalEnvironment env2("bad-default", bad);
  env2.from_batch({1}).map([](const int& x) { return x; }).print();
  CHECK_THROWS_AS(env2.submit(true), sage::GraphError);
  sage::Config bad_batch;
  bad_batch.set("batch.size", "lots");
  sage::LocalEnvironment env3("bad-batch", bad_batch);
  env3.from_batch({1}).print();
  CHECK_THROWS_AS(env3.submit(true), std::invalid_argument);
}

TEST_CASE("several jobs run at once in one process") {
  std::atomic<int64_t> emitted{0};
  sage::LocalEnvironment endless("endless");
  endless.from_source<Endless>(&emitted).sink([](const int64_t&) {});
  endless.submit(false);
  // While the endless job runs, other jobs start and finish.
  for (int i = 0; i < 3; ++i) {
    sage::LocalEnvironment env("short-" + std::to_string(i));
    auto out = env.from_batch(std::vector<int>(1000, i)).collect();
    env.submit(true);
    CHECK(out.get().size() == 1000);
  }
  CHECK(endless.status().state == sage::JobState::running);
  endless.stop();
  CHECK(endless.status().state == sage::JobState::finished);
}

// A partly filled batch must leave while the stream is idle: here the source
// waits for the sink to see its first record before it ends the stream. If the
// batch waited to fill up, the sink would see it only after the source gave up.
TEST_CASE("a partly filled batch leaves while the stream is idle") {
  struct WaitForEcho : sage::SourceFunction<int> {
    explicit WaitForEcho(std::atomic<bool>* echoed) : echoed(echoed) {}
    void execute(sage::SourceContext<int>& ctx) override {
      if (!sent) {
        ctx.emit(1);
        sent = true;
        started = std::chrono::steady_clock::now();
        return;
      }
      if (echoed->load()) {
        seen_while_running = true;
        ctx.stop();
      } else if (std::chrono::steady_clock::now() - started > 60s) {
        ctx.stop();  // give up: the record never arrived while we ran
      }
    }
    void close() override { result->store(seen_while_running); }
    std::atomic<bool>* echoed;
    std::atomic<bool>* result = nullptr;
    bool sent = false;
    bool seen_while_running = false;
    std::chrono::steady_clock::time_point started;
  };
  struct Source : WaitForEcho {
    Source(std::atomic<bool>* e, std::atomic<bool>* r) : WaitForEcho(e) { result = r; }
  };
  for (int timeout_ms : {0, 10, 1000}) {
    CAPTURE(timeout_ms);
    std::atomic<bool> echoed{false};
    std::atomic<bool> seen_while_running{false};
    sage::Config cfg;
    cfg.set("buffer.timeout", timeout_ms);
    sage::LocalEnvironment env("idle-flush", cfg);
    env.from_source<Source>(&echoed, &seen_while_running)
        .rebalance()
        .map([](const int& x) { return x; })
        .parallelism(2)  // a network channel between source and map, and map and sink
        .rebalance()
        .sink([&echoed](const int&) { echoed.store(true); });
    env.submit(true);
    CHECK(seen_while_running.load());
  }
}

// A busy task never goes idle, so only `buffer.timeout` makes a rarely written
// channel ship its partial batch: the source floods one channel and writes a
// single record to the other, then waits for that record to be seen.
TEST_CASE("buffer.timeout ships a partly filled batch while the task is busy") {
  struct Flood : sage::SourceFunction<int64_t> {
    explicit Flood(std::atomic<bool>* seen) : seen(seen) {}
    void open(sage::RuntimeContext&) override { started = std::chrono::steady_clock::now(); }
    void execute(sage::SourceContext<int64_t>& ctx) override {
      if (next == 0) ctx.emit(-1);  // the rare record
      for (int i = 0; i < 256; ++i) ctx.emit(next++);
      if (seen->load()) {
        seen_while_running = true;
        ctx.stop();
      } else if (std::chrono::steady_clock::now() - started > 60s) {
        ctx.stop();
      }
    }
    void close() override { result->store(seen_while_running); }
    std::atomic<bool>* seen;
    std::atomic<bool>* result = nullptr;
    int64_t next = 0;
    bool seen_while_running = false;
    std::chrono::steady_clock::time_point started;
  };
  struct Source : Flood {
    Source(std::atomic<bool>* s, std::atomic<bool>* r) : Flood(s) { result = r; }
  };
  struct RareToOne {
    size_t partition(const int64_t& x, size_t) { return x < 0 ? 1 : 0; }
  };
  std::atomic<bool> seen{false};
  std::atomic<bool> seen_while_running{false};
  sage::Config cfg;
  cfg.set("buffer.timeout", 20).set("batch.size", 4096);
  sage::LocalEnvironment env("timer-flush", cfg);
  env.from_source<Source>(&seen, &seen_while_running)
      .partition_custom(RareToOne{})
      .sink([&seen](const int64_t& x) {
        if (x < 0) seen.store(true);
      })
      .parallelism(2);
  env.submit(true);
  CHECK(seen_while_running.load());
}

// Credit-based flow control: a fast source into a slow sink never has more
// than (credits + slack) batches in flight, however many records it produces.
TEST_CASE("backpressure bounds the records in flight between a fast source and a slow sink") {
  constexpr int64_t total = 3'000'000;
  constexpr int batch = 256;
  constexpr int credits = 4;
  struct Fast : sage::SourceFunction<int64_t> {
    Fast(std::atomic<int64_t>* consumed, std::atomic<int64_t>* max_in_flight)
        : consumed(consumed), max_in_flight(max_in_flight) {}
    void execute(sage::SourceContext<int64_t>& ctx) override {
      for (int i = 0; i < 64 && next < total; ++i) {
        ctx.emit(next++);
        const int64_t in_flight = next - consumed->load(std::memory_order_relaxed);
        if (in_flight > max_in_flight->load(std::memory_order_relaxed))
          max_in_flight->store(in_flight, std::memory_order_relaxed);
      }
      if (next == total) ctx.stop();
    }
    std::atomic<int64_t>* consumed;
    std::atomic<int64_t>* max_in_flight;
    int64_t next = 0;
  };
  std::atomic<int64_t> consumed{0};
  std::atomic<int64_t> max_in_flight{0};
  sage::Config cfg;
  cfg.set("batch.size", batch).set("channel.credits", credits);
  sage::LocalEnvironment env("backpressure", cfg);
  env.from_source<Fast>(&consumed, &max_in_flight)
      .map([](const int64_t& x) { return x + 1; })
      .rebalance()
      .sink([&consumed](const int64_t&) {
        // slow: ~ a microsecond per record
        auto until = std::chrono::steady_clock::now() + 1us;
        while (std::chrono::steady_clock::now() < until) {
        }
        consumed.fetch_add(1, std::memory_order_relaxed);
      });
  env.submit(true);
  CHECK(consumed.load() == total);
  // In flight at most: the credited batches (queued at or being consumed by
  // the sink), the batches of one source step (up to two) queued beyond the
  // last credit, and the partly filled batch.
  const int64_t bound = (credits + 3) * batch;
  INFO("max in flight: " << max_in_flight.load() << ", bound " << bound);
  CHECK(max_in_flight.load() <= bound);
  CHECK(max_in_flight.load() >= batch);  // the source did run ahead of the sink
}

// A finished job releases everything it held: the user's functions, the
// records of from_batch, the job's actors. (The runtime stays up meanwhile:
// another environment keeps it alive.)
TEST_CASE("a finished or failed job releases its functions and data") {
  sage::LocalEnvironment keeper("keeper");  // keeps the embedded runtime alive
  keeper.from_batch({1}).print();
  for (bool fail : {false, true}) {
    CAPTURE(fail);
    auto token = std::make_shared<int>(42);
    std::weak_ptr<int> watch = token;
    {
      sage::LocalEnvironment env("release");
      env.from_batch(std::vector<int>(10000, 1))
          .rebalance()
          .map([token, fail](const int& x) {
            if (fail && x == 1) throw std::runtime_error("boom");
            return x + *token;
          })
          .parallelism(3)
          .sink([token](const int&) {});
      token.reset();
      if (fail)
        CHECK_THROWS_AS(env.submit(true), sage::JobFailed);
      else
        env.submit(true);
    }
    // The actors have ended before submit returned; once the environment is
    // gone nothing may hold the job any more.
    for (int i = 0; i < 200 && !watch.expired(); ++i) std::this_thread::sleep_for(10ms);
    CHECK(watch.expired());
  }
}

// collect() read while the job runs: the buffer holds the collecting task back,
// so an endless source cannot run arbitrarily far ahead of the program.
TEST_CASE("collect() read during the job bounds what is buffered") {
  struct Counting : sage::SourceFunction<int64_t> {
    explicit Counting(std::atomic<int64_t>* emitted) : emitted(emitted) {}
    void execute(sage::SourceContext<int64_t>& ctx) override {
      for (int i = 0; i < 256; ++i) ctx.emit(n++);
      emitted->fetch_add(256);
    }
    std::atomic<int64_t>* emitted;
    int64_t n = 0;
  };
  std::atomic<int64_t> emitted{0};
  sage::LocalEnvironment env("bounded-collect");
  auto out = env.from_source<Counting>(&emitted)
                 .rebalance()
                 .map([](const int64_t& x) { return x; })
                 .collect();
  env.submit(false);
  int64_t read = 0;
  int64_t max_ahead = 0;
  bool in_order = true;
  // Until the program first reads, nothing says it will read during the job, so the
  // buffer is unbounded (a program may read after the end): what the source emitted
  // by then is a backlog, read first. The bound holds from there on.
  int64_t backlog = -1;
  while (backlog < 0 || read < backlog + 300000) {
    auto x = out.next(std::chrono::seconds(30));
    REQUIRE(x.has_value());
    if (backlog < 0) backlog = emitted.load();
    in_order = in_order && *x == read;
    ++read;
    if (read % 1000 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // a slow reader
      if (read > backlog) max_ahead = std::max(max_ahead, emitted.load() - read);
    }
  }
  env.close();
  CHECK(in_order);
  // Buffered at most: the limit, a batch per collecting instance past it, and the
  // channel's flow-control window with the source's last step.
  const int64_t bound =
      static_cast<int64_t>(sage::detail::CollectBuffer<int64_t>::limit) + 3 * 4096 + 11 * 4096;
  INFO("the source ran " << max_ahead << " records ahead of the reader; bound " << bound);
  CHECK(max_ahead <= bound);
  CHECK(max_ahead > 0);
}
