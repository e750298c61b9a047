// Head and worker processes, and the requests of `sage cluster status|stop`.
//
// Every actor system of a cluster loads CAF's network layer with a heartbeat,
// so that a peer that crashed or froze is noticed within two seconds: its
// connection is dropped and every actor monitoring one of its actors gets a
// down message (the JobManager marks the node lost). With credentials, every
// connection is authenticated (secure_transport.cpp: the cluster secret's
// handshake on loopback, mutual TLS otherwise), and nothing is published
// without (docs/operations.md, "Security").

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/io/middleman.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/actors/system.hpp>
#include <sage/detail/log.hpp>

#include "head_client.hpp"

namespace sage::actors {

namespace {

using namespace std::chrono_literals;

std::atomic<int> termination_signal{0};
extern "C" void on_termination(int sig) { termination_signal.store(sig); }

void install_termination_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_termination;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

spdlog::logger& log() { return detail::log("cluster"); }

/// Blocks until `watched` ends or the process gets SIGTERM/SIGINT; runs
/// `on_tick` about every 100 ms meanwhile, and `on_down` when another actor
/// that `self` monitors ends.
void wait_until_down(caf::actor_system& sys, const caf::actor& watched,
                     const std::function<void(caf::scoped_actor&)>& on_tick = {},
                     const std::function<void(const caf::down_msg&)>& on_down = {}) {
  caf::scoped_actor self{sys};
  self->monitor(watched);
  bool down = false;
  while (!down && termination_signal.load() == 0) {
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.source == watched.address())
            down = true;
          else if (on_down)
            on_down(dm);
        },
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              if (on_tick) on_tick(self);
            });
  }
}

/// Publishes `whom`; logs why it could not.
std::optional<uint16_t> publish(caf::actor_system& sys, const caf::actor& whom,
                                const std::string& bind, uint16_t port) {
  auto bound = publish_on(sys, whom, bind, port);
  if (bound) return *bound;
  log().error("cannot listen on {}:{}: {}", bind, port, sys.render(bound.error()));
  return std::nullopt;
}

/// How a daemon's node starts task hosts: they report to the head at
/// `head_host:head_port` and listen for their peers where the node does.
NodeSetup node_setup(const NodeOptions& options, NodeRole role, const std::string& head_host,
                     uint16_t head_port) {
  NodeSetup setup;
  setup.hosts_programs = true;
  setup.state_dir = options.state_dir.empty() ? std::string(".") : options.state_dir;
  setup.head_host = head_host;
  setup.head_port = head_port;
  setup.tls = options.tls;
  setup.bind = options.bind;
  setup.role = role;
  return setup;
}

/// The node's description as it registers: the options' resources, where it listens.
NodeInfo describe(NodeInfo info, NodeRole role, const std::string& host, uint16_t port) {
  info.role = role;
  info.host = host;
  info.port = port;
  return info;
}

}  // namespace

int run_head(const HeadOptions& options, const ReadyCallback& ready) {
  install_termination_handlers();
  ClusterConfig cfg{options.tls};
  caf::actor_system sys{cfg};
  // The JobManager first: the head's node tells the task hosts it starts where it listens.
  auto job_manager =
      spawn_job_manager(sys, nullptr, {}, options.state_dir, options.max_program_bytes);
  auto port = publish(sys, job_manager, options.bind, options.port);
  if (!port) {
    caf::anon_send_exit(job_manager, caf::exit_reason::user_shutdown);
    return 1;
  }
  auto node = spawn_node(sys, node_setup(options, NodeRole::head, options.bind, *port));
  auto node_port = publish(sys, node, options.bind, 0);
  bool registered = false;
  if (node_port) {
    caf::scoped_actor self{sys};
    self->request(job_manager, request_timeout, register_node_atom::value,
                  describe(options.node, NodeRole::head, options.bind, *node_port), node)
        .receive([&](uint32_t) { registered = true; },
                 [&](caf::error& err) {
                   log().error("head: cannot register its node: {}", sys.render(err));
                 });
  }
  if (!registered) {
    caf::anon_send_exit(job_manager, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    return 1;
  }
  log().info("head: JobManager on {}:{}, node on {}:{}{}", options.bind, *port, options.bind,
             *node_port,
             options.tls.enabled() ? ", authenticated with " + options.tls.describe()
                                   : ", INSECURE (no authentication)");
  ready(options.bind, *port);
  wait_until_down(sys, job_manager);
  if (int sig = termination_signal.load()) log().info("head: signal {}, shutting down", sig);
  caf::anon_send_exit(job_manager, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  return 0;
}

int run_worker(const WorkerOptions& options, const ReadyCallback& ready) {
  install_termination_handlers();
  ClusterConfig cfg{options.tls};
  caf::actor_system sys{cfg};
  auto node =
      spawn_node(sys, node_setup(options, NodeRole::worker, options.head_host, options.head_port));
  auto port = publish(sys, node, options.bind, options.port);
  if (!port) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    return 1;
  }
  const NodeInfo info = describe(options.node, NodeRole::worker, options.bind, *port);
  const std::string head = options.head_host + ":" + std::to_string(options.head_port);
  log().info("worker: node on {}:{}, head at {}{}", options.bind, *port, head,
             options.tls.enabled() ? ", authenticated with " + options.tls.describe()
                                   : ", INSECURE (no authentication)");
  ready(options.bind, *port);

  // Register with the head, and again whenever the head is lost.
  caf::actor job_manager;
  int failed_attempts = 0;
  auto next_attempt = std::chrono::steady_clock::now();
  wait_until_down(
      sys, node,
      [&](caf::scoped_actor& self) {
        if (job_manager || std::chrono::steady_clock::now() < next_attempt) return;
        next_attempt = std::chrono::steady_clock::now() + 1s;
        auto jm = connect_to(sys, options.head_host, options.head_port);
        if (!jm) {
          if (failed_attempts++ % 10 == 0)
            log().warn("worker: cannot reach the head at {} ({}); retrying every second", head,
                       explain(sys, jm.error(), options.tls));
          return;
        }
        self->request(*jm, request_timeout, register_node_atom::value, info, node)
            .receive(
                [&](uint32_t index) {
                  log().info("worker: registered with the head at {} as node {}", head, index);
                  job_manager = *jm;
                  self->monitor(job_manager);
                  failed_attempts = 0;
                },
                [&](caf::error& err) {
                  log().warn("worker: the head at {} refused the registration: {}", head,
                             sys.render(err));
                });
      },
      [&](const caf::down_msg& dm) {
        if (!job_manager || dm.source != job_manager.address()) return;
        log().warn("worker: lost the head at {} ({}); reconnecting", head, to_string(dm.reason));
        job_manager = nullptr;
      });
  if (int sig = termination_signal.load()) log().info("worker: signal {}, shutting down", sig);
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  return 0;
}

ClusterStatus query_status(const std::string& host, uint16_t port, const TlsFiles& tls) {
  ClusterStatus result;
  with_head(
      host, port, tls, [&](caf::actor_system& sys, caf::scoped_actor& self, const caf::actor& jm) {
        self->request(jm, request_timeout, cluster_status_atom::value)
            .receive([&](ClusterStatus& s) { result = std::move(s); },
                     [&](caf::error& err) {
                       throw std::runtime_error("the head did not answer: " + sys.render(err));
                     });
      });
  return result;
}

void stop_cluster(const std::string& host, uint16_t port, bool all, const TlsFiles& tls) {
  // Workers the head does not reach (lost, between registrations, or known from an
  // earlier head) are told directly, once the head has stopped.
  std::vector<std::string> stragglers;
  if (all) {
    const auto status = query_status(host, port, tls);
    for (const auto& n : status.nodes)
      if (!n.alive && n.info.role == NodeRole::worker)
        stragglers.push_back(n.info.host + ":" + std::to_string(n.info.port));
    // Addresses of earlier heads' workers may have been reused since: only a
    // member of this cluster (its secret) would accept the connection anyway.
    if (tls.enabled())
      stragglers.insert(stragglers.end(), status.unregistered.begin(), status.unregistered.end());
  }
  with_head(host, port, tls,
            [&](caf::actor_system&, caf::scoped_actor& self, const caf::actor& jm) {
              // The head ends as it handles this; wait until its JobManager is gone.
              self->monitor(jm);
              self->send(jm, shutdown_atom::value, all);
              bool down = false;
              self->receive_while([&] { return !down; })(
                  [&](caf::down_msg&) { down = true; },
                  caf::after(request_timeout) >>
                      [&] { throw std::runtime_error("the head did not stop in time"); });
            });
  if (stragglers.empty()) return;
  ClusterConfig cfg{tls};
  caf::actor_system sys{cfg};
  for (const auto& address : stragglers) {
    const auto at = parse_host_port(address);
    if (!at) continue;
    if (auto node = connect_to(sys, at->host, at->port)) {
      log().info("stopping the worker at {}, which the head did not reach", address);
      caf::anon_send(*node, shutdown_atom::value);
    }
  }
  // Let the messages leave before the actor system goes.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

// -- addresses and node descriptions (cluster.hpp) ---------------------------------------

std::optional<HostPort> parse_host_port(const std::string& text,
                                        std::optional<uint16_t> default_port) {
  const auto colon = text.rfind(':');
  HostPort out{text.substr(0, colon), default_port.value_or(0)};
  if (colon != std::string::npos) {
    unsigned port = 0;
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    const auto parsed = std::from_chars(first, last, port);
    if (parsed.ec != std::errc{} || parsed.ptr != last || port == 0 || port > 65535)
      return std::nullopt;
    out.port = static_cast<uint16_t>(port);
  } else if (!default_port) {
    return std::nullopt;
  }
  if (out.host.empty()) return std::nullopt;
  return out;
}

std::string to_string(NodeRole role) {
  switch (role) {
    case NodeRole::unknown:
      return "";
    case NodeRole::local:
      return "local";
    case NodeRole::head:
      return "head";
    case NodeRole::worker:
      return "worker";
    case NodeRole::client:
      return "client";
  }
  return "unknown";
}

std::string describe(const NodeInfo& info) {
  const std::string role = to_string(info.role);
  if (info.host.empty()) return role.empty() ? "an in-process node" : role + " node";
  return (role.empty() ? std::string("node") : role) + " " + info.host + ":" +
         std::to_string(info.port);
}

}  // namespace sage::actors
