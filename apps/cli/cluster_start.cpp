// `sage cluster start`: a head or a worker, from flags and a --config file, with the
// cluster secret it needs; run in the foreground or as a daemon.

#include "cluster_start.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/actors/credentials.hpp>
#include <sage/config.hpp>
#include <sage/detail/environment_variables.hpp>

namespace sage::cli {

namespace {

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

/// `cluster start`'s own flags (the credentials are in HeadFlags), and the
/// options a --config file may fill when their flag was not given.
struct StartFlags {
  bool head = false, worker = false, foreground = false;
  std::string head_address, bind = "127.0.0.1", state_dir = default_state_dir(), memory = "auto";
  int port = -1;
  double cpus = static_cast<double>(std::thread::hardware_concurrency());
  int gpus = 0;
  std::vector<std::string> labels;
  std::string max_program_size = "1G";
  std::string config_file;
  CLI::Option* head_address_opt = nullptr;
  CLI::Option* port_opt = nullptr;
  CLI::Option* bind_opt = nullptr;
  CLI::Option* cpus_opt = nullptr;
  CLI::Option* memory_opt = nullptr;
  CLI::Option* gpus_opt = nullptr;
  CLI::Option* tls_dir_opt = nullptr;
};

CLI::App* add_start_command(CLI::App* cluster, StartFlags& f, HeadFlags& creds) {
  auto* start = cluster->add_subcommand("start", "start a head or a worker (in the background)");
  auto* head_flag = start->add_flag("--head", f.head, "start the head: the JobManager and a node");
  auto* worker_flag =
      start->add_flag("--worker", f.worker, "start a worker node that registers with the head");
  head_flag->excludes(worker_flag);
  f.head_address_opt =
      start->add_option("--head-address", f.head_address, "the head's HOST:PORT (workers)");
  f.port_opt =
      start
          ->add_option("--port", f.port,
                       "port to listen on (head: 19001, worker: a free one; 0: a free one)")
          ->check(CLI::Range(0, 65535));
  f.bind_opt = start->add_option("--bind", f.bind, "address to listen on (a loopback address)")
                   ->capture_default_str();
  f.cpus_opt = start->add_option("--cpus", f.cpus, "cpus this node offers")->capture_default_str();
  f.memory_opt =
      start->add_option("--memory", f.memory, "memory this node offers, e.g. 8G (auto: all of it)")
          ->capture_default_str();
  f.gpus_opt = start->add_option("--gpus", f.gpus, "gpus this node offers")->capture_default_str();
  start->add_option("--label", f.labels, "a label K=V (repeatable)");
  start->add_option("--state-dir", f.state_dir, "where logs and pid files go")
      ->capture_default_str();
  start->add_flag("--foreground", f.foreground, "stay attached (for systemd units and tests)");
  // The credential flags, with what they mean for a node (not add_credential_options).
  f.tls_dir_opt = start->add_option(
      "--tls-dir", creds.tls_dir,
      "mutual TLS with certificates of your own: a directory with ca.crt, node.crt, node.key "
      "(SAGE_TLS_DIR)");
  start->add_option("--secret-file", creds.secret_file,
                    "the cluster secret (head: created if missing; default "
                    "<state dir>/cluster.secret; workers: SAGE_SECRET_FILE, else "
                    "~/.sage/cluster.secret)");
  start
      ->add_option("--max-program-size", f.max_program_size,
                   "the largest program the head stores for its jobs (head)")
      ->capture_default_str();
  start->add_flag("--insecure", creds.insecure,
                  "no authentication: any local user can run code on the cluster (loopback only)");
  start->add_option("--config", f.config_file,
                    "a YAML or TOML file of cluster.* and node.* settings "
                    "(cluster/sage.yaml); flags override it");
  return start;
}

/// What the --config file sets, unless a flag said otherwise.
void apply_config_file(StartFlags& f, HeadFlags& creds) {
  sage::Config file;
  file.merge_file(f.config_file);
  auto from_file = [&](CLI::Option* flag, const char* key, auto& target) {
    if (flag->count() > 0 || !file.contains(key)) return;
    using T = std::decay_t<decltype(target)>;
    if constexpr (std::is_same_v<T, std::string>)
      target = *file.get(key);
    else if constexpr (std::is_same_v<T, double>)
      try {
        target = std::stod(*file.get(key));
      } catch (const std::exception&) {
        throw std::runtime_error(f.config_file + ": '" + key + "' is not a number");
      }
    else
      target = static_cast<T>(file.get_int(key, 0));
  };
  from_file(f.head_address_opt, "cluster.head-address", f.head_address);
  from_file(f.port_opt, f.head ? "cluster.port" : "node.port", f.port);
  from_file(f.bind_opt, "cluster.bind", f.bind);
  from_file(f.cpus_opt, "node.cpus", f.cpus);
  from_file(f.memory_opt, "node.memory", f.memory);
  from_file(f.gpus_opt, "node.gpus", f.gpus);
  from_file(f.tls_dir_opt, "cluster.tls-dir", creds.tls_dir);
  for (const auto& [key, value] : file.entries())
    if (key.rfind("node.labels.", 0) == 0)
      f.labels.insert(f.labels.begin(), key.substr(12) + "=" + value);
}

/// Which cluster secret the node uses when no flag or variable names one: a head
/// makes one (once) where it keeps its state; a worker takes one from there, or
/// needs ~/.sage/cluster.secret.
void choose_secret(const StartFlags& f, HeadFlags& creds) {
  if (creds.insecure && (!creds.tls_dir.empty() || !creds.secret_file.empty()))
    throw CLI::ValidationError("--insecure", "excludes --tls-dir and --secret-file");
  if (f.head && !creds.insecure && creds.tls_dir.empty() &&
      std::getenv(detail::env::tls_dir) == nullptr) {
    // A head makes the cluster's secret, once, where it keeps its state.
    if (creds.secret_file.empty()) creds.secret_file = f.state_dir + "/cluster.secret";
    if (sage::actors::create_cluster_secret(creds.secret_file))
      std::cerr << "sage: created the cluster secret " << creds.secret_file
                << " (mode 0600): workers, clients and programs present it\n";
  } else if (f.worker && !creds.insecure && creds.tls_dir.empty() && creds.secret_file.empty() &&
             std::getenv(detail::env::tls_dir) == nullptr &&
             std::getenv(detail::env::secret_file) == nullptr) {
    if (std::error_code ec; std::filesystem::exists(f.state_dir + "/cluster.secret", ec))
      creds.secret_file = f.state_dir + "/cluster.secret";
    else if (!std::filesystem::exists(sage::actors::default_secret_path(), ec))
      throw std::runtime_error(
          "no cluster secret: give --secret-file FILE (the head's <state dir>/cluster.secret, "
          "copied here with mode 0600) or SAGE_SECRET_FILE; or start the cluster --insecure");
  }
}

int cluster_start(StartFlags& f, HeadFlags& creds) {
  if (!f.head && !f.worker) throw CLI::ValidationError("cluster start", "say --head or --worker");
  if (!f.config_file.empty()) apply_config_file(f, creds);
  choose_secret(f, creds);
  const sage::actors::TlsFiles tls = creds.credentials();
  if (!tls.enabled())
    std::cerr << "sage: WARNING: --insecure: this cluster authenticates nobody; any local "
                 "user can run code on it as this user\n";
  if (!is_loopback(f.bind) && !tls.enabled())
    throw std::runtime_error("listening on " + f.bind +
                             " needs authentication: drop --insecure (see docs/operations.md), "
                             "or bind to 127.0.0.1");
  sage::actors::NodeInfo node;
  node.cpus = f.cpus;
  node.memory_mb = parse_memory_mb(f.memory);
  node.gpus = f.gpus;
  for (const auto& l : f.labels) {
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
    o.bind = f.bind;
    if (f.port >= 0) o.port = static_cast<uint16_t>(f.port);
    o.node = node;
    o.state_dir = std::filesystem::absolute(f.state_dir).string();
  };
  if (f.head) {
    sage::actors::HeadOptions o;
    fill(o);
    o.max_program_bytes =
        static_cast<uint64_t>(parse_memory_mb(f.max_program_size, "--max-program-size")) << 20;
    name = "head";
    run = [o](const sage::actors::ReadyCallback& ready) {
      return sage::actors::run_head(o, ready);
    };
  } else {
    if (f.head_address.empty())
      throw CLI::ValidationError("--head-address", "a worker needs the head's HOST:PORT");
    const auto h = parse_address(f.head_address);
    sage::actors::WorkerOptions o;
    fill(o);
    o.head_host = h.host;
    o.head_port = h.port;
    name = "worker";
    run = [o](const sage::actors::ReadyCallback& ready) {
      return sage::actors::run_worker(o, ready);
    };
  }
  if (f.foreground) {
    return run([&](const std::string& host, uint16_t p) {
      std::cout << "sage: " << name << " listening on " << host << ":" << p << std::endl;
    });
  }
  // A worker's log and pid files are per process: several may share a state dir.
  if (f.worker) name = "worker-" + std::to_string(getpid());
  return daemonize(f.state_dir, name, run);
}

}  // namespace

Dispatch add_cluster_start(CLI::App* cluster, HeadFlags& head) {
  auto flags = std::make_shared<StartFlags>();
  auto* start = add_start_command(cluster, *flags, head);
  return [start, flags, &head]() -> std::optional<int> {
    if (!start->parsed()) return std::nullopt;
    return cluster_start(*flags, head);
  };
}

}  // namespace sage::cli
