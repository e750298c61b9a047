#pragma once
/// @file job_client.hpp
/// The requests of `sage job ...`: what a client asks a cluster's head about
/// its jobs. Each call connects, asks, and throws `std::runtime_error` with a
/// one-line reason when the head cannot be reached or refuses.

#include <cstdint>
#include <string>
#include <vector>

#include <sage/actors/cluster.hpp>
#include <sage/actors/job_report.hpp>
#include <sage/detail/environment_variables.hpp>

namespace sage::actors {

struct HeadAddress {
  std::string host = "127.0.0.1";
  uint16_t port = detail::default_head_port;
  TlsFiles tls;
};

/// Every job the head knows (running, and the last ended ones), without counters.
std::vector<JobReport> list_jobs(const HeadAddress& head);
/// One job, by its id or a unique prefix of it, with its counters.
JobReport job_status(const HeadAddress& head, const std::string& id_or_prefix);
/// What `sage job stop|cancel|pause|resume|delete` asks of a job.
enum class JobCommand : uint8_t {
  stop,    ///< graceful: sources end, in-flight records drain
  cancel,  ///< at once
  pause,   ///< sources pause
  resume,  ///< paused sources go on
  remove,  ///< forget an ended job and remove its logs (`delete`)
};
/// The subcommand's name: "stop", ..., "delete".
const char* to_string(JobCommand command);

/// Asks the head to carry out `command` on job `id` (a full id).
void job_command(const HeadAddress& head, const std::string& id, JobCommand command);
/// The job's log text on every node, each from its offset in `offsets` on.
LogChunk job_logs(const HeadAddress& head, const std::string& id,
                  const std::vector<uint64_t>& offsets);

}  // namespace sage::actors
