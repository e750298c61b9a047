#pragma once
// `sage job ...` (../shared/spec/CLI.md): submit, list, status, stop, cancel, pause,
// resume, delete, logs. Each returns the command's exit status.

#include <string>
#include <vector>

#include "head_flags.hpp"

#include <sage/actors/job_client.hpp>

namespace sage::cli {

/// Adds `job` and its subcommands to `app`; their --address and credentials go to
/// `head`, the rest to state the returned Dispatch owns (keep both until it ran).
Dispatch add_job_commands(CLI::App& app, HeadFlags& head);

/// Adds `run PROGRAM [args...]` to `app`: the program runs locally, on its own
/// embedded actor system, in place of this process.
Dispatch add_run_command(CLI::App& app);

/// Runs `program args...` as the job's submitter, against the head `head`: its
/// environments (Local or Remote) submit to that cluster, which ships the program. Prints the job
/// id once the head accepted the job, then the program's own output; returns its exit status.
int job_submit(const actors::HeadAddress& head, const std::vector<std::string>& program);
int job_list(const actors::HeadAddress& head, const std::string& format);
int job_status(const actors::HeadAddress& head, const std::string& id, const std::string& format);
/// stop (waits until the job drained), cancel, pause, resume, delete.
int job_command(const actors::HeadAddress& head, const std::string& id, actors::JobCommand command);
int job_logs(const actors::HeadAddress& head, const std::string& id, int tail, bool follow);

}  // namespace sage::cli
