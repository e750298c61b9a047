#pragma once
/// @file cluster.hpp
/// Head and worker processes of a SAGE cluster, and the requests a client
/// sends them. The `sage` command (apps/cli) is a thin layer over this.
///
/// A head runs the JobManager (published on its port) and a node of its own; a
/// worker publishes its node and registers it with the head's JobManager,
/// retrying until the head is up and again whenever it loses the head. CAF's
/// heartbeat notices a lost peer (crashed or frozen) within two seconds.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include <sage/actors/credentials.hpp>
#include <sage/detail/environment_variables.hpp>

namespace sage::actors {

/// What a node is to its runtime.
enum class NodeRole : uint8_t {
  unknown,  ///< added by address only (`Environment::add_node`)
  local,    ///< an embedded runtime's own node
  head,     ///< a cluster's head daemon
  worker,   ///< a cluster's worker daemon
  client,   ///< a submitting program's node (its collect() sinks run there)
};

/// "head", "worker", ... ("" for `unknown`).
std::string to_string(NodeRole role);

/// What a node offers, as it registers.
struct NodeInfo {
  std::string host;  ///< where its node actor is published
  uint16_t port = 0;
  NodeRole role = NodeRole::unknown;
  double cpus = 0;
  int64_t memory_mb = 0;
  int32_t gpus = 0;
  std::map<std::string, std::string> labels;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeInfo& x) {
  return f(caf::meta::type_name("sage.node_info"), x.host, x.port, x.role, x.cpus, x.memory_mb,
           x.gpus, x.labels);
}

/// A node as the JobManager sees it.
struct NodeStatus {
  NodeInfo info;
  bool alive = true;
  std::string lost_reason;  ///< why it was lost, when it was
  /// Load: the tasks of running jobs placed here, and what they asked for.
  int32_t running_tasks = 0;
  double used_cpus = 0;
  int64_t used_memory_mb = 0;
  int32_t used_gpus = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NodeStatus& x) {
  return f(caf::meta::type_name("sage.node_status"), x.info, x.alive, x.lost_reason,
           x.running_tasks, x.used_cpus, x.used_memory_mb, x.used_gpus);
}

struct JobSummary {
  std::string id;
  std::string name;
  std::string state;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, JobSummary& x) {
  return f(caf::meta::type_name("sage.job_summary"), x.id, x.name, x.state);
}

struct ClusterStatus {
  std::vector<NodeStatus> nodes;
  std::vector<JobSummary> jobs;
  /// Workers that registered with an earlier head of this state directory and
  /// not (yet) with this one ("host:port"): `cluster stop --all` reaches them too.
  std::vector<std::string> unregistered;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ClusterStatus& x) {
  return f(caf::meta::type_name("sage.cluster_status"), x.nodes, x.jobs, x.unregistered);
}

/// A network address.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};

/// Reads "HOST:PORT" (and "HOST" alone when `default_port` is given); nullopt
/// if there is no host or the port is not a number from 1 to 65535.
std::optional<HostPort> parse_host_port(const std::string& text,
                                        std::optional<uint16_t> default_port = std::nullopt);

/// What every cluster process is told: its credentials, where it listens, what it offers.
/// "worker 10.0.0.2:4711", for messages.
std::string describe(const NodeInfo& info);

struct NodeOptions {
  /// The cluster secret or TLS directory, as `find_credentials` found and checked
  /// them (CAF would abort at the first connection on a bad file); empty: --insecure.
  TlsFiles tls;
  std::string bind = "127.0.0.1";
  uint16_t port = 0;      ///< 0: a free port
  NodeInfo node;          ///< resources and labels
  std::string state_dir;  ///< shipped programs and job logs go under it
};

/// A head: `port` is the JobManager's (19001 unless told otherwise).
struct HeadOptions : NodeOptions {
  HeadOptions() { port = detail::default_head_port; }
  uint64_t max_program_bytes = uint64_t{1} << 30;  ///< a bigger shipped program is refused
};

/// A worker: `port` is its node's; it registers with the head at `head_host:head_port`.
struct WorkerOptions : NodeOptions {
  std::string head_host = "127.0.0.1";
  uint16_t head_port = detail::default_head_port;
};

/// Called once the process serves: with the address it listens on.
using ReadyCallback = std::function<void(const std::string& host, uint16_t port)>;

/// Runs a head until `sage cluster stop` or SIGTERM/SIGINT; returns the exit status.
int run_head(const HeadOptions& options, const ReadyCallback& ready);
/// Runs a worker until stopped; returns the exit status.
int run_worker(const WorkerOptions& options, const ReadyCallback& ready);

/// Asks the head at `host:port` for its nodes and jobs (`tls`: checked credentials,
/// from `find_credentials`). Throws `std::runtime_error`
/// with a one-line reason when the head cannot be reached or does not answer.
ClusterStatus query_status(const std::string& host, uint16_t port, const TlsFiles& tls = {});
/// Stops the head (and with `all`, every worker registered with it).
void stop_cluster(const std::string& host, uint16_t port, bool all, const TlsFiles& tls = {});

}  // namespace sage::actors
