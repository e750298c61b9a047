#include <sage/detail/job_spec.hpp>

namespace sage::detail {

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
