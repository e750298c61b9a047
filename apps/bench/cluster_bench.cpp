// sage-bench --only cluster: MFK across the task hosts of a real cluster (a head and a
// worker, each a process of its own), task hosts' start and end included, and what
// authentication costs there.

#include "cluster_bench.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mfk_bench.hpp"

#include <sage/actors/cluster.hpp>
#include <sage/actors/credentials.hpp>
#include <sage/detail/environment_variables.hpp>
#include <sage/sage.hpp>

namespace sage::bench {

namespace {

/// A head and a worker started from the `sage` command (`--foreground`), on
/// loopback ports of their own; both are ended with this object. Authenticated
/// (the head's cluster secret, which this program then presents too) unless
/// `insecure`.
class LocalCluster {
 public:
  explicit LocalCluster(bool insecure = false)
      : dir_("/tmp/sage-bench-cluster-" + std::to_string(getpid()) +
             (insecure ? "-insecure" : "-authenticated")),
        insecure_(insecure) {
    select();
    std::vector<std::string> head_args{"cluster", "start",        "--head",      "--port",
                                       "0",       "--foreground", "--state-dir", dir_ + "/head"};
    std::vector<std::string> worker{"cluster",      "start",       "--worker",
                                    "--foreground", "--state-dir", dir_ + "/worker"};
    if (insecure) {
      head_args.emplace_back("--insecure");
      worker.emplace_back("--insecure");
    }
    head_ = start(head_args, address_);
    worker.emplace_back("--head-address");
    worker.emplace_back(address_);
    std::string worker_address;
    worker_ = start(worker, worker_address);
    const auto head = sage::actors::parse_host_port(address_);
    if (!head) fail("the head listens on '" + address_ + "'?");
    host_ = head->host;
    port_ = head->port;
    for (int i = 0; i < 100; ++i) {  // until the worker has registered
      const auto tls = sage::actors::find_credentials("", "", false);
      if (sage::actors::query_status(host_, port_, tls).nodes.size() >= 2) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    fail("the cluster's worker did not register");
  }
  ~LocalCluster() {
    for (pid_t pid : {worker_, head_}) {
      if (pid <= 0) continue;
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  /// Points this program's next jobs at this cluster: its credentials (the
  /// head's secret, or none) are what the program presents.
  void select() const {
    if (insecure_) {
      setenv(detail::env::insecure, "1", 1);
      unsetenv(detail::env::secret_file);
    } else {
      unsetenv(detail::env::insecure);
      setenv(detail::env::secret_file, (dir_ + "/head/cluster.secret").c_str(), 1);
    }
  }

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] uint16_t port() const { return port_; }

 private:
  /// Starts `sage args...`; returns its pid once it printed where it listens.
  static pid_t start(const std::vector<std::string>& args, std::string& address) {
    int out[2];
    if (pipe(out) != 0) fail("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> storage{SAGE_CLI_PATH};
      storage.insert(storage.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : storage) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string text;
    char buf[256];
    while (text.find('\n') == std::string::npos) {
      const auto n = read(out[0], buf, sizeof buf);
      if (n <= 0) fail("could not start " + std::string(SAGE_CLI_PATH) + " " + args[2]);
      text.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    const auto at = text.find("listening on ");
    if (at == std::string::npos) fail("unexpected output from sage: " + text);
    address = text.substr(at + 13, text.find('\n', at) - at - 13);
    return pid;
  }

  std::string dir_;
  bool insecure_;
  std::string address_;
  std::string host_;
  uint16_t port_ = 0;
  pid_t head_ = 0;
  pid_t worker_ = 0;
};

/// MFK as a cluster job: `gen -> map -> filter` on the head's node, `count ->
/// sink` on the worker's (placement: spread), each in a task host started from
/// this program. The records that pass the filter cross between the two task
/// hosts. Checked through the job's counters: every record counted, none lost.
/// In a task host this is where the program serves its job (it never returns).
double mfk_cluster(uint64_t n, const std::string& host, uint16_t port, uint64_t expected) {
  sage::RemoteEnvironment env("bench-mfk-cluster", host, port,
                              job_config({{"placement", "spread"}}));
  mfk_keyed(env, n)
      .map([counts = MfkCounts{}](const Rec& r) mutable {
        return KeyCount{r.key, ++counts[r.key]};
      })
      .name("count")
      .sink([](const KeyCount&) {})
      .name("sink");
  const auto t0 = Clock::now();
  env.submit(true);
  const double s = seconds_since(t0);
  uint64_t counted = 0, sunk = 0;
  for (const auto& op : env.status().operators) {
    if (op.name == "count") counted = op.records_in;
    if (op.name == "sink") sunk = op.records_in;
  }
  if (counted != expected || sunk != expected)
    fail("MFK cluster: " + std::to_string(counted) + " records counted and " +
         std::to_string(sunk) + " sunk, expected " + std::to_string(expected));
  return s;
}

}  // namespace

void mfk_cluster_figures(uint64_t mfk_n, int runs, Output& extra) {
  std::fprintf(stderr,
               "MFK cluster: %.0f M records, a head and a worker in processes of their own; "
               "source task host -> count task host over loopback\n",
               static_cast<double>(mfk_n) / 1e6);
  const MfkLoopResult expected = mfk_loop(mfk_n);
  // The same job on an --insecure cluster and on an authenticated one (TLS
  // with the cluster secret), both up at once and their runs alternating, so
  // that the machine's drift between runs falls on both alike: the ratio is
  // what authentication costs.
  double best[2] = {1e300, 1e300};
  std::string failure;
  {
    const LocalCluster clusters[2] = {LocalCluster(true), LocalCluster(false)};
    try {
      for (int r = 0; r < runs; ++r) {
        for (int secure = 0; secure < 2; ++secure) {
          const LocalCluster& cluster = clusters[secure];
          cluster.select();
          const double t = mfk_cluster(mfk_n, cluster.host(), cluster.port(), expected.records);
          std::fprintf(stderr,
                       "  run %d, %s cluster: %.3f s (%.1f M/s), task hosts started and "
                       "ended included\n",
                       r + 1, secure ? "authenticated" : "insecure", t,
                       static_cast<double>(mfk_n) / t / 1e6);
          best[secure] = std::min(best[secure], t);
        }
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }  // the clusters end before any failure is reported
  if (!failure.empty()) fail("MFK cluster: " + failure);
  extra.add("mfk_cluster_records_per_s", static_cast<double>(mfk_n) / best[1], 0);
  extra.add("mfk_cluster_crossing_records_per_s", static_cast<double>(expected.records) / best[1],
            0);
  extra.add("mfk_cluster_insecure_records_per_s", static_cast<double>(mfk_n) / best[0], 0);
  extra.add("mfk_cluster_authenticated_ratio", best[0] / best[1], 4);
}

void mfk_cluster_task_host(uint64_t mfk_n, int runs) {
  // This program, shipped by the cluster of `--only cluster`: submit what the
  // submitter submits, in the same order; the task host serves its own job of
  // them (the earlier ones are replayed) and does not return from it.
  // (The earlier ones look as they did to the submitter: checked the same way.)
  const uint64_t expected = mfk_loop(mfk_n).records;
  for (int r = 0; r < 2 * runs; ++r)
    mfk_cluster(mfk_n, "", 0, expected);  // insecure and authenticated, alternating
}

}  // namespace sage::bench
