// `sage job ...`: thin printing over actors/job_client.hpp; and `sage run`.

#include "job_commands.hpp"
#include "json.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <CLI/CLI.hpp>

#include <sage/detail/environment_variables.hpp>
#include <sage/job.hpp>

namespace sage::cli {

namespace {

std::string state_name(int32_t state) {
  return std::string(sage::to_string(static_cast<sage::JobState>(state)));
}

bool ended(int32_t state) { return sage::is_terminal(static_cast<sage::JobState>(state)); }

std::string local_time(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string duration(int64_t ms) {
  char buf[32];
  if (ms < 60'000)
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000);
  else if (ms < 3'600'000)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  return buf;
}

/// The positional `program` (`job submit`, `run`), required.
void add_program_option(CLI::App* cmd, std::string& program) {
  cmd->add_option("program", program, "the program, followed by its arguments")->required();
  cmd->prefix_command();  // everything after the program is the program's
}

/// The program `cmd` was given, then its arguments.
std::vector<std::string> program_and_arguments(const CLI::App* cmd, const std::string& program) {
  std::vector<std::string> all{program};
  for (const auto& extra : cmd->remaining()) all.push_back(extra);
  return all;
}

/// The state `sage job`'s subcommands write to.
struct JobFlags {
  std::string program;  // submit
  std::string id;
  std::string format = "table";
  int tail = -1;
  bool follow = false;
};

}  // namespace

Dispatch add_job_commands(CLI::App& app, HeadFlags& head) {
  auto* job = app.add_subcommand("job", "submit jobs to the cluster and manage them");
  job->require_subcommand(1);
  auto f = std::make_shared<JobFlags>();
  auto* submit = job->add_subcommand(
      "submit", "run a program whose RemoteEnvironment ships it to the cluster; prints the job id");
  add_head_options(submit, head);
  add_program_option(submit, f->program);
  auto* list = job->add_subcommand("list", "id, name, state, start time, run time, restarts");
  add_head_options(list, head);
  add_format_option(list, f->format);
  auto* status = job->add_subcommand(
      "status", "state, operators and instances (where each runs) with records in and out");
  add_head_options(status, head);
  add_job_id_option(status, f->id);
  add_format_option(status, f->format);
  std::vector<std::pair<CLI::App*, actors::JobCommand>> lifecycle;
  using actors::JobCommand;
  for (const auto& [command, help] : std::vector<std::pair<JobCommand, std::string>>{
           {JobCommand::stop, "stop gracefully: sources end, in-flight records drain"},
           {JobCommand::cancel, "stop at once"},
           {JobCommand::pause, "pause the sources"},
           {JobCommand::resume, "resume paused sources"},
           {JobCommand::remove, "forget an ended job and remove its logs"}}) {
    auto* cmd = job->add_subcommand(to_string(command), help);
    add_head_options(cmd, head);
    add_job_id_option(cmd, f->id);
    lifecycle.emplace_back(cmd, command);
  }
  auto* logs = job->add_subcommand("logs", "the job's log lines from every node");
  add_head_options(logs, head);
  add_job_id_option(logs, f->id);
  logs->add_option("--tail", f->tail, "only the last N lines");
  logs->add_flag("--follow", f->follow, "keep printing new lines until the job ends");

  return [=, &head]() -> std::optional<int> {
    if (!job->parsed()) return std::nullopt;
    const actors::HeadAddress at = head.resolve();
    // Qualified: actors:: (found by argument-dependent lookup) has functions of these names.
    if (submit->parsed()) return cli::job_submit(at, program_and_arguments(submit, f->program));
    if (list->parsed()) return cli::job_list(at, f->format);
    if (status->parsed()) return cli::job_status(at, f->id, f->format);
    if (logs->parsed()) return cli::job_logs(at, f->id, f->tail, f->follow);
    for (const auto& [cmd, command] : lifecycle)
      if (cmd->parsed()) return cli::job_command(at, f->id, command);
    return std::nullopt;
  };
}

Dispatch add_run_command(CLI::App& app) {
  auto program = std::make_shared<std::string>();
  auto* run = app.add_subcommand("run", "run a program locally, as LocalEnvironment does");
  add_program_option(run, *program);
  return [run, program]() -> std::optional<int> {
    if (!run->parsed()) return std::nullopt;
    // The program runs its pipelines on its own embedded actor system: replace this process.
    std::vector<std::string> all = program_and_arguments(run, *program);
    std::vector<char*> args;
    for (auto& a : all) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::cerr << "sage: cannot run " << all[0] << ": " << std::strerror(errno) << "\n";
    return 127;
  };
}

int job_submit(const actors::HeadAddress& head, const std::vector<std::string>& program) {
  // The program learns the head from SAGE_ADDRESS and reports the job's id on a pipe.
  int id_pipe[2];
  if (pipe2(id_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const int fd = dup(id_pipe[1]);  // without O_CLOEXEC: the program inherits it
    setenv(detail::env::address, (head.host + ":" + std::to_string(head.port)).c_str(), 1);
    setenv(detail::env::job_id_fd, std::to_string(fd).c_str(), 1);
    setenv(detail::env::job_submit, "1", 1);  // LocalEnvironments submit to the cluster too
    // The program presents the credentials this command found (SAGE_SECRET_FILE, ...).
    const std::string credentials = head.tls.env();
    const auto eq = credentials.find('=');
    setenv(credentials.substr(0, eq).c_str(), credentials.substr(eq + 1).c_str(), 1);
    std::vector<std::string> storage = program;
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "sage: cannot run %s: %s\n", program[0].c_str(), std::strerror(errno));
    _exit(127);
  }
  close(id_pipe[1]);
  // Job ids as the program's RemoteEnvironments submit them, while it runs.
  size_t submitted = 0;
  std::thread reader([fd = id_pipe[0], &submitted] {
    std::string pending;
    char buf[128];
    for (;;) {
      const auto n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        std::cerr << "sage: job " << pending.substr(0, nl) << " submitted" << std::endl;
        ++submitted;
        pending.erase(0, nl + 1);
      }
    }
    close(fd);
  });
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  reader.join();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && submitted == 0) {
    std::cerr << "sage: " << program[0]
              << " submitted no job to the cluster (it exited 0 without building and submitting "
                 "a pipeline)\n";
    return 1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  std::cerr << "sage: " << program[0] << " ended by signal " << WTERMSIG(status) << "\n";
  return 128 + WTERMSIG(status);
}

int job_list(const actors::HeadAddress& head, const std::string& format) {
  const auto jobs = actors::list_jobs(head);
  if (format == "json") {
    Json out = Json::array();
    for (const auto& j : jobs)
      out.push_back({{"id", j.id},
                     {"name", j.name},
                     {"state", state_name(j.state)},
                     {"submitted_ms", j.submitted_ms},
                     {"run_time_ms", j.run_time_ms},
                     {"restarts", 0}});
    std::cout << to_line(out) << "\n";
    return 0;
  }
  std::printf("%-32s  %-16s %-9s %-19s %9s %8s\n", "ID", "NAME", "STATE", "STARTED", "RUN TIME",
              "RESTARTS");
  for (const auto& j : jobs)
    std::printf("%-32s  %-16s %-9s %-19s %9s %8d\n", j.id.c_str(), j.name.c_str(),
                state_name(j.state).c_str(), local_time(j.submitted_ms).c_str(),
                duration(j.run_time_ms).c_str(), 0);
  return 0;
}

int job_status(const actors::HeadAddress& head, const std::string& id, const std::string& format) {
  const auto r = actors::job_status(head, id);
  if (format == "json") {
    Json operators = Json::array();
    for (const auto& op : r.operators)
      operators.push_back(
          {{"name", op.name},
           {"parallelism", op.parallelism},
           {"records_in", op.records_in},
           {"records_out", op.records_out},
           {"records_late_dropped", op.records_late_dropped},
           {"watermark", op.watermark == std::numeric_limits<int64_t>::min() ? Json(nullptr)
                                                                             : Json(op.watermark)},
           {"watermark_held_by", op.watermark_held_by}});
    Json instances = Json::array();
    for (const auto& t : r.tasks)
      instances.push_back({{"task", t.chain},
                           {"instance", t.instance},
                           {"node", t.node},
                           {"records_in", t.records_in},
                           {"records_out", t.records_out},
                           {"backpressure", t.backpressure}});
    Json services = Json::array();
    for (const auto& svc : r.services)
      services.push_back({{"name", svc.name},
                          {"parallelism", svc.parallelism},
                          {"nodes", svc.nodes},
                          {"calls", svc.calls},
                          {"restarts", svc.restarts}});
    std::cout << to_line({{"id", r.id},
                          {"name", r.name},
                          {"state", state_name(r.state)},
                          {"error", r.error},
                          {"submitted_ms", r.submitted_ms},
                          {"run_time_ms", r.run_time_ms},
                          {"operators", operators},
                          {"instances", instances},
                          {"services", services}})
              << "\n";
    return 0;
  }
  std::printf("job %s (%s): %s, submitted %s, running for %s\n", r.id.c_str(), r.name.c_str(),
              state_name(r.state).c_str(), local_time(r.submitted_ms).c_str(),
              duration(r.run_time_ms).c_str());
  if (!r.error.empty()) std::printf("error: %s\n", r.error.c_str());
  // The watermark (event time reached, ms) and what holds it back: where to
  // look when windows do not fire.
  std::printf("\n%-24s %11s %14s %14s %10s %15s %s\n", "OPERATOR", "PARALLELISM", "RECORDS IN",
              "RECORDS OUT", "LATE", "WATERMARK", "HELD BY");
  for (const auto& op : r.operators) {
    std::string wm = op.watermark == std::numeric_limits<int64_t>::min() ? "-"
                     : op.watermark == std::numeric_limits<int64_t>::max()
                         ? "end"
                         : std::to_string(op.watermark);
    std::printf("%-24s %11d %14llu %14llu %10llu %15s %s\n", op.name.c_str(), op.parallelism,
                static_cast<unsigned long long>(op.records_in),
                static_cast<unsigned long long>(op.records_out),
                static_cast<unsigned long long>(op.records_late_dropped), wm.c_str(),
                op.watermark_held_by.c_str());
  }
  // Backpressure: the share of the run the task waited for credit from downstream.
  std::printf("\n%-32s %8s %-28s %14s %14s %13s\n", "TASK", "INSTANCE", "NODE", "RECORDS IN",
              "RECORDS OUT", "BACKPRESSURE");
  for (const auto& t : r.tasks)
    std::printf("%-32s %8d %-28s %14llu %14llu %12.0f%%\n", t.chain.c_str(), t.instance,
                t.node.c_str(), static_cast<unsigned long long>(t.records_in),
                static_cast<unsigned long long>(t.records_out), 100 * t.backpressure);
  if (!r.services.empty()) {
    std::printf("\n%-24s %11s %14s %10s %s\n", "SERVICE", "PARALLELISM", "CALLS", "RESTARTS",
                "NODES");
    for (const auto& svc : r.services) {
      std::string nodes;
      for (const auto& n : svc.nodes) nodes += (nodes.empty() ? "" : ", ") + n;
      std::printf("%-24s %11d %14llu %10llu %s\n", svc.name.c_str(), svc.parallelism,
                  static_cast<unsigned long long>(svc.calls),
                  static_cast<unsigned long long>(svc.restarts), nodes.c_str());
    }
  }
  return 0;
}

int job_command(const actors::HeadAddress& head, const std::string& id,
                actors::JobCommand command) {
  using actors::JobCommand;
  const auto job = actors::job_status(head, id);  // resolves a prefix, refuses an unknown id
  if (command != JobCommand::remove && ended(job.state)) {
    std::cerr << "sage: job " << job.id << " has already ended (" << state_name(job.state) << ")\n";
    return 1;
  }
  actors::job_command(head, job.id, command);
  if (command == JobCommand::stop || command == JobCommand::cancel) {
    // Graceful: wait until the in-flight records drained and the job ended.
    for (int i = 0; i < 600; ++i) {
      actors::JobReport now;
      try {
        now = actors::job_status(head, job.id);
      } catch (const std::exception&) {  // asked just as the job ended: ask again
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (ended(now.state)) {
        std::cout << "sage: job " << job.id << " " << state_name(now.state) << "\n";
        return now.state == static_cast<int32_t>(sage::JobState::failed) ? 1 : 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cerr << "sage: job " << job.id << " did not end within 60 s\n";
    return 1;
  }
  std::cout << "sage: job " << job.id << " "
            << (command == JobCommand::pause    ? "paused"
                : command == JobCommand::resume ? "resumed"
                                                : "deleted")
            << "\n";
  return 0;
}

int job_logs(const actors::HeadAddress& head, const std::string& id, int tail, bool follow) {
  const auto job = actors::job_status(head, id);
  std::vector<uint64_t> offsets;
  // Prints each node's new lines, prefixed with the node; keeps at most `tail` lines when asked.
  auto print = [&](const actors::LogChunk& chunk, bool apply_tail) {
    std::vector<std::string> lines;
    for (size_t n = 0; n < chunk.nodes.size(); ++n) {
      std::istringstream in(chunk.texts[n]);
      for (std::string line; std::getline(in, line);)
        lines.push_back("[" + chunk.nodes[n] + "] " + line);
    }
    size_t first = 0;
    if (apply_tail && tail >= 0 && lines.size() > static_cast<size_t>(tail))
      first = lines.size() - static_cast<size_t>(tail);
    for (size_t i = first; i < lines.size(); ++i) std::cout << lines[i] << "\n";
    std::cout.flush();
    offsets = chunk.next;
  };
  print(actors::job_logs(head, job.id, offsets), true);
  if (!follow) return 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const bool was_running = !ended(actors::job_status(head, job.id).state);
    print(actors::job_logs(head, job.id, offsets), false);
    if (!was_running) return 0;  // the job had ended: nothing more will come
  }
}

}  // namespace sage::cli
