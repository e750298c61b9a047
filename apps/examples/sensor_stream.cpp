// An unbounded stream: simulated sensors report temperatures forever; a keyed
// operator keeps each sensor's running mean. Stop it with Ctrl-C: the job stops
// gracefully (the source ends its stream, in-flight readings drain, every
// operator's close() runs) and the program prints the final means.
//
// Usage: sage-sensor-stream [--sensors N] [--rate READINGS_PER_S] [--report-every N]

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>

#include <sage/sage.hpp>

namespace {

struct Reading {
  int sensor;
  double celsius;
};

/// Emits `rate` readings per second, round the sensors; never ends by itself.
class Sensors : public sage::SourceFunction<Reading> {
 public:
  Sensors(int sensors, int64_t rate) : sensors_(sensors), rate_(rate) {}
  void open(sage::RuntimeContext&) override { start_ = std::chrono::steady_clock::now(); }
  void execute(sage::SourceContext<Reading>& ctx) override {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const auto due = static_cast<int64_t>(elapsed * static_cast<double>(rate_));
    for (int i = 0; i < 1000 && sent_ < due; ++i, ++sent_) {
      const int sensor = static_cast<int>(sent_ % sensors_);
      ctx.emit(Reading{sensor, 20.0 + sensor + std::sin(static_cast<double>(sent_) / 1000.0)});
    }
    // Nothing due yet: returning without emitting means "nothing now".
  }

 private:
  int sensors_;
  int64_t rate_;
  int64_t sent_ = 0;
  std::chrono::steady_clock::time_point start_;
};

/// Keyed by sensor: the running mean of the current sensor.
class RunningMean : public sage::MapFunction<Reading, std::pair<int, double>> {
 public:
  std::pair<int, double> execute(const Reading& r) override {
    auto& [n, sum] = state_[ctx().key<int>()];
    ++n;
    sum += r.celsius;
    return {r.sensor, sum / static_cast<double>(n)};
  }

 private:
  std::map<int, std::pair<int64_t, double>> state_;
};

/// Reports progress now and then, and the final means when the stream ends.
class Report : public sage::SinkFunction<std::pair<int, double>> {
 public:
  explicit Report(int64_t every) : every_(every) {}
  void execute(const std::pair<int, double>& m) override {
    latest_[m.first] = m.second;
    if (++seen_ % every_ == 0) {
      std::printf("processed %lld readings\n", static_cast<long long>(seen_));
      std::fflush(stdout);
    }
  }
  void close() override {
    std::printf("stopped after %lld readings; running means:\n", static_cast<long long>(seen_));
    for (const auto& [sensor, mean] : latest_) std::printf("  sensor %d: %.3f C\n", sensor, mean);
    std::fflush(stdout);
  }

 private:
  int64_t every_;
  int64_t seen_ = 0;
  std::map<int, double> latest_;
};

}  // namespace

int run(int argc, char** argv) {
  sage::Config config;
  config.merge_args(argc, argv);
  const auto sensors = static_cast<int>(config.get_int("sensors", 8));
  const auto rate = config.get_int("rate", 20000);
  const auto every = config.get_int("report-every", 10000);

  sage::LocalEnvironment env("sensor-stream", config);
  env.from_source<Sensors>(sensors, rate)
      .name("sensors")
      .key_by([](const Reading& r) { return r.sensor; })
      .map<RunningMean>()
      .name("mean")
      .parallelism(2)
      .sink<Report>(every)
      .name("report");
  try {
    env.submit(/*autostop=*/true);  // runs until Ctrl-C
  } catch (const sage::JobFailed& e) {
    std::fprintf(stderr, "sage-sensor-stream: %s\n", e.what());
    return 1;
  }
  std::printf("job %s\n", std::string(sage::to_string(env.status().state)).c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bad argument or pipeline: one line, not a core dump
    std::fprintf(stderr, "sage-sensor-stream: %s\n", e.what());
    return 1;
  }
}
