// sage-bench's latency: percentiles of the time a record takes from the source's emit
// (and from when it was due) to the sink, at 20 k records/s.

#include "latency_bench.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

namespace sage::bench {

namespace {

struct Tick {
  uint64_t seq;
  uint64_t key;
  int64_t due_ns;   // when the source meant to emit it
  int64_t emit_ns;  // when it did (the latency's start)
};

struct LatencyResult {
  std::vector<int64_t> from_emit;  // ns, per record past the warm-up, in arrival order
  std::vector<int64_t> from_due;
  uint64_t records = 0;
  uint64_t source_calls = 0;  // calls of the source's execute (polls)
  double source_seconds = 0;
};

/// Emits `total` ticks at `rate` per second; a call before the next tick is due emits nothing.
class TickSource : public sage::SourceFunction<Tick> {
 public:
  TickSource(uint64_t rate, uint64_t total, std::shared_ptr<LatencyResult> result)
      : period_ns_(static_cast<int64_t>(1'000'000'000 / rate)),
        total_(total),
        result_(std::move(result)) {}
  void open(sage::RuntimeContext&) override { start_ns_ = now_ns(); }
  void close() override {
    result_->source_calls = calls_;
    result_->source_seconds = static_cast<double>(now_ns() - start_ns_) / 1e9;
  }
  void execute(sage::SourceContext<Tick>& ctx) override {
    ++calls_;
    if (seq_ >= total_) {
      ctx.stop();
      return;
    }
    const int64_t due = start_ns_ + static_cast<int64_t>(seq_) * period_ns_;
    const int64_t now = now_ns();
    if (now < due) return;  // nothing now
    ctx.emit(Tick{seq_, 0, due, now});
    ++seq_;
  }

 private:
  int64_t period_ns_;
  uint64_t total_;
  std::shared_ptr<LatencyResult> result_;
  uint64_t seq_ = 0;
  uint64_t calls_ = 0;
  int64_t start_ns_ = 0;
};

class LatencySink : public sage::SinkFunction<Tick> {
 public:
  LatencySink(std::shared_ptr<LatencyResult> result, uint64_t warmup)
      : result_(std::move(result)), warmup_(warmup) {}
  void open(sage::RuntimeContext&) override {
    result_->from_emit.reserve(1 << 20);
    result_->from_due.reserve(1 << 20);
  }
  void execute(const Tick& t) override {
    const int64_t now = now_ns();
    ++result_->records;
    if (t.seq < warmup_) return;
    result_->from_emit.push_back(now - t.emit_ns);
    result_->from_due.push_back(now - t.due_ns);
  }

 private:
  std::shared_ptr<LatencyResult> result_;  // one sink instance: no lock needed
  uint64_t warmup_;
};

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
};

Percentiles percentiles(std::vector<int64_t> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::clamp<size_t>(rank, 1, v.size()) - 1]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(v.back()) / 1000.0;
  return p;
}

struct LatencyRun {
  Percentiles from_emit;
  Percentiles from_due;
  size_t samples = 0;
  double polls_per_s = 0;  // calls of the source function per second
};

/// source -> map -> key_by -> map -> sink: two tasks (one channel hop) with chaining,
/// four tasks (three hops) with `chaining=false`.
LatencyRun latency_run(uint64_t rate, double seconds, sage::Config cfg) {
  const auto total = static_cast<uint64_t>(static_cast<double>(rate) * seconds);
  const uint64_t warmup = rate / 10;  // the first 100 ms are not counted
  auto result = std::make_shared<LatencyResult>();
  sage::LocalEnvironment env("bench-latency", std::move(cfg));
  env.from_source<TickSource>(rate, total, result)
      .name("ticks")
      .map([](const Tick& t) {
        Tick u = t;
        u.key = t.seq % 64;
        return u;
      })
      .name("tag")
      .key_by([](const Tick& t) { return t.key; })
      .map([](const Tick& t) { return t; })
      .name("pass")
      .sink<LatencySink>(result, warmup)
      .name("latency");
  run_job(env);
  if (result->records != total)
    fail("latency: the sink saw " + std::to_string(result->records) + " of " +
         std::to_string(total) + " records");
  LatencyRun r;
  r.samples = result->from_emit.size();
  r.polls_per_s =
      static_cast<double>(result->source_calls) / std::max(1e-9, result->source_seconds);
  r.from_emit = percentiles(std::move(result->from_emit));
  r.from_due = percentiles(std::move(result->from_due));
  return r;
}

}  // namespace

void latency_figures(uint64_t latency_rate, double latency_seconds, Output& out, Output& extra) {
  struct Variant {
    const char* prefix;
    const char* what;
    sage::Config cfg;
  };
  std::vector<Variant> variants = {
      {"latency", "default config (buffer.timeout 10 ms, chaining on: 2 tasks)", job_config()},
      {"latency_bt0", "buffer.timeout 0 (2 tasks)", job_config({{"buffer.timeout", "0"}})},
      {"latency_unchained", "chaining=false (4 tasks, 3 hops)",
       job_config({{"chaining", "false"}})},
  };
  for (auto& v : variants) {
    std::fprintf(stderr, "latency [%s]: %llu records/s for %.1f s\n", v.what,
                 static_cast<unsigned long long>(latency_rate), latency_seconds);
    const LatencyRun r = latency_run(latency_rate, latency_seconds, v.cfg);
    std::fprintf(stderr,
                 "  %zu samples: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us "
                 "(from the scheduled time: p50 %.1f, p99 %.1f us); source polled %.0f times/s\n",
                 r.samples, r.from_emit.p50, r.from_emit.p99, r.from_emit.p999, r.from_emit.max,
                 r.from_due.p50, r.from_due.p99, r.polls_per_s);
    const std::string p = v.prefix;
    Output& o = (p == "latency") ? out : extra;
    o.add(p + "_p50_us", r.from_emit.p50, 1);
    o.add(p + "_p99_us", r.from_emit.p99, 1);
    extra.add(p + "_p999_us", r.from_emit.p999, 1);
    extra.add(p + "_max_us", r.from_emit.max, 1);
    if (p == "latency") {
      extra.add("latency_samples", static_cast<double>(r.samples), 0);
      extra.add("latency_from_schedule_p50_us", r.from_due.p50, 1);
      extra.add("latency_from_schedule_p99_us", r.from_due.p99, 1);
      extra.add("latency_source_polls_per_s", r.polls_per_s, 0);
    }
  }
  report_rss("latency");
}

}  // namespace sage::bench
