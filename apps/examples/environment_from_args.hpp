#pragma once
/// @file environment_from_args.hpp
/// How the examples choose where to run: `--address HOST:PORT` submits to a
/// cluster's head (a RemoteEnvironment), otherwise the job runs in this
/// process (a LocalEnvironment, or the cluster under `sage job submit`).

#include <cstdint>
#include <memory>
#include <string>

#include <sage/sage.hpp>

namespace sage_examples {

inline std::unique_ptr<sage::Environment> environment_from_args(const std::string& name,
                                                                const sage::Config& config) {
  const auto address = config.get_string("address", "");
  if (address.empty()) return std::make_unique<sage::LocalEnvironment>(name, config);
  const auto colon = address.rfind(':');
  if (colon == std::string::npos)
    throw sage::GraphError("--address must be HOST:PORT, got '" + address + "'");
  return std::make_unique<sage::RemoteEnvironment>(
      name, address.substr(0, colon), static_cast<uint16_t>(std::stoul(address.substr(colon + 1))),
      config);
}

}  // namespace sage_examples
