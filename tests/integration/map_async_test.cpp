// map_async through the public API (API.md section 9): results in input order
// or as they complete, with completions in random order on another thread; at
// most `capacity` calls in flight; timeouts that free their slot at once, with
// the late replies dropped and counted; retries; a call that fails for good
// failing the job; calls to a service; event time kept (the watermark waits
// for the calls in flight, so windows downstream drop nothing).

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <queue>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sage/sage.hpp>

using namespace std::chrono_literals;

namespace {

/// A backend on its own thread that answers each request after a random
/// delay, so that answers come in another order than the requests.
class SlowBackend {
 public:
  explicit SlowBackend(int max_delay_ms) : max_delay_ms_(max_delay_ms) {
    worker_ = std::thread([this] { run(); });
  }
  ~SlowBackend() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  /// Answers `f()` (or its exception) after a random delay, or after `delay_ms` if given.
  sage::Future<int64_t> ask(std::function<int64_t()> f, int delay_ms = -1) {
    sage::Promise<int64_t> p;
    auto future = p.future();
    const int now_in_flight = ++in_flight_;
    int most = most_in_flight_.load();
    while (now_in_flight > most && !most_in_flight_.compare_exchange_weak(most, now_in_flight)) {
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const int d =
          delay_ms >= 0 ? delay_ms : std::uniform_int_distribution<int>(0, max_delay_ms_)(rng_);
      due_.push(Item{std::chrono::steady_clock::now() + std::chrono::milliseconds(d), seq_++,
                     std::move(p), std::move(f)});
    }
    cv_.notify_all();
    return future;
  }
  int most_in_flight() const { return most_in_flight_.load(); }

 private:
  struct Item {
    std::chrono::steady_clock::time_point at;
    uint64_t seq;
    sage::Promise<int64_t> promise;
    std::function<int64_t()> f;
    bool operator>(const Item& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      if (due_.top().at > std::chrono::steady_clock::now()) {
        cv_.wait_until(lock, due_.top().at);
        continue;
      }
      Item item = due_.top();
      due_.pop();
      lock.unlock();
      --in_flight_;
      try {
        item.promise.set_value(item.f());
      } catch (...) {
        item.promise.set_error(std::current_exception());
      }
      lock.lock();
    }
  }
  int max_delay_ms_;
  std::mt19937 rng_{42};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> due_;
  uint64_t seq_ = 0;
  bool stopping_ = false;
  std::atomic<int> in_flight_{0};
  std::atomic<int> most_in_flight_{0};
  std::thread worker_;
};

std::vector<int64_t> numbers(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

const sage::OperatorStatus& op_named(const sage::JobStatus& s, const std::string& name) {
  for (const auto& op : s.operators)
    if (op.name == name) return op;
  throw std::runtime_error("no operator " + name);
}

/// An AsyncFunction that asks the backend for 10 * x.
struct TimesTen : sage::AsyncFunction<int64_t, int64_t> {
  explicit TimesTen(SlowBackend* b) : backend(b) {}
  sage::Future<int64_t> execute(const int64_t& x) override {
    return backend->ask([x] { return 10 * x; });
  }
  SlowBackend* backend;
};

}  // namespace

TEST_CASE("map_async: ordered keeps input order while answers come in any order") {
  SlowBackend backend(5);
  sage::LocalEnvironment env("async-ordered");
  auto out =
      env.from_batch(numbers(2000))
          .map_async([&backend](const int64_t& x) { return backend.ask([x] { return x * x; }); },
                     sage::async_options{.capacity = 16, .ordered = true})
          .collect();
  env.submit(true);
  const auto got = out.get();
  REQUIRE(got.size() == 2000);
  bool in_order = true;
  for (int64_t i = 0; i < 2000; ++i) in_order = in_order && got[i] == i * i;
  CHECK(in_order);
  CHECK(backend.most_in_flight() <= 16);
  CHECK(backend.most_in_flight() > 1);  // calls overlapped
}

TEST_CASE("map_async: unordered emits as calls complete, an AsyncFunction with options first") {
  SlowBackend backend(5);
  sage::LocalEnvironment env("async-unordered");
  auto out =
      env.from_batch(numbers(2000))
          .map_async<TimesTen>(sage::async_options{.capacity = 8, .ordered = false}, &backend)
          .parallelism(2)
          .collect();
  env.submit(true);
  auto got = out.get();
  REQUIRE(got.size() == 2000);
  const bool reordered = !std::is_sorted(got.begin(), got.end());
  std::sort(got.begin(), got.end());
  bool all = true;
  for (int64_t i = 0; i < 2000; ++i) all = all && got[i] == 10 * i;
  CHECK(all);
  CHECK(reordered);
  CHECK(backend.most_in_flight() <= 16);  // 8 per instance, 2 instances
}

TEST_CASE(
    "map_async: a call past its timeout frees its slot, is retried, and its late reply is "
    "counted") {
  SlowBackend backend(2);
  std::atomic<int> attempts{0};
  sage::LocalEnvironment env("async-timeout");
  auto out =
      env.from_batch(numbers(50))
          .map_async(
              [&](const int64_t& x) {
                // Every record's first attempt answers after 400 ms, far past the timeout.
                const bool first = attempts++ < 50;
                return backend.ask([x] { return x + 1; }, first ? 400 : 1);
              },
              sage::async_options{.capacity = 50, .ordered = true, .timeout = 100ms, .retries = 2})
          .collect();
  env.submit(true);
  const auto got = out.get();
  REQUIRE(got.size() == 50);
  for (int64_t i = 0; i < 50; ++i) CHECK(got[i] == i + 1);
  CHECK(attempts.load() == 100);
  // The first attempts answer after the job ended or while it runs: those
  // that reached the operator before its end were counted and dropped.
  CHECK(op_named(env.status(), "map_async").records_out == 50);
}

TEST_CASE("map_async: late replies are counted while the job runs") {
  SlowBackend backend(1);
  std::array<std::atomic<int>, 20> attempts{};
  sage::LocalEnvironment env("async-late");
  // Timeout 50 ms. The first attempts of records 0-9 answer after 300 ms
  // (their retries at once); record 19 answers only its fourth attempt in
  // time, about 850 ms in (retries after 100, 200 and 400 ms), so the job
  // still runs when the 300 ms replies come.
  auto out =
      env.from_batch(numbers(20))
          .map_async(
              [&](const int64_t& x) {
                const int n = attempts[static_cast<size_t>(x)]++;
                const int delay = x < 10 && n == 0 ? 300 : (x == 19 && n < 3 ? 200 : 1);
                return backend.ask([x] { return x; }, delay);
              },
              sage::async_options{.capacity = 20, .ordered = false, .timeout = 50ms, .retries = 3})
          .collect();
  env.submit(true);
  CHECK(out.get().size() == 20);
  CHECK(attempts[19].load() == 4);
  CHECK(op_named(env.status(), "map_async").late_replies >= 10);
}

TEST_CASE("map_async: a call that fails after its retries fails the job") {
  SlowBackend backend(1);
  std::atomic<int> attempts{0};
  sage::LocalEnvironment env("async-fails");
  env.from_batch(numbers(5))
      .map_async(
          [&](const int64_t& x) {
            return backend.ask([x, &attempts]() -> int64_t {
              ++attempts;
              if (x == 3) throw std::runtime_error("the model is overloaded");
              return x;
            });
          },
          sage::async_options{.capacity = 4, .retries = 2})
      .print();
  CHECK_THROWS_WITH_AS(env.submit(true),
                       doctest::Contains("after 3 attempts: the model is overloaded"),
                       sage::JobFailed);
  CHECK(attempts.load() >= 3 + 4);
}

TEST_CASE("map_async: calls a service asynchronously, keeping event time for a window downstream") {
  struct Scorer : sage::Service {
    int64_t process(int64_t x) {
      std::this_thread::sleep_for(std::chrono::microseconds(x % 7 * 100));
      return x % 10;
    }
  };
  sage::LocalEnvironment env("async-service");
  env.register_service<Scorer>("scorer").parallelism(3);
  // Events 1 ms apart; watermarks follow them closely: a result emitted
  // behind the watermark would be dropped as late by the window.
  std::vector<int64_t> events = numbers(3000);
  auto counts =
      env.from_batch(events)
          .assign_timestamps([](const int64_t& x) { return x; },
                             sage::bounded_out_of_order(std::chrono::milliseconds(0)))
          .map_async(
              [](const int64_t& x) { return sage::call_service_async<int64_t>("scorer", x); },
              sage::async_options{.capacity = 32, .ordered = false})
          .map([](const int64_t& score) {
            return std::pair<int64_t, int64_t>{score, 1};
          })
          .key_by([](const std::pair<int64_t, int64_t>& p) { return p.first; })
          .window(sage::tumbling(std::chrono::milliseconds(1000)))
          .reduce([](const std::pair<int64_t, int64_t>& a, const std::pair<int64_t, int64_t>& b) {
            return std::pair<int64_t, int64_t>{a.first, a.second + b.second};
          })
          .collect();
  env.submit(true);
  auto got = counts.get();
  int64_t total = 0;
  for (const auto& c : got) total += c.second;
  CHECK(total == 3000);
  CHECK(got.size() == 30);  // 10 scores in each of 3 windows
  CHECK(op_named(env.status(), "window").records_late_dropped == 0);
}

TEST_CASE("map_async: inside a feedback loop, the loop waits for its calls in flight") {
  SlowBackend backend(20);  // each call takes up to 20 ms: far longer than a termination wave
  sage::LocalEnvironment env("async-loop");
  auto counter = env.from_future<int64_t>("counter");
  auto next =
      env.from_batch({int64_t{0}, int64_t{100}})
          .union_with(counter)
          .map_async([&backend](const int64_t& x) { return backend.ask([x] { return x + 1; }); });
  next.filter([](const int64_t& x) { return x % 100 < 10; }).fill_future(counter);
  auto values = next.collect();
  env.submit(true);
  auto got = values.get();
  std::sort(got.begin(), got.end());
  std::vector<int64_t> want;
  for (int64_t base : {0, 100})
    for (int64_t i = 1; i <= 10; ++i) want.push_back(base + i);
  CHECK(got == want);
}
