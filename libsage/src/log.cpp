#include <sage/detail/log.hpp>

#include <map>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace sage::detail {

std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name) {
  // One shared sink: every logger of SAGE writes to stderr, stdout belongs to print().
  static auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  logger->set_level(spdlog::get_level());
  return logger;
}

spdlog::logger& log(const std::string& component) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<spdlog::logger>> loggers;
  std::lock_guard<std::mutex> guard(mutex);
  auto& logger = loggers[component];
  if (!logger) logger = make_stderr_logger("sage." + component);
  return *logger;
}

}  // namespace sage::detail
