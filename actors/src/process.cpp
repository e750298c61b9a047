// Child processes of a cluster daemon (see process.hpp).

#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace sage::actors {

pid_t start_process(const ProcessSpec& spec) {
  // Everything the child needs is prepared before fork: after it, in a
  // multithreaded process, the child may only make async-signal-safe calls.
  std::vector<std::string> argv_storage{spec.argv0.empty() ? spec.program : spec.argv0};
  argv_storage.insert(argv_storage.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e)  // SAGE_* settings are the child's own only
    if (std::strncmp(*e, "SAGE_", 5) != 0) env_storage.emplace_back(*e);
  env_storage.insert(env_storage.end(), spec.env.begin(), spec.env.end());
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int log = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0)
    throw std::runtime_error("cannot open " + spec.log_path + ": " + std::strerror(errno));
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(log);
    if (devnull >= 0) ::close(devnull);
    throw std::runtime_error(std::string("cannot fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
    ::setpgid(0, 0);  // a Ctrl-C meant for the daemon's terminal is not the task host's
    sigset_t none;    // what the forking thread blocks is not the child's
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    if (::chdir(spec.working_dir.c_str()) != 0) ::_exit(126);
    if (spec.ready_fd >= 0) {
      if (spec.ready_fd != 3)
        ::dup2(spec.ready_fd, 3);  // dup2 clears close-on-exec
      else
        ::fcntl(3, F_SETFD, 0);
    }
    // Nothing else of this process's goes along (a file another thread is
    // writing, a socket): the task host would hold it for its whole life.
    ::close_range(spec.ready_fd >= 0 ? 4 : 3, ~0U, 0);
    ::execve(spec.program.c_str(), argv.data(), envp.data());
    static const char message[] = "sage: cannot execute the job's program\n";
    [[maybe_unused]] auto ignored = ::write(2, message, sizeof message - 1);
    ::_exit(127);
  }
  ::close(log);
  if (devnull >= 0) ::close(devnull);
  return pid;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  return "ended (status " + std::to_string(status) + ")";
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  // A log line of ours: "[time] [logger] [level] text" says enough as "text".
  for (int field = 0; field < 3 && last.starts_with('['); ++field) {
    const auto close = last.find("] ");
    if (close == std::string::npos) break;
    last.erase(0, close + 2);
  }
  return last;
}

}  // namespace sage::actors
