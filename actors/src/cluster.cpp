// Head and worker processes, and the client requests of `sage cluster`.
//
// Every actor system of a cluster loads CAF's network layer with a heartbeat,
// so that a peer that crashed or froze is noticed within two seconds: its
// connection is dropped and every actor monitoring one of its actors gets a
// down message (the JobManager marks the node lost). With credentials, every
// connection is authenticated (secure_transport.cpp: the cluster secret's
// handshake on loopback, mutual TLS otherwise), and nothing is published
// without (docs/operations.md, "Security").

#include <atomic>
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
#include <sage/actors/job_client.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/detail/log.hpp>

#include "secure_transport.hpp"

namespace sage::actors {

namespace {

using namespace std::chrono_literals;

/// How long a client waits for the head's answer.
constexpr auto request_timeout = 10s;
/// How long a connection that times out (a busy peer) is tried again.
constexpr auto connect_patience = 30s;

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

/// The configuration of every actor system of a cluster.
struct ClusterConfig : caf::actor_system_config {
  explicit ClusterConfig(const TlsFiles& tls) { configure_cluster_system(*this, tls); }
};

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

/// The words an error carries (a refusal's, the transport's), if any.
std::string words_of(const caf::error& err) {
  const auto& context = err.context();
  return context.match_elements<std::string>() ? context.get_as<std::string>(0) : std::string{};
}

/// Why a connection failed, in words an operator can act on.
std::string explain(caf::actor_system& sys, const caf::error& err, const TlsFiles& tls) {
  if (err == caf::sec::disconnect_during_handshake) {
    if (!tls.enabled())
      return "the peer refused a connection without credentials" + credentials_hint(tls);
    const std::string why = words_of(err);  // the transport's (transport_sessions.cpp)
    return "the peer refused the handshake with " + tls.describe() +
           ": is it this cluster's, and was the cluster started --insecure?" +
           (why.empty() ? "" : " (" + why + ")");
  }
  return sys.render(err);
}

/// How a daemon's node starts task hosts: they report to the head at
/// `head_host:head_port` and listen for their peers where the node does.
NodeSetup node_setup(const NodeOptions& options, const char* role, const std::string& head_host,
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
NodeInfo describe(NodeInfo info, const char* role, const std::string& host, uint16_t port) {
  info.role = role;
  info.host = host;
  info.port = port;
  return info;
}

}  // namespace

void configure_cluster_system(caf::actor_system_config& cfg, const TlsFiles& tls) {
  register_message_types(cfg);
  cfg.load<caf::io::middleman>();
  configure_heartbeat(cfg);
  load_secure_transport(cfg, tls);  // --insecure too: plain BASP over its scribes
  cfg.set("scheduler.max-throughput", size_t{64});
}

caf::expected<uint16_t> publish_on(caf::actor_system& sys, const caf::actor& whom,
                                   const std::string& bind, uint16_t port) {
  // SO_REUSEADDR: a process restarted on its port must not wait for the old socket to expire.
  return secure_publish(sys, whom, bind, port, port != 0);
}

caf::expected<caf::actor> connect_to(caf::actor_system& sys, const std::string& host,
                                     uint16_t port) {
  // A peer under load may not finish the handshake within CAF's connection
  // timeout: that is retried, with backoff, for a bounded time. Every other
  // error (refused, or the credentials refused) is final at once.
  const auto deadline = std::chrono::steady_clock::now() + connect_patience;
  auto pause = std::chrono::milliseconds(100);
  for (int attempt = 1;; ++attempt) {
    auto peer = secure_connect(sys, host, port);
    if (peer || peer.error() != caf::sec::connection_timeout ||
        std::chrono::steady_clock::now() + pause >= deadline)
      return peer;
    log().warn(
        "connecting to {}:{} timed out (attempt {}, a busy peer?: {}): trying again in {} ms", host,
        port, attempt, sys.render(peer.error()), pause.count());
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(3200));
  }
}

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
  auto node = spawn_node(sys, node_setup(options, "head", options.bind, *port));
  auto node_port = publish(sys, node, options.bind, 0);
  bool registered = false;
  if (node_port) {
    caf::scoped_actor self{sys};
    self->request(job_manager, request_timeout, register_node_atom::value,
                  describe(options.node, "head", options.bind, *node_port), node)
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
  auto node = spawn_node(sys, node_setup(options, "worker", options.head_host, options.head_port));
  auto port = publish(sys, node, options.bind, options.port);
  if (!port) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    return 1;
  }
  const NodeInfo info = describe(options.node, "worker", options.bind, *port);
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

namespace {

/// Runs `f(sys, self, job_manager)` against the head at `host:port` from a short-lived actor
/// system.
template <class F>
void with_head(const std::string& host, uint16_t port, const TlsFiles& tls, F&& f) {
  ClusterConfig cfg{tls};
  caf::actor_system sys{cfg};
  auto jm = connect_to(sys, host, port);
  if (!jm)
    throw std::runtime_error("cannot reach the head at " + host + ":" + std::to_string(port) +
                             ": " + explain(sys, jm.error(), tls));
  caf::scoped_actor self{sys};
  f(sys, self, *jm);
}

}  // namespace

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
      if (!n.alive && n.info.role == "worker")
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

// -- sage job ... -------------------------------------------------------------------

namespace {

/// Asks the head once; `T` is the answer's type.
template <class T, class... Ts>
T ask_head(const HeadAddress& head, Ts&&... xs) {
  T result{};
  with_head(head.host, head.port, head.tls,
            [&](caf::actor_system& sys, caf::scoped_actor& self, const caf::actor& jm) {
              self->request(jm, request_timeout, std::forward<Ts>(xs)...)
                  .receive([&](T& answer) { result = std::move(answer); },
                           [&](caf::error& err) {
                             // A refusal's own words, when it has them.
                             const std::string words = words_of(err);
                             throw std::runtime_error(words.empty() ? sys.render(err) : words);
                           });
            });
  return result;
}

}  // namespace

std::vector<JobReport> list_jobs(const HeadAddress& head) {
  return ask_head<std::vector<JobReport>>(head, job_list_atom::value);
}

JobReport job_status(const HeadAddress& head, const std::string& id_or_prefix) {
  return ask_head<JobReport>(head, job_status_atom::value, id_or_prefix);
}

void job_command(const HeadAddress& head, const std::string& id, const std::string& command) {
  if (command == "delete") {
    auto why = ask_head<std::string>(head, job_delete_atom::value, id);
    if (!why.empty()) throw std::runtime_error(why);
    return;
  }
  with_head(head.host, head.port, head.tls,
            [&](caf::actor_system&, caf::scoped_actor& self, const caf::actor& jm) {
              if (command == "stop")
                self->send(jm, stop_atom::value, id);
              else if (command == "cancel")
                self->send(jm, cancel_atom::value, id);
              else if (command == "pause")
                self->send(jm, job_pause_atom::value, id);
              else if (command == "resume")
                self->send(jm, job_resume_atom::value, id);
              else
                throw std::invalid_argument("no job command '" + command + "'");
            });
}

LogChunk job_logs(const HeadAddress& head, const std::string& id,
                  const std::vector<uint64_t>& offsets) {
  return ask_head<LogChunk>(head, job_logs_atom::value, id, offsets);
}

}  // namespace sage::actors
