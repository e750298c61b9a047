// sage-bench --only svc (service_bench.hpp). Each figure comes from a real job:
// a source of numbers, one map instance that calls the service `bench_echo`
// (x -> x + 1) and checks every answer, a checksum sink. The synchronous map
// times each call (steady clock around ctx().call_service); calls/s is calls
// over the time spent in them. The asynchronous job calls through map_async
// (capacity 100, unordered); calls/s is calls over the job's time. Across two
// nodes the service runs on a node server (placement spread): every call and
// answer crosses CAF's network layer as codec bytes. The pipeline service
// (x -> x + 1 through one map) is called by the driver: its p50 is the round
// trip through the front, the request source, the map and the reply sink.

#include "service_bench.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "two_nodes.hpp"

namespace sage::bench {

namespace {

struct Echo : sage::Service {
  int64_t process(int64_t x) { return x + 1; }
};

/// What a job measured.
struct Calls {
  std::mutex mutex;
  std::vector<double> latencies_us;  // synchronous calls only
  double seconds_in_calls = 0;
  uint64_t checksum = 0;
  uint64_t records = 0;
};

struct TimedCall : sage::MapFunction<int64_t, int64_t> {
  explicit TimedCall(std::shared_ptr<Calls> c) : calls(std::move(c)) {}
  int64_t execute(const int64_t& x) override {
    const auto t0 = Clock::now();
    const auto r = ctx().call_service<int64_t>("bench_echo", x);
    const auto us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    latencies.push_back(us);
    if (r != x + 1) fail("bench_echo answered " + std::to_string(r) + " to " + std::to_string(x));
    return r;
  }
  void close() override {
    std::lock_guard<std::mutex> guard(calls->mutex);
    calls->latencies_us.insert(calls->latencies_us.end(), latencies.begin(), latencies.end());
    calls->seconds_in_calls += std::accumulate(latencies.begin(), latencies.end(), 0.0) / 1e6;
  }
  std::shared_ptr<Calls> calls;
  std::vector<double> latencies;
};

uint64_t identity(const int64_t& x) { return static_cast<uint64_t>(x); }
using Sink = ChecksumSink<int64_t, Calls, identity>;

std::vector<int64_t> numbers(uint64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

uint64_t expected_checksum(uint64_t n) { return n * (n + 1) / 2; }  // sum of x + 1

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct SyncFigures {
  double calls_per_s = 0, p50_us = 0, p99_us = 0;
};

SyncFigures sync_job(uint64_t n, const sage::Config& cfg) {
  auto calls = std::make_shared<Calls>();
  sage::LocalEnvironment env("svc-sync-bench", cfg);
  env.register_service<Echo>("bench_echo");
  env.from_batch(numbers(n)).map<TimedCall>(calls).sink<Sink>(calls);
  run_job(env);
  if (calls->records != n || calls->checksum != expected_checksum(n))
    fail("svc sync: " + std::to_string(calls->records) + " answers, checksum wrong");
  return {static_cast<double>(n) / calls->seconds_in_calls, percentile(calls->latencies_us, 0.5),
          percentile(calls->latencies_us, 0.99)};
}

double async_job(uint64_t n, const sage::Config& cfg) {
  auto calls = std::make_shared<Calls>();
  sage::LocalEnvironment env("svc-async-bench", cfg);
  env.register_service<Echo>("bench_echo");
  env.from_batch(numbers(n))
      .map_async(
          [](const int64_t& x) { return sage::call_service_async<int64_t>("bench_echo", x); },
          sage::async_options{.capacity = 100, .ordered = false})
      .sink<Sink>(calls);
  const auto t0 = Clock::now();
  run_job(env);
  const double s = seconds_since(t0);
  if (calls->records != n || calls->checksum != expected_checksum(n))
    fail("svc async: " + std::to_string(calls->records) + " answers, checksum wrong");
  return static_cast<double>(n) / s;
}

struct PipelineFigures {
  double p50_us = 0, calls_per_s = 0;
};

/// A pipeline service (requests through one map, x -> x + 1) called by the
/// driver: `n` synchronous calls one after the other (their latency), then `n`
/// asynchronous ones at once (calls/s).
PipelineFigures pipeline_job(uint64_t n, const sage::Config& cfg) {
  sage::LocalEnvironment env("svc-pipeline-bench", cfg);
  env.register_pipeline_service<int64_t, int64_t>(
      "bench_pipeline",
      [](sage::DataStream<int64_t> s) { return s.map([](const int64_t& x) { return x + 1; }); });
  env.submit();
  std::vector<double> us;
  us.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const auto x = static_cast<int64_t>(i);
    const auto t0 = Clock::now();
    const auto r = env.call_service<int64_t>("bench_pipeline", x);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (r != x + 1)
      fail("bench_pipeline answered " + std::to_string(r) + " to " + std::to_string(x));
  }
  std::vector<sage::Future<int64_t>> calls;
  calls.reserve(n);
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < n; ++i)
    calls.push_back(env.call_service_async<int64_t>("bench_pipeline", static_cast<int64_t>(i)));
  for (uint64_t i = 0; i < n; ++i)
    if (calls[i].get() != static_cast<int64_t>(i) + 1) fail("bench_pipeline: a wrong async answer");
  const double s = seconds_since(t0);
  env.stop();
  return {percentile(us, 0.5), static_cast<double>(n) / s};
}

/// The hand-written baseline: `n` round trips to a thread that answers x + 1,
/// through a mutex and a condition variable each way. Returns p50 in us.
double thread_round_trip_p50_us(uint64_t n) {
  std::mutex m;
  std::condition_variable cv;
  int64_t request = -1, answer = -1;
  bool stop = false;
  std::thread server([&] {
    std::unique_lock<std::mutex> lock(m);
    while (true) {
      cv.wait(lock, [&] { return stop || request >= 0; });
      if (stop) return;
      answer = request + 1;
      request = -1;
      cv.notify_all();
    }
  });
  std::vector<double> us;
  us.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    std::unique_lock<std::mutex> lock(m);
    request = static_cast<int64_t>(i);
    answer = -1;
    cv.notify_all();
    cv.wait(lock, [&] { return answer >= 0; });
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  {
    std::lock_guard<std::mutex> lock(m);
    stop = true;
  }
  cv.notify_all();
  server.join();
  return percentile(us, 0.5);
}

}  // namespace

void service_figures(uint64_t sync_calls, uint64_t async_calls, int runs, Output& out,
                     Output& extra) {
  std::fprintf(stderr, "svc: %llu synchronous and %llu asynchronous calls from one instance\n",
               static_cast<unsigned long long>(sync_calls),
               static_cast<unsigned long long>(async_calls));
  SyncFigures sync, remote_sync;
  double async = 0, remote_async = 0, loop_p50 = 1e300;
  sync.p50_us = sync.p99_us = remote_sync.p50_us = remote_sync.p99_us = 1e300;
  const auto keep = [](SyncFigures& best, const SyncFigures& f) {
    best.calls_per_s = std::max(best.calls_per_s, f.calls_per_s);
    best.p50_us = std::min(best.p50_us, f.p50_us);
    best.p99_us = std::min(best.p99_us, f.p99_us);
  };
  for (int r = 0; r < runs; ++r) {
    loop_p50 = std::min(loop_p50, thread_round_trip_p50_us(sync_calls));
    const auto s = sync_job(sync_calls, job_config());
    const double a = async_job(async_calls, job_config());
    keep(sync, s);
    async = std::max(async, a);
    std::fprintf(stderr,
                 "  run %d, one process: sync %.0f calls/s (p50 %.1f us, p99 %.1f us), async %.0f "
                 "calls/s\n",
                 r + 1, s.calls_per_s, s.p50_us, s.p99_us, a);
  }
  PipelineFigures pipeline{1e300, 0};
  for (int r = 0; r < runs; ++r) {
    const auto f = pipeline_job(sync_calls / 4, job_config());
    pipeline.p50_us = std::min(pipeline.p50_us, f.p50_us);
    pipeline.calls_per_s = std::max(pipeline.calls_per_s, f.calls_per_s);
    std::fprintf(stderr, "  run %d, pipeline service: p50 %.1f us, async %.0f calls/s\n", r + 1,
                 f.p50_us, f.calls_per_s);
  }
  // Across two nodes: the service on a node server, the caller here.
  for (int r = 0; r < runs; ++r) {
    SyncFigures s;
    double a = 0;
    on_two_nodes(g_base_config, [&] {
      s = sync_job(sync_calls, job_config({{"placement", "spread"}}));
      a = async_job(async_calls, job_config({{"placement", "spread"}}));
      return 0.0;
    });
    keep(remote_sync, s);
    remote_async = std::max(remote_async, a);
    std::fprintf(stderr,
                 "  run %d, two nodes: sync %.0f calls/s (p50 %.1f us, p99 %.1f us), async %.0f "
                 "calls/s\n",
                 r + 1, s.calls_per_s, s.p50_us, s.p99_us, a);
  }
  out.add("svc_sync_calls_per_s", sync.calls_per_s, 0);
  out.add("svc_sync_p50_us", sync.p50_us, 1);
  out.add("svc_sync_p99_us", sync.p99_us, 1);
  out.add("svc_async_calls_per_s", async, 0);
  out.add("svc_remote_sync_calls_per_s", remote_sync.calls_per_s, 0);
  out.add("svc_remote_sync_p50_us", remote_sync.p50_us, 1);
  out.add("svc_remote_sync_p99_us", remote_sync.p99_us, 1);
  out.add("svc_remote_async_calls_per_s", remote_async, 0);
  out.add("svc_pipeline_p50_us", pipeline.p50_us, 1);
  extra.add("svc_pipeline_async_calls_per_s", pipeline.calls_per_s, 0);
  extra.add("svc_thread_round_trip_p50_us", loop_p50, 1);
  extra.add("svc_sync_p50_ratio", sync.p50_us / loop_p50, 2);
}

}  // namespace sage::bench
