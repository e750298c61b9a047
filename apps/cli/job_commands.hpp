#pragma once
// `sage job ...` (../shared/spec/CLI.md): submit, list, status, stop, cancel, pause,
// resume, delete, logs. Each returns the command's exit status.

#include <string>
#include <vector>

#include <sage/actors/job_client.hpp>

namespace sage::cli {

/// Runs `program args...` as the job's submitter, against the head `head`: its
/// environments (Local or Remote) submit to that cluster, which ships the program. Prints the job
/// id once the head accepted the job, then the program's own output; returns its exit status.
int job_submit(const actors::HeadAddress& head, const std::vector<std::string>& program);
int job_list(const actors::HeadAddress& head, const std::string& format);
int job_status(const actors::HeadAddress& head, const std::string& id, const std::string& format);
/// stop (waits until the job drained), cancel, pause, resume, delete.
int job_command(const actors::HeadAddress& head, const std::string& id, const std::string& command);
int job_logs(const actors::HeadAddress& head, const std::string& id, int tail, bool follow);

}  // namespace sage::cli
