// Head and worker processes, and the client requests of `sage cluster`.
//
// Every actor system of a cluster loads CAF's network layer with a heartbeat,
// so that a peer that crashed or froze is noticed within two seconds: its
// connection is dropped and every actor monitoring one of its actors gets a
// down message (the JobManager marks the node lost).

#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/io/middleman.hpp>

#include <sage/detail/log.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

using namespace std::chrono_literals;

/// How long a client waits for the head's answer.
constexpr auto request_timeout = 10s;

std::atomic<int> termination_signal{0};
extern "C" void on_termination(int sig) { termination_signal.store(sig); }

void install_termination_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_termination;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

/// The configuration of every actor system of a cluster.
struct ClusterConfig : caf::actor_system_config {
  ClusterConfig() {
    register_message_types(*this);
    load<caf::io::middleman>();
    configure_heartbeat(*this);
    set("scheduler.max-throughput", size_t{64});
  }
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

/// Publishes `whom` on `bind:port` (0: a free port); logs why it could not.
/// SO_REUSEADDR: a process restarted on its port must not wait for the old socket to expire.
std::optional<uint16_t> publish(caf::actor_system& sys, const caf::actor& whom,
                                const std::string& bind, uint16_t port) {
  auto bound = sys.middleman().publish(whom, port, bind.c_str(), port != 0);
  if (bound) return *bound;
  detail::log("cluster").error("cannot listen on {}:{}: {}", bind, port, sys.render(bound.error()));
  return std::nullopt;
}

/// The node's description as it registers: the options' resources, where it listens.
NodeInfo describe(NodeInfo info, const char* role, const std::string& host, uint16_t port) {
  info.role = role;
  info.host = host;
  info.port = port;
  return info;
}

}  // namespace

int run_head(const HeadOptions& options, const ReadyCallback& ready) {
  install_termination_handlers();
  ClusterConfig cfg;
  caf::actor_system sys{cfg};
  auto node = spawn_node(sys);
  auto node_port = publish(sys, node, options.bind, 0);
  auto job_manager = spawn_job_manager(
      sys, node, describe(options.node, "head", options.bind, node_port.value_or(0)));
  auto port = node_port ? publish(sys, job_manager, options.bind, options.port) : std::nullopt;
  if (!port) {
    caf::anon_send_exit(job_manager, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    return 1;
  }
  detail::log("cluster").info("head: JobManager on {}:{}, node on {}:{}", options.bind, *port,
                              options.bind, *node_port);
  ready(options.bind, *port);
  wait_until_down(sys, job_manager);
  if (int sig = termination_signal.load())
    detail::log("cluster").info("head: signal {}, shutting down", sig);
  caf::anon_send_exit(job_manager, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  return 0;
}

int run_worker(const WorkerOptions& options, const ReadyCallback& ready) {
  install_termination_handlers();
  ClusterConfig cfg;
  caf::actor_system sys{cfg};
  auto node = spawn_node(sys);
  auto port = publish(sys, node, options.bind, options.port);
  if (!port) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    return 1;
  }
  const NodeInfo info = describe(options.node, "worker", options.bind, *port);
  const std::string head = options.head_host + ":" + std::to_string(options.head_port);
  detail::log("cluster").info("worker: node on {}:{}, head at {}", options.bind, *port, head);
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
        auto jm = sys.middleman().remote_actor(options.head_host, options.head_port);
        if (!jm) {
          if (failed_attempts++ % 10 == 0)
            detail::log("cluster").warn(
                "worker: cannot reach the head at {} ({}); retrying every second", head,
                sys.render(jm.error()));
          return;
        }
        self->request(*jm, request_timeout, register_node_atom::value, info, node)
            .receive(
                [&](uint32_t index) {
                  detail::log("cluster").info("worker: registered with the head at {} as node {}",
                                              head, index);
                  job_manager = *jm;
                  self->monitor(job_manager);
                  failed_attempts = 0;
                },
                [&](caf::error& err) {
                  detail::log("cluster").warn("worker: the head at {} refused the registration: {}",
                                              head, sys.render(err));
                });
      },
      [&](const caf::down_msg& dm) {
        if (!job_manager || dm.source != job_manager.address()) return;
        detail::log("cluster").warn("worker: lost the head at {} ({}); reconnecting", head,
                                    to_string(dm.reason));
        job_manager = nullptr;
      });
  if (int sig = termination_signal.load())
    detail::log("cluster").info("worker: signal {}, shutting down", sig);
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  return 0;
}

namespace {

/// Runs `f(self, job_manager)` against the head at `host:port` from a short-lived actor system.
template <class F>
void with_head(const std::string& host, uint16_t port, F&& f) {
  ClusterConfig cfg;
  caf::actor_system sys{cfg};
  auto jm = sys.middleman().remote_actor(host, port);
  if (!jm)
    throw std::runtime_error("cannot reach the head at " + host + ":" + std::to_string(port) +
                             ": " + sys.render(jm.error()));
  caf::scoped_actor self{sys};
  f(sys, self, *jm);
}

}  // namespace

ClusterStatus query_status(const std::string& host, uint16_t port) {
  ClusterStatus result;
  with_head(host, port, [&](caf::actor_system& sys, caf::scoped_actor& self, const caf::actor& jm) {
    self->request(jm, request_timeout, cluster_status_atom::value)
        .receive([&](ClusterStatus& s) { result = std::move(s); },
                 [&](caf::error& err) {
                   throw std::runtime_error("the head did not answer: " + sys.render(err));
                 });
  });
  return result;
}

void stop_cluster(const std::string& host, uint16_t port, bool all) {
  with_head(host, port, [&](caf::actor_system&, caf::scoped_actor& self, const caf::actor& jm) {
    // The head ends as it handles this; wait until its JobManager is gone.
    self->monitor(jm);
    self->send(jm, shutdown_atom::value, all);
    bool down = false;
    self->receive_while([&] { return !down; })(
        [&](caf::down_msg&) { down = true; },
        caf::after(request_timeout) >>
            [&] { throw std::runtime_error("the head did not stop in time"); });
  });
}

}  // namespace sage::actors
