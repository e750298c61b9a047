// Pipelines as services, through the public API only (API.md section 6):
// register_pipeline_service<Req, Resp>(name, build) answers each request with
// the one record it becomes, through parallelism and a key_by inside; a
// request that yields no record or several gets a ServiceError; the pipeline
// is called from driver code, from another job's map_async and from operators
// of its own job, whose end (autostop) ends the pipeline service too; builds
// that would lose a request's identity are GraphErrors.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

using namespace std::chrono_literals;

namespace {

sage::Config threads(int n) {
  sage::Config cfg;
  cfg.set("scheduler.threads", std::to_string(n));
  return cfg;
}

using Keyed = std::pair<int64_t, int64_t>;  // (key, request)
using Counted =
    std::tuple<int64_t, int64_t, int64_t, int>;  // request, key, nth of its key, instance

/// Counts the requests of each key in keyed state: the nth request of a key is answered n.
struct CountPerKey : sage::MapFunction<Keyed, Counted> {
  Counted execute(const Keyed& k) override {
    auto& seen = ctx().value_state<int64_t>("seen");
    const int64_t nth = seen.value().value_or(0) + 1;
    seen.update(nth);
    return {k.second, k.first, nth, ctx().index()};
  }
};

/// The requests' pipeline: keyed by x % 100 over 3 instances.
sage::DataStream<Counted> count_per_key(sage::DataStream<int64_t> requests) {
  return requests.map([](const int64_t& x) {
                   return Keyed{x % 100, x};
                 })
      .parallelism(3)
      .key_by([](const Keyed& k) { return k.first; })
      .map<CountPerKey>()
      .parallelism(3);
}

}  // namespace

TEST_CASE("pipeline services: 10000 requests through parallelism 3 and a key_by, each answered") {
  sage::LocalEnvironment env("counting", threads(2));
  env.register_pipeline_service<int64_t, Counted>("count_per_key", count_per_key);
  env.submit();

  constexpr int64_t n = 10'000;
  std::vector<sage::Future<Counted>> calls;
  calls.reserve(n);
  for (int64_t x = 0; x < n; ++x)
    calls.push_back(env.call_service_async<Counted>("count_per_key", x, sage::timeout(60s)));
  std::map<int64_t, std::vector<int64_t>> nth_of_key;
  std::set<int> instances;
  int64_t wrong = 0;
  for (int64_t x = 0; x < n; ++x) {
    const auto [request, key, nth, instance] = calls[x].get();
    if (request != x || key != x % 100) ++wrong;
    nth_of_key[key].push_back(nth);
    instances.insert(instance);
  }
  CHECK(wrong == 0);
  // Every key's requests were counted 1, 2, ..., 100: none lost, none twice.
  CHECK(nth_of_key.size() == 100);
  std::vector<int64_t> expected(100);
  for (int64_t i = 0; i < 100; ++i) expected[i] = i + 1;
  for (auto& [key, nths] : nth_of_key) {
    std::sort(nths.begin(), nths.end());
    CHECK_MESSAGE(nths == expected, "key ", key);
  }
  CHECK(instances == std::set<int>{0, 1, 2});
  // A synchronous call is answered too.
  CHECK(std::get<0>(env.call_service<Counted>("count_per_key", int64_t{123456})) == 123456);

  const auto status = env.status();
  REQUIRE(status.services.size() == 1);
  CHECK(status.services[0].name == "count_per_key");
  CHECK(status.services[0].calls >= static_cast<uint64_t>(n + 1));
  env.stop();
  CHECK(env.status().state == sage::JobState::finished);
  CHECK_THROWS_WITH_AS(env.call_service<Counted>("count_per_key", int64_t{1}),
                       doctest::Contains("count_per_key"), sage::ServiceError);
}

TEST_CASE("pipeline services: a request that yields no record or two is a ServiceError") {
  sage::LocalEnvironment env("fan", threads(2));
  env.register_pipeline_service<int64_t, std::string>(
         "fan",
         [](sage::DataStream<int64_t> requests) {
           return requests
               .flatmap([](const int64_t& x) {
                 // negative: nothing; zero: two records; else one
                 return std::vector<int64_t>(x < 0 ? 0 : x == 0 ? 2 : 1, x);
               })
               .rebalance()
               .map([](const int64_t& x) { return "#" + std::to_string(x); });
         })
      .parallelism(2);
  env.submit();
  CHECK(env.call_service<std::string>("fan", int64_t{7}) == "#7");
  CHECK_THROWS_WITH_AS(env.call_service<std::string>("fan", int64_t{-1}),
                       doctest::Contains("produced no record"), sage::ServiceError);
  CHECK_THROWS_WITH_AS(env.call_service<std::string>("fan", int64_t{0}),
                       doctest::Contains("produced 2 records"), sage::ServiceError);
  // Concurrent calls, some failing, each get their own answer.
  std::vector<sage::Future<std::string>> calls;
  for (int64_t x = -50; x <= 50; ++x)
    calls.push_back(env.call_service_async<std::string>("fan", x));
  int failed = 0;
  for (int64_t x = -50; x <= 50; ++x) {
    try {
      const std::string got = calls[x + 50].get();
      CHECK(got == "#" + std::to_string(x));
      CHECK(x > 0);
    } catch (const sage::ServiceError&) {
      ++failed;
      CHECK(x <= 0);
    }
  }
  CHECK(failed == 51);
  // A request of the wrong type is refused, the service goes on.
  CHECK_THROWS_AS(env.call_service<std::string>("fan", std::string("seven")), sage::ServiceError);
  CHECK(env.call_service<std::string>("fan", int64_t{8}) == "#8");
  env.stop();
}

TEST_CASE(
    "pipeline services: called by the job's own operators and another job, ended by autostop") {
  sage::LocalEnvironment other_env("caller", threads(2));
  sage::LocalEnvironment env("own", threads(2));
  env.register_pipeline_service<int64_t, int64_t>("triple", [](sage::DataStream<int64_t> s) {
    return s.map([](const int64_t& x) { return 3 * x; }).parallelism(2);
  });
  std::vector<int64_t> xs(300);
  for (int64_t i = 0; i < 300; ++i) xs[i] = i;
  // Synchronously from an operator (the pipeline's tasks still have a thread);
  // the last record waits for the other job, so that it runs while this one does...
  static std::atomic<bool> other_done{false};
  other_done = false;
  auto sync_out = env.from_batch(xs)
                      .map([](const int64_t& x) {
                        for (int i = 0; x == 299 && !other_done && i < 2000; ++i)
                          std::this_thread::sleep_for(10ms);
                        return sage::call_service<int64_t>("triple", x);
                      })
                      .collect();
  // ...and through map_async.
  auto async_out = env.from_batch(xs)
                       .map_async(
                           [](const int64_t& x) {
                             return sage::call_service_async<int64_t>("triple", x + 1000);
                           },
                           sage::async_options{.capacity = 32, .ordered = false})
                       .collect();
  std::thread driver([&] {
    // Another job calls it while this one runs.
    std::this_thread::sleep_for(100ms);
    try {
      auto out = other_env.from_batch({5L, 6L})
                     .map_async([](const int64_t& x) {
                       return sage::call_service_async<int64_t>("triple", x);
                     })
                     .collect();
      other_env.submit(true);
      auto got = out.get();
      std::sort(got.begin(), got.end());
      CHECK(got == std::vector<int64_t>{15, 18});
    } catch (const std::exception& e) {
      FAIL_CHECK("the other job failed: " << e.what());
    }
    other_done = true;
  });
  env.submit(true);  // ends once its own pipeline has drained, then its pipeline service
  driver.join();
  CHECK(env.status().state == sage::JobState::finished);
  auto got = sync_out.get();
  std::vector<int64_t> expected(300);
  for (int64_t i = 0; i < 300; ++i) expected[i] = 3 * i;
  CHECK(got == expected);
  auto got_async = async_out.get();
  std::sort(got_async.begin(), got_async.end());
  for (int64_t i = 0; i < 300; ++i) expected[i] = 3 * (i + 1000);
  CHECK(got_async == expected);
  // Its pipeline service ended with it.
  CHECK_THROWS_WITH_AS(other_env.call_service<int64_t>("triple", int64_t{1}),
                       doctest::Contains("triple"), sage::ServiceError);
}

TEST_CASE("pipeline services: builds that would lose a request's identity are GraphErrors") {
  sage::LocalEnvironment env("refused", threads(2));
  const auto stamped = [&env] {
    env.register_pipeline_service<int64_t, int64_t>("stamped", [](sage::DataStream<int64_t> s) {
      return s.assign_timestamps([](const int64_t& x) { return x; }, sage::monotonous());
    });
  };
  CHECK_THROWS_WITH_AS(stamped(), doctest::Contains("timestamps of its own"), sage::GraphError);
  const auto unrelated = [&env] {
    env.register_pipeline_service<int64_t, int64_t>("unrelated", [&env](sage::DataStream<int64_t>) {
      return env.from_batch({1L, 2L});
    });
  };
  CHECK_THROWS_WITH_AS(unrelated(), doctest::Contains("made from the requests"), sage::GraphError);
  // An operator outside the pipeline that reads its stream would wait for it forever.
  {
    sage::LocalEnvironment leaky("leaky", threads(2));
    std::optional<sage::DataStream<int64_t>> kept;
    leaky.register_pipeline_service<int64_t, int64_t>("leak", [&kept](sage::DataStream<int64_t> s) {
      auto inside = s.map([](const int64_t& x) { return x; });
      kept.emplace(inside);
      return inside;
    });
    kept->print();
    CHECK_THROWS_WITH_AS(leaky.submit(), doctest::Contains("inside pipeline service 'leak'"),
                         sage::GraphError);
  }
  // What the refused builds added is gone: the environment runs a plain job.
  env.register_pipeline_service<int64_t, int64_t>("plus_one", [](sage::DataStream<int64_t> s) {
    return s.map([](const int64_t& x) { return x + 1; });
  });
  env.submit();
  CHECK(env.call_service<int64_t>("plus_one", int64_t{41}) == 42);
  const auto status = env.status();
  for (const auto& op : status.operators)
    CHECK_MESSAGE(op.name.find("stamped") == std::string::npos, op.name);
  env.stop();
  CHECK(env.status().state == sage::JobState::finished);
}
