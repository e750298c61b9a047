#pragma once
/// @file environment_variables.hpp (internal: not installed)
/// Every environment variable SAGE reads or sets, by one name each, and the
/// head's default port: what a program, the `sage` command, a cluster daemon and
/// the task hosts it starts must agree on (docs/operations.md describes them).

#include <cstdint>
#include <cstdlib>
#include <string>

namespace sage::detail::env {

// -- set by the user, or by `sage job submit` for the program it runs ---------------------

/// The head's HOST:PORT (`sage job submit --address` passes it on).
inline constexpr char address[] = "SAGE_ADDRESS";
/// "1": the program runs under `sage job submit`, which waits for its job ids.
inline constexpr char job_submit[] = "SAGE_JOB_SUBMIT";
/// The file descriptor the program writes its job ids to, under `sage job submit`.
inline constexpr char job_id_fd[] = "SAGE_JOB_ID_FD";
/// Credentials: a directory of TLS files, a cluster secret's file, or "1": none.
inline constexpr char tls_dir[] = "SAGE_TLS_DIR";
inline constexpr char secret_file[] = "SAGE_SECRET_FILE";
inline constexpr char insecure[] = "SAGE_INSECURE";

// -- set by a cluster daemon for a task host it starts (node_actor.cpp) -------------------

/// The id of the job the task host serves; set: this process is a task host.
inline constexpr char task_host[] = "SAGE_TASK_HOST";
inline constexpr char task_host_index[] = "SAGE_TASK_HOST_INDEX";
inline constexpr char task_host_fingerprint[] = "SAGE_TASK_HOST_FINGERPRINT";
inline constexpr char task_host_bind[] = "SAGE_TASK_HOST_BIND";
/// Which of the program's cluster jobs (in submission order) it serves.
inline constexpr char task_host_submission[] = "SAGE_TASK_HOST_SUBMISSION";
/// The pipe the task host writes to once it listens.
inline constexpr char task_host_ready_fd[] = "SAGE_TASK_HOST_READY_FD";
inline constexpr char head_address[] = "SAGE_HEAD_ADDRESS";
/// The submitting program's node, for replays and collect() records.
inline constexpr char submitter_address[] = "SAGE_SUBMITTER_ADDRESS";

/// "NAME=value", for a child's environment.
inline std::string assignment(const char* name, const std::string& value) {
  return std::string(name) + "=" + value;
}

}  // namespace sage::detail::env

namespace sage::detail {

/// The environment variable `name`, or `fallback` if it is not set.
inline std::string env_or(const char* name, std::string fallback = {}) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : fallback;
}

/// The port a cluster's head listens on unless told otherwise.
inline constexpr uint16_t default_head_port = 19001;

}  // namespace sage::detail
