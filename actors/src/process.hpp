#pragma once
// Child processes of a cluster daemon: task hosts. Plain POSIX, no actors.

#include <sys/types.h>

#include <string>
#include <vector>

namespace sage::actors {

struct ProcessSpec {
  std::string program;
  std::string argv0;              ///< the name it runs under (default: `program`)
  std::vector<std::string> args;  ///< argv[1..]
  std::vector<std::string> env;   ///< "KEY=value", added to this process's environment
  std::string working_dir;
  std::string log_path;  ///< stdout and stderr are appended here
  /// If set, the child's descriptor 3: the write end of a pipe on which the task
  /// host says it is up (docs: "Load"), so that its node can pace launches.
  int ready_fd = -1;
};

/// Starts a process that is killed when this process ends (so a worker that
/// stops or crashes leaves no task host behind). Throws `std::runtime_error`.
pid_t start_process(const ProcessSpec& spec);

/// "exited with status 3", "was killed by signal 9 (Killed)".
std::string describe_exit(int status);

/// The last non-empty line of a file (a task host's last words), or "".
std::string last_line(const std::string& path);

}  // namespace sage::actors
