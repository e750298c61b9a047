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

namespace sage::actors {

struct HeadAddress {
  std::string host = "127.0.0.1";
  uint16_t port = 19001;
  TlsFiles tls;
};

/// Every job the head knows (running, and the last ended ones), without counters.
std::vector<JobReport> list_jobs(const HeadAddress& head);
/// One job, by its id or a unique prefix of it, with its counters.
JobReport job_status(const HeadAddress& head, const std::string& id_or_prefix);
/// `stop` (graceful), `cancel`, `pause`, `resume` or `delete` a job (a full id).
void job_command(const HeadAddress& head, const std::string& id, const std::string& command);
/// The job's log text on every node, each from its offset in `offsets` on.
LogChunk job_logs(const HeadAddress& head, const std::string& id,
                  const std::vector<uint64_t>& offsets);

}  // namespace sage::actors
