// The `sage` command (../shared/spec/CLI.md): starts and stops cluster nodes and
// asks the head about them. Everything it does goes through actors/cluster.hpp.
//
//   sage cluster start --head [--port 19001] [--bind 127.0.0.1] [--state-dir ~/.sage]
//   [--foreground] sage cluster start --worker --head-address HOST:PORT [--cpus N] [--memory SIZE]
//   [--gpus N]
//                      [--label K=V]... [--port 0] [--bind 127.0.0.1] [--state-dir] [--foreground]
//   sage cluster status [--address HOST:PORT] [--format table|json]
//   sage cluster stop [--all] [--address HOST:PORT]
//   sage job submit ./app [args...]
//   sage job list [--format table|json]
//   sage job status ID [--format table|json]
//   sage job stop|cancel|pause|resume|delete ID
//   sage job logs ID [--tail N] [--follow]
//   sage run ./app [args...]
//
// The head's address comes from --address, else SAGE_ADDRESS, else 127.0.0.1:19001.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include <spdlog/sinks/basic_file_sink.h>
#include <CLI/CLI.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/config.hpp>

#include <sage/detail/log.hpp>
#include "job_commands.hpp"
#include "json.hpp"

namespace {

using sage::actors::ClusterStatus;

struct Address {
  std::string host = "127.0.0.1";
  uint16_t port = 19001;
};

/// "HOST:PORT" (the port may be omitted: 19001).
Address parse_address(const std::string& text) {
  const auto parsed = sage::actors::parse_host_port(text, 19001);
  if (!parsed) throw CLI::ValidationError("address", "cannot read '" + text + "' as HOST:PORT");
  return Address{parsed->host, parsed->port};
}

Address resolve_head_address(const std::string& flag) {
  if (!flag.empty()) return parse_address(flag);
  if (const char* env = std::getenv("SAGE_ADDRESS"); env != nullptr && *env != 0)
    return parse_address(env);
  return Address{};
}

/// The size given to `option`, in megabytes: "512" (MB), "512M", "4G", ... (see
/// `sage::parse_size`); "auto": this machine's physical memory.
int64_t parse_memory_mb(const std::string& text, const std::string& option = "--memory") {
  if (text == "auto")
    return static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) >> 20;
  const auto bytes = sage::parse_size(text, uint64_t{1} << 20);
  if (!bytes)
    throw CLI::ValidationError(option, "cannot read size '" + text + "' (use e.g. 512M or 4G)");
  return static_cast<int64_t>(*bytes >> 20);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string default_state_dir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.sage";
}

/// Whether `pid` runs (a zombie, killed but not yet reaped, does not).
bool process_runs(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');  // "pid (name) state ..."
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

/// Runs `run` as a daemon: forks, detaches, logs to `<state_dir>/<name>.log`, and
/// returns in the parent once the daemon serves (printing where) or failed.
int daemonize(const std::string& state_dir_arg, const std::string& name,
              const std::function<int(const sage::actors::ReadyCallback&)>& run) {
  const std::string state_dir = std::filesystem::absolute(state_dir_arg).string();
  std::filesystem::create_directories(state_dir);
  const std::string log_path = state_dir + "/" + name + ".log";
  const std::string pid_path = state_dir + "/" + name + ".pid";
  if (std::ifstream pid_file(pid_path); pid_file) {
    pid_t other = 0;
    if (pid_file >> other && other > 0 && process_runs(other))
      throw std::runtime_error("a " + name + " already runs from " + state_dir + " (pid " +
                               std::to_string(other) +
                               "): stop it, or give this one its own --state-dir");
  }
  int ready_pipe[2];
  if (pipe2(ready_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {  // the daemon: detached, quiet, holding no descriptor of its caller
    setsid();
    const int devnull = open("/dev/null", O_RDONLY);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(devnull, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    const int keep = ready_pipe[1];
    for (int fd = 3; fd < keep; ++fd) close(fd);
    close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
    if (chdir("/") != 0) _exit(1);
    std::ofstream(pid_path) << getpid() << "\n";
    const int rc = run([&](const std::string& host, uint16_t port) {
      const std::string line = host + ":" + std::to_string(port) + "\n";
      (void)!write(keep, line.data(), line.size());
      close(keep);
    });
    // Remove the pid file only if it is still ours.
    pid_t recorded = 0;
    if (std::ifstream in(pid_path); in >> recorded && recorded == getpid())
      std::filesystem::remove(pid_path);
    _exit(rc);
  }
  close(ready_pipe[1]);
  std::string line;
  char buf[256];
  pollfd p{ready_pipe[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&p, 1, 30000) > 0) {
    const auto n = read(ready_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(ready_pipe[0]);
  if (line.find('\n') == std::string::npos) {
    std::ifstream log(log_path);
    std::string l, last;
    while (std::getline(log, l)) last = l;
    throw std::runtime_error("the " + name + " did not start" + (last.empty() ? "" : ": " + last) +
                             " (log: " + log_path + ")");
  }
  line.pop_back();
  std::cout << "sage: " << name << " started (pid " << pid << "), listening on " << line
            << "; log: " << log_path << "\n";
  return 0;
}

void print_status(const ClusterStatus& s, const std::string& format, bool authenticated) {
  if (format == "json") {
    using sage::cli::Json;
    Json nodes = Json::array();
    for (const auto& n : s.nodes) {
      Json labels = Json::object();
      for (const auto& [key, value] : n.info.labels) labels[key] = value;
      Json node = {{"address", n.info.host + ":" + std::to_string(n.info.port)},
                   {"role", n.info.role},
                   {"cpus", n.info.cpus},
                   {"memory_mb", n.info.memory_mb},
                   {"gpus", n.info.gpus},
                   {"labels", labels},
                   {"running_tasks", n.running_tasks},
                   {"used_cpus", n.used_cpus},
                   {"used_memory_mb", n.used_memory_mb},
                   {"used_gpus", n.used_gpus},
                   {"state", n.alive ? "alive" : "lost"}};
      if (!n.alive) node["lost_reason"] = n.lost_reason;
      nodes.push_back(std::move(node));
    }
    Json jobs = Json::array();
    for (const auto& job : s.jobs)
      jobs.push_back({{"id", job.id}, {"name", job.name}, {"state", job.state}});
    std::cout << sage::cli::to_line({{"authenticated", authenticated},
                                     {"nodes", nodes},
                                     {"unregistered", s.unregistered},
                                     {"jobs", jobs}})
              << "\n";
    return;
  }
  if (!authenticated)
    std::printf(
        "WARNING: this cluster was started --insecure: it authenticates nobody, and any local "
        "user can run code on it as the user who started it\n\n");
  std::printf("%-22s %-7s %6s %10s %5s %6s %-6s %s\n", "NODE", "ROLE", "CPUS", "MEMORY", "GPUS",
              "TASKS", "STATE", "LABELS");
  for (const auto& n : s.nodes) {
    std::string labels;
    for (const auto& [k, v] : n.info.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    const std::string address = n.info.host + ":" + std::to_string(n.info.port);
    std::printf("%-22s %-7s %6g %8lldMB %5d %6d %-6s %s\n", address.c_str(), n.info.role.c_str(),
                n.info.cpus, static_cast<long long>(n.info.memory_mb), n.info.gpus, n.running_tasks,
                n.alive ? "alive" : "lost", labels.c_str());
  }
  if (!s.unregistered.empty()) {
    std::string list;
    for (const auto& a : s.unregistered) list += (list.empty() ? "" : " ") + a;
    std::printf("not registered with this head yet (workers of an earlier one): %s\n",
                list.c_str());
  }
  std::printf("\n%zu job(s)\n", s.jobs.size());
  for (const auto& j : s.jobs)
    std::printf("  %s  %-10s %s\n", j.id.c_str(), j.state.c_str(), j.name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SAGE: a streaming dataflow runtime. Start a cluster, inspect it, stop it."};
  app.require_subcommand(1);
  auto* cluster = app.add_subcommand("cluster", "start, inspect and stop cluster nodes");
  cluster->require_subcommand(1);

  // -- cluster start ---------------------------------------------------------------
  auto* start = cluster->add_subcommand("start", "start a head or a worker (in the background)");
  bool head = false, worker = false, foreground = false;
  std::string head_address, bind = "127.0.0.1", state_dir = default_state_dir(), memory = "auto";
  int port = -1;
  double cpus = static_cast<double>(std::thread::hardware_concurrency());
  int gpus = 0;
  std::vector<std::string> labels;
  auto* head_flag = start->add_flag("--head", head, "start the head: the JobManager and a node");
  auto* worker_flag =
      start->add_flag("--worker", worker, "start a worker node that registers with the head");
  head_flag->excludes(worker_flag);
  auto* head_address_opt =
      start->add_option("--head-address", head_address, "the head's HOST:PORT (workers)");
  auto* port_opt =
      start
          ->add_option("--port", port,
                       "port to listen on (head: 19001, worker: a free one; 0: a free one)")
          ->check(CLI::Range(0, 65535));
  auto* bind_opt = start->add_option("--bind", bind, "address to listen on (a loopback address)")
                       ->capture_default_str();
  auto* cpus_opt =
      start->add_option("--cpus", cpus, "cpus this node offers")->capture_default_str();
  auto* memory_opt =
      start->add_option("--memory", memory, "memory this node offers, e.g. 8G (auto: all of it)")
          ->capture_default_str();
  auto* gpus_opt =
      start->add_option("--gpus", gpus, "gpus this node offers")->capture_default_str();
  start->add_option("--label", labels, "a label K=V (repeatable)");
  start->add_option("--state-dir", state_dir, "where logs and pid files go")->capture_default_str();
  start->add_flag("--foreground", foreground, "stay attached (for systemd units and tests)");
  std::string tls_dir, secret_file;
  bool insecure = false;
  auto* start_tls_opt = start->add_option(
      "--tls-dir", tls_dir,
      "mutual TLS with certificates of your own: a directory with ca.crt, node.crt, node.key "
      "(SAGE_TLS_DIR)");
  start->add_option("--secret-file", secret_file,
                    "the cluster secret (head: created if missing; default "
                    "<state dir>/cluster.secret; workers: SAGE_SECRET_FILE, else "
                    "~/.sage/cluster.secret)");
  std::string max_program_size = "1G";
  start
      ->add_option("--max-program-size", max_program_size,
                   "the largest program the head stores for its jobs (head)")
      ->capture_default_str();
  start->add_flag("--insecure", insecure,
                  "no authentication: any local user can run code on the cluster (loopback only)");
  // Every command that talks to a cluster presents its credentials.
  auto credential_options = [&](CLI::App* cmd) {
    cmd->add_option("--secret-file", secret_file,
                    "the cluster secret (SAGE_SECRET_FILE, else ~/.sage/cluster.secret)");
    cmd->add_option("--tls-dir", tls_dir,
                    "mutual TLS: a directory with ca.crt, node.crt, node.key (SAGE_TLS_DIR)");
    cmd->add_flag("--insecure", insecure, "connect without credentials (an --insecure cluster)");
  };
  std::string config_file;
  start->add_option("--config", config_file,
                    "a YAML or TOML file of cluster.* and node.* settings "
                    "(cluster/sage.yaml); flags override it");

  // -- cluster status / stop -------------------------------------------------------------
  std::string address, format = "table";
  auto* status =
      cluster->add_subcommand("status", "nodes (address, resources, alive or lost) and jobs");
  status->add_option("--address", address, "the head's HOST:PORT");
  credential_options(status);
  status->add_option("--format", format, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
  bool all = false;
  auto* stop = cluster->add_subcommand("stop", "stop the head (and with --all, every worker)");
  stop->add_option("--address", address, "the head's HOST:PORT");
  credential_options(stop);
  stop->add_flag("--all", all, "stop every worker too");

  // -- job ------------------------------------------------------------------------------
  auto* job = app.add_subcommand("job", "submit jobs to the cluster and manage them");
  job->require_subcommand(1);
  auto head_options = [&](CLI::App* cmd) {
    cmd->add_option("--address", address, "the head's HOST:PORT");
    credential_options(cmd);
  };
  std::string submit_program;
  auto* job_submit = job->add_subcommand(
      "submit", "run a program whose RemoteEnvironment ships it to the cluster; prints the job id");
  head_options(job_submit);
  job_submit->add_option("program", submit_program, "the program, followed by its arguments")
      ->required();
  job_submit->prefix_command();
  auto* job_list = job->add_subcommand("list", "id, name, state, start time, run time, restarts");
  head_options(job_list);
  job_list->add_option("--format", format, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
  std::string job_id;
  auto* job_status = job->add_subcommand(
      "status", "state, operators and instances (where each runs) with records in and out");
  head_options(job_status);
  job_status->add_option("id", job_id, "the job's id or a unique prefix")->required();
  job_status->add_option("--format", format, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
  std::vector<std::pair<CLI::App*, std::string>> lifecycle;
  for (const auto& [name, help] : std::vector<std::pair<std::string, std::string>>{
           {"stop", "stop gracefully: sources end, in-flight records drain"},
           {"cancel", "stop at once"},
           {"pause", "pause the sources"},
           {"resume", "resume paused sources"},
           {"delete", "forget an ended job and remove its logs"}}) {
    auto* cmd = job->add_subcommand(name, help);
    head_options(cmd);
    cmd->add_option("id", job_id, "the job's id or a unique prefix")->required();
    lifecycle.emplace_back(cmd, name);
  }
  int tail = -1;
  bool follow = false;
  auto* job_logs = job->add_subcommand("logs", "the job's log lines from every node");
  head_options(job_logs);
  job_logs->add_option("id", job_id, "the job's id or a unique prefix")->required();
  job_logs->add_option("--tail", tail, "only the last N lines");
  job_logs->add_flag("--follow", follow, "keep printing new lines until the job ends");

  // -- run ----------------------------------------------------------------------------
  std::string run_program;
  auto* run_cmd = app.add_subcommand("run", "run a program locally, as LocalEnvironment does");
  run_cmd->add_option("program", run_program, "the program, followed by its arguments")->required();
  run_cmd->prefix_command();  // everything after the program is the program's

  CLI11_PARSE(app, argc, argv);

  if (run_cmd->parsed()) {
    // The program runs its pipelines on its own embedded actor system: replace this process.
    std::vector<std::string> program{run_program};
    for (const auto& extra : run_cmd->remaining()) program.push_back(extra);
    std::vector<char*> args;
    for (auto& a : program) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::cerr << "sage: cannot run " << program[0] << ": " << std::strerror(errno) << "\n";
    return 127;
  }

  try {
    // Credentials: --tls-dir, --secret-file, SAGE_TLS_DIR, SAGE_SECRET_FILE,
    // ~/.sage/cluster.secret; none with --insecure (--config may set some for `start`).
    sage::actors::TlsFiles tls;
    auto resolve_tls = [&] {
      tls = sage::actors::find_credentials(tls_dir, secret_file, insecure);
    };
    if (start->parsed()) {
      if (!head && !worker) throw CLI::ValidationError("cluster start", "say --head or --worker");
      if (!config_file.empty()) {
        // What the file sets, unless a flag said otherwise.
        sage::Config file;
        file.merge_file(config_file);
        auto from_file = [&](CLI::Option* flag, const char* key, auto& target) {
          if (flag->count() > 0 || !file.contains(key)) return;
          using T = std::decay_t<decltype(target)>;
          if constexpr (std::is_same_v<T, std::string>)
            target = *file.get(key);
          else if constexpr (std::is_same_v<T, double>)
            try {
              target = std::stod(*file.get(key));
            } catch (const std::exception&) {
              throw std::runtime_error(config_file + ": '" + key + "' is not a number");
            }
          else
            target = static_cast<T>(file.get_int(key, 0));
        };
        from_file(head_address_opt, "cluster.head-address", head_address);
        from_file(port_opt, head ? "cluster.port" : "node.port", port);
        from_file(bind_opt, "cluster.bind", bind);
        from_file(cpus_opt, "node.cpus", cpus);
        from_file(memory_opt, "node.memory", memory);
        from_file(gpus_opt, "node.gpus", gpus);
        from_file(start_tls_opt, "cluster.tls-dir", tls_dir);
        for (const auto& [key, value] : file.entries())
          if (key.rfind("node.labels.", 0) == 0)
            labels.insert(labels.begin(), key.substr(12) + "=" + value);
      }
      if (insecure && (!tls_dir.empty() || !secret_file.empty()))
        throw CLI::ValidationError("--insecure", "excludes --tls-dir and --secret-file");
      if (head && !insecure && tls_dir.empty() && std::getenv("SAGE_TLS_DIR") == nullptr) {
        // A head makes the cluster's secret, once, where it keeps its state.
        if (secret_file.empty()) secret_file = state_dir + "/cluster.secret";
        if (sage::actors::create_cluster_secret(secret_file))
          std::cerr << "sage: created the cluster secret " << secret_file
                    << " (mode 0600): workers, clients and programs present it\n";
      } else if (worker && !insecure && tls_dir.empty() && secret_file.empty() &&
                 std::getenv("SAGE_TLS_DIR") == nullptr &&
                 std::getenv("SAGE_SECRET_FILE") == nullptr) {
        if (std::error_code ec; std::filesystem::exists(state_dir + "/cluster.secret", ec))
          secret_file = state_dir + "/cluster.secret";
        else if (!std::filesystem::exists(sage::actors::default_secret_path(), ec))
          throw std::runtime_error(
              "no cluster secret: give --secret-file FILE (the head's <state dir>/cluster.secret, "
              "copied here with mode 0600) or SAGE_SECRET_FILE; or start the cluster --insecure");
      }
      resolve_tls();
      if (!tls.enabled())
        std::cerr << "sage: WARNING: --insecure: this cluster authenticates nobody; any local "
                     "user can run code on it as this user\n";
      if (!is_loopback(bind) && !tls.enabled())
        throw std::runtime_error("listening on " + bind +
                                 " needs authentication: drop --insecure (see docs/operations.md), "
                                 "or bind to 127.0.0.1");
      sage::actors::NodeInfo node;
      node.cpus = cpus;
      node.memory_mb = parse_memory_mb(memory);
      node.gpus = gpus;
      for (const auto& l : labels) {
        const auto eq = l.find('=');
        if (eq == std::string::npos || eq == 0)
          throw CLI::ValidationError("--label", "expected K=V, got '" + l + "'");
        node.labels[l.substr(0, eq)] = l.substr(eq + 1);
      }
      std::function<int(const sage::actors::ReadyCallback&)> run;
      std::string name;
      // What head and worker share; the port defaults to the head's 19001 or a free one.
      auto fill = [&](sage::actors::NodeOptions& o) {
        o.tls = tls;
        o.bind = bind;
        if (port >= 0) o.port = static_cast<uint16_t>(port);
        o.node = node;
        o.state_dir = std::filesystem::absolute(state_dir).string();
      };
      if (head) {
        sage::actors::HeadOptions o;
        fill(o);
        o.max_program_bytes =
            static_cast<uint64_t>(parse_memory_mb(max_program_size, "--max-program-size")) << 20;
        name = "head";
        run = [o](const sage::actors::ReadyCallback& ready) {
          return sage::actors::run_head(o, ready);
        };
      } else {
        if (head_address.empty())
          throw CLI::ValidationError("--head-address", "a worker needs the head's HOST:PORT");
        const auto h = parse_address(head_address);
        sage::actors::WorkerOptions o;
        fill(o);
        o.head_host = h.host;
        o.head_port = h.port;
        name = "worker";
        run = [o](const sage::actors::ReadyCallback& ready) {
          return sage::actors::run_worker(o, ready);
        };
      }
      if (foreground) {
        return run([&](const std::string& host, uint16_t p) {
          std::cout << "sage: " << name << " listening on " << host << ":" << p << std::endl;
        });
      }
      // A worker's log and pid files are per process: several may share a state dir.
      if (worker) name = "worker-" + std::to_string(getpid());
      return daemonize(state_dir, name, run);
    }
    if (job->parsed()) {
      const auto a = resolve_head_address(address);
      resolve_tls();
      sage::actors::HeadAddress head{a.host, a.port, tls};
      if (job_submit->parsed()) {
        std::vector<std::string> program{submit_program};
        for (const auto& extra : job_submit->remaining()) program.push_back(extra);
        return sage::cli::job_submit(head, program);
      }
      if (job_list->parsed()) return sage::cli::job_list(head, format);
      if (job_status->parsed()) return sage::cli::job_status(head, job_id, format);
      if (job_logs->parsed()) return sage::cli::job_logs(head, job_id, tail, follow);
      for (const auto& [cmd, name] : lifecycle)
        if (cmd->parsed()) return sage::cli::job_command(head, job_id, name);
    }
    if (status->parsed()) {
      const auto a = resolve_head_address(address);
      resolve_tls();
      print_status(sage::actors::query_status(a.host, a.port, tls), format, tls.enabled());
      return 0;
    }
    if (stop->parsed()) {
      const auto a = resolve_head_address(address);
      resolve_tls();
      sage::actors::stop_cluster(a.host, a.port, all, tls);
      std::cout << "sage: stopped the head at " << a.host << ":" << a.port
                << (all ? " and its workers" : "") << "\n";
      return 0;
    }
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "sage: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
