#include <sage/detail/job_spec.hpp>

#include <sage/error.hpp>

namespace sage::detail {

namespace {

/// Above this a record cannot cross a node (protocol.hpp's receiving limit).
constexpr size_t max_record_bytes = size_t{1} << 30;

}  // namespace

void read_job_settings(JobSpec& spec, const Config& config) {
  spec.batch_size = static_cast<size_t>(config.get_int(config_keys::batch_size, 4096));
  spec.buffer_timeout_ms = static_cast<int>(config.get_int(config_keys::buffer_timeout, 10));
  spec.channel_credits = static_cast<int>(config.get_int(config_keys::channel_credits, 8));
  spec.batch_bytes = config.get_bytes(config_keys::batch_max_bytes, uint64_t{1} << 20);
  spec.record_max_bytes = config.get_bytes(config_keys::record_max_bytes, uint64_t{256} << 20);
  if (spec.batch_bytes < 1 || spec.record_max_bytes < 1)
    throw GraphError("config 'batch.max_bytes' and 'record.max_bytes' must be at least 1 byte");
  if (spec.record_max_bytes > max_record_bytes)
    throw GraphError("config 'record.max_bytes' may be at most 1 GiB");
  if (spec.batch_size < 1) throw GraphError("config 'batch.size' must be at least 1");
  if (spec.channel_credits < 1) throw GraphError("config 'channel.credits' must be at least 1");
  if (spec.buffer_timeout_ms < 0) throw GraphError("config 'buffer.timeout' must not be negative");
  if (config.contains("placement")) {
    const auto p = config.get_string("placement", "");
    spec.placement = placement_mode_named(p);
    if (!spec.placement)
      throw GraphError("config 'placement' must be 'local', 'spread' or 'cluster', not '" + p +
                       "'");
  }
}

const char* to_string(PlacementMode mode) {
  switch (mode) {
    case PlacementMode::local:
      return "local";
    case PlacementMode::spread:
      return "spread";
    case PlacementMode::cluster:
      return "cluster";
  }
  return "unknown";
}

std::optional<PlacementMode> placement_mode_named(std::string_view name) {
  for (auto mode : {PlacementMode::local, PlacementMode::spread, PlacementMode::cluster})
    if (name == to_string(mode)) return mode;
  return std::nullopt;
}

}  // namespace sage::detail
