// sage-bench's shared helpers: failing, running a job and measuring the cores it
// kept busy, the base config, RSS figures and the `name value` output.

#include "bench_common.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>

namespace sage::bench {

double g_last_job_cores = 0;
sage::Config g_base_config;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "sage-bench: ERROR: %s\n", what.c_str());
  std::exit(2);
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void run_job(sage::Environment& env) {
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  try {
    env.submit(/*autostop=*/true);
  } catch (const std::exception& e) {
    fail(std::string("job '") + env.name() + "' failed: " + e.what());
  }
  g_last_job_cores = (cpu_seconds() - cpu0) / std::max(1e-9, seconds_since(t0));
}

sage::Config job_config(std::initializer_list<std::pair<const std::string, std::string>> extra) {
  sage::Config c = g_base_config;
  for (const auto& [k, v] : extra) c.set(k, v);
  return c;
}

std::unique_ptr<sage::LocalEnvironment> start_runtime() {
  auto keeper = std::make_unique<sage::LocalEnvironment>("bench-warmup", job_config());
  keeper->from_batch({1, 2, 3}).sink([](const int&) {});
  run_job(*keeper);
  return keeper;
}

double rss_mb() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

double status_mb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::strtod(line.c_str() + field.size() + 1, nullptr) / 1024.0;
  return -1;
}

void report_rss(const char* after) {
  std::fprintf(stderr, "  (after %s: RSS %.1f MB, VmHWM %.1f MB)\n", after, rss_mb(),
               status_mb("VmHWM"));
}

void Output::add(const std::string& name, double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  pairs.emplace_back(name, buf);
}

void Output::print() const {
  for (const auto& [k, v] : pairs) std::printf("%s %s\n", k.c_str(), v.c_str());
}

}  // namespace sage::bench
