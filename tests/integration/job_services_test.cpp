// Services deployed with jobs, through the public API only (API.md section 6):
// register_service with parallelism, calls from function classes (ctx()), from
// lambdas (sage::call_service), from driver code (env.call_service) and from
// inside other services; the name visible to other jobs and refused twice;
// errors at the caller; lifecycle with autostop and stop(); a job of only
// services; an instance whose open() throws, restarted and counted.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sage/sage.hpp>

using namespace std::chrono_literals;

namespace {

sage::Config two_threads() {
  sage::Config cfg;
  cfg.set("scheduler.threads", "2");
  return cfg;
}

/// Squares a number after a short pause; remembers which instances served and
/// how many served at once.
struct Squarer : sage::Service {
  struct Seen {
    std::mutex mutex;
    std::set<int> instances;
    std::atomic<int> busy{0};
    std::atomic<int> most_busy{0};
    std::atomic<int> opened{0};
    std::atomic<int> closed{0};
    std::atomic<int> calls_after_close{0};
  };
  explicit Squarer(Seen* seen) : seen(seen) {}
  void open(sage::RuntimeContext& c) override {
    index = c.index();
    ++seen->opened;
  }
  void close() override { ++seen->closed; }
  int64_t process(int64_t x) {
    if (seen->closed.load() > 0) ++seen->calls_after_close;
    const int now = ++seen->busy;
    int most = seen->most_busy.load();
    while (now > most && !seen->most_busy.compare_exchange_weak(most, now)) {
    }
    {
      std::lock_guard<std::mutex> guard(seen->mutex);
      seen->instances.insert(index);
    }
    std::this_thread::sleep_for(1ms);
    --seen->busy;
    return x * x;
  }
  int64_t cube(int64_t x) const { return x * x * x; }
  std::string fail(const std::string& why) { throw std::runtime_error(why); }
  static void methods(sage::Methods<Squarer>& m) {
    m.add("cube", &Squarer::cube).add("fail", &Squarer::fail);
  }
  Seen* seen;
  int index = -1;
};

/// A function class that calls the service synchronously.
struct SquareViaService : sage::MapFunction<int64_t, int64_t> {
  int64_t execute(const int64_t& x) override { return ctx().call_service<int64_t>("squarer", x); }
};

/// A service that calls another one from its method.
struct SumOfSquares : sage::Service {
  int64_t process(int64_t a, int64_t b) {
    return ctx().call_service<int64_t>("squarer", a) +
           ctx().call_service<int64_t>("squarer", sage::method("process"), b);
  }
};

}  // namespace

TEST_CASE("services: synchronous calls from 8 operator instances on 2 scheduler threads") {
  Squarer::Seen seen;
  auto cfg = two_threads();
  cfg.set("batch.size", "4");  // records reach all 8 callers at once
  sage::LocalEnvironment env("svc-sync", cfg);
  env.register_service<Squarer>("squarer", &seen).parallelism(4);
  std::vector<int64_t> in(1000);
  for (int64_t i = 0; i < 1000; ++i) in[i] = i;
  auto out = env.from_batch(in).rebalance().map<SquareViaService>().parallelism(8).collect();
  env.submit(true);
  auto got = out.get();
  std::sort(got.begin(), got.end());
  REQUIRE(got.size() == 1000);
  for (int64_t i = 0; i < 1000; ++i) CHECK(got[i] == i * i);
  CHECK(seen.instances == std::set<int>{0, 1, 2, 3});
  CHECK(seen.most_busy.load() >= 2);  // served concurrently
  CHECK(seen.opened.load() == 4);
  CHECK(seen.closed.load() == 4);  // stopped with the job, after the last call
  CHECK(seen.calls_after_close.load() == 0);
  const auto status = env.status();
  REQUIRE(status.services.size() == 1);
  CHECK(status.services[0].name == "squarer");
  CHECK(status.services[0].parallelism == 4);
  CHECK(status.services[0].calls == 1000);
  CHECK(status.services[0].restarts == 0);
}

TEST_CASE("services: called from lambdas, other services, asynchronously and with methods") {
  Squarer::Seen seen;
  sage::LocalEnvironment env("svc-kinds", two_threads());
  env.register_service<Squarer>("squarer", &seen).parallelism(2);
  env.register_service<SumOfSquares>("sum_of_squares");
  auto out = env.from_batch({1L, 2L, 3L})
                 .map([](const int64_t& x) {
                   const auto cube =
                       sage::call_service<int64_t>("squarer", sage::method("cube"), x);
                   auto square = sage::call_service_async<int64_t>("squarer", x);
                   const auto sum =
                       sage::call_service<int64_t>("sum_of_squares", x, x + 1, sage::timeout(5s));
                   return std::vector<int64_t>{cube, square.get(), sum};
                 })
                 .collect();
  env.submit(true);
  auto got = out.get();
  std::sort(got.begin(), got.end());
  REQUIRE(got.size() == 3);
  CHECK(got[0] == std::vector<int64_t>{1, 1, 1 + 4});
  CHECK(got[1] == std::vector<int64_t>{8, 4, 4 + 9});
  CHECK(got[2] == std::vector<int64_t>{27, 9, 9 + 16});
  // Outside an operator the free functions refuse.
  CHECK_THROWS_AS(sage::call_service<int64_t>("squarer", int64_t{2}), std::logic_error);
}

TEST_CASE("services: a job of only services serves driver calls until it is stopped") {
  Squarer::Seen seen;
  sage::LocalEnvironment env("svc-only", two_threads());
  env.register_service<Squarer>("squarer", &seen).parallelism(2);
  env.submit();
  CHECK(env.call_service<int64_t>("squarer", int64_t{7}) == 49);
  CHECK(env.call_service<int64_t>("squarer", sage::method("cube"), int64_t{2}) == 8);
  auto later = env.call_service_async<int64_t>("squarer", int64_t{5});
  CHECK(later.get(5s) == 25);
  std::this_thread::sleep_for(50ms);
  CHECK(env.status().state == sage::JobState::running);

  // Another job of the same runtime calls it by name; registering the name again is refused.
  {
    sage::LocalEnvironment other("svc-caller", two_threads());
    auto out = other.from_batch({3L}).map<SquareViaService>().collect();
    other.submit(true);
    CHECK(out.get() == std::vector<int64_t>{9});
    sage::LocalEnvironment twice("svc-twice", two_threads());
    twice.register_service<Squarer>("squarer", &seen);
    twice.from_batch({1}).print();
    CHECK_THROWS_WITH_AS(twice.submit(), doctest::Contains("'squarer' is already registered"),
                         sage::SubmitError);
  }
  // Errors at the caller.
  CHECK_THROWS_WITH_AS(env.call_service<std::string>("squarer", sage::method("fail"),
                                                     std::string("the model is down")),
                       doctest::Contains("the model is down"), sage::ServiceError);
  CHECK_THROWS_WITH_AS(env.call_service<int64_t>("squarer", sage::method("nope"), int64_t{1}),
                       doctest::Contains("no method 'nope'"), sage::ServiceError);
  CHECK_THROWS_WITH_AS(env.call_service<int64_t>("no_such_service", int64_t{1}),
                       doctest::Contains("no_such_service"), sage::ServiceError);
  CHECK_THROWS_AS(env.call_service<int64_t>("squarer", 1), sage::ServiceError);  // int, not int64_t

  env.stop();
  CHECK(env.status().state == sage::JobState::finished);
  CHECK(seen.closed.load() == 2);
  // Its name went with it.
  CHECK_THROWS_WITH_AS(env.call_service<int64_t>("squarer", int64_t{7}),
                       doctest::Contains("'squarer'"), sage::ServiceError);
  sage::LocalEnvironment again("svc-again", two_threads());
  again.register_service<Squarer>("squarer", &seen);
  again.submit();
  CHECK(again.call_service<int64_t>("squarer", int64_t{3}) == 9);
  again.stop();
}

TEST_CASE("services: an error in a call fails the calling operator's job with the service's text") {
  Squarer::Seen seen;
  sage::LocalEnvironment env("svc-fails", two_threads());
  env.register_service<Squarer>("squarer", &seen);
  env.from_batch({std::string("disk full")})
      .map([](const std::string& s) {
        return sage::call_service<std::string>("squarer", sage::method("fail"), s);
      })
      .print();
  CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("disk full"), sage::JobFailed);
  CHECK(seen.closed.load() == 1);
}

TEST_CASE("services: an instance whose open() throws is started again and counted") {
  struct Flaky : sage::Service {
    explicit Flaky(std::atomic<int>* opens) : opens(opens) {}
    void open(sage::RuntimeContext&) override {
      if (opens->fetch_add(1) == 0) throw std::runtime_error("the model file is not there yet");
    }
    std::string process(const std::string& s) { return s + "!"; }
    std::atomic<int>* opens;
  };
  std::atomic<int> opens{0};
  sage::LocalEnvironment env("svc-restart", two_threads());
  env.register_service<Flaky>("flaky", &opens);
  env.submit();
  // The first instance died at once; it is back after its restart pause.
  std::string answer;
  for (int i = 0; i < 100 && answer.empty(); ++i) {
    try {
      answer = env.call_service<std::string>("flaky", std::string("hi"));
    } catch (const sage::ServiceError&) {
      std::this_thread::sleep_for(50ms);
    }
  }
  CHECK(answer == "hi!");
  CHECK(opens.load() == 2);
  const auto status = env.status();
  REQUIRE(status.services.size() == 1);
  CHECK(status.services[0].restarts == 1);
  CHECK(status.state == sage::JobState::running);
  env.stop();
}

TEST_CASE("services: a name registered twice in one environment is a GraphError") {
  Squarer::Seen seen;
  sage::LocalEnvironment env("svc-dup");
  env.register_service<Squarer>("squarer", &seen);
  CHECK_THROWS_AS(env.register_service<Squarer>("squarer", &seen), sage::GraphError);
  CHECK_THROWS_AS(env.register_service<Squarer>("other", &seen).parallelism(0), sage::GraphError);
}
