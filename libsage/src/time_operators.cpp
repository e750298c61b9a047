#include <sage/detail/time_operators.hpp>

#include <sage/error.hpp>

namespace sage::detail {

int64_t watermark_interval_ms(const Config& config) {
  const int64_t ms = config.get_int(config_keys::watermark_interval, 200);
  if (ms < 1)
    throw GraphError("config 'watermark.interval' must be at least 1 ms, got " +
                     std::to_string(ms));
  return ms;
}

}  // namespace sage::detail
