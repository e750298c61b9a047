#pragma once
/// @file job_spec.hpp (internal: not installed)
/// A compiled job, as the runtime receives it: the graph, its physical plan,
/// the job's settings, and where its collected records go.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sage/collected.hpp>
#include <sage/config.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/job_handle.hpp>
#include <sage/detail/plan.hpp>
#include <sage/job.hpp>

namespace sage::detail {

class ServiceClient;

/// Where a cluster places a job's tasks (config `placement`). `collect()` sinks
/// run at the submitter in every mode.
enum class PlacementMode : uint8_t {
  local,    ///< every task on the submitting process's node
  spread,   ///< chain by chain, in turn over every node (makes channels cross nodes)
  cluster,  ///< by resources, on the least loaded nodes that fit
};

const char* to_string(PlacementMode mode);
/// The mode a config value names, if it names one.
std::optional<PlacementMode> placement_mode_named(std::string_view name);

/// A compiled job, immutable once submitted; shared by every task of the job.
struct JobSpec {
  JobId id;
  std::string name;
  Graph graph;
  PhysicalPlan plan;
  std::shared_ptr<const Config> config;
  std::shared_ptr<JobHandle> handle;
  size_t batch_size = 4096;
  size_t batch_bytes = size_t{1} << 20;
  size_t record_max_bytes = size_t{256} << 20;
  int buffer_timeout_ms = 10;
  int channel_credits = 8;
  /// Config `placement`; unset: the runtime's default (a cluster's client: cluster).
  std::optional<PlacementMode> placement;
  /// Where its operators' and services' calls go (the runtime's router).
  std::shared_ptr<ServiceClient> services;
  /// The job's `collect()` buffers, in the order of the calls.
  std::vector<std::shared_ptr<JobEndListener>> outputs;
};

/// Reads the job's settings from `config` into `spec` (batch size and bytes,
/// record limit, buffer timeout, credits, placement); a value out of range is
/// a `GraphError` naming the key.
void read_job_settings(JobSpec& spec, const Config& config);

}  // namespace sage::detail
