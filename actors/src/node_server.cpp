// A node actor in an actor system of its own, published on a port (over TLS
// when the config names credentials).

#include <stdexcept>
#include <thread>

#include <caf/io/middleman.hpp>
#include <sage/actors/node_server.hpp>

#include <sage/actors/credentials.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/actors/system.hpp>

namespace sage::actors {

struct NodeServer::Impl {
  explicit Impl(const Config& c) : system(configure(c)) {}

  caf::actor_system_config& configure(const Config& c) {
    const auto hw = std::max(1u, std::thread::hardware_concurrency());
    cfg.set("scheduler.max-threads", static_cast<size_t>(std::max<int64_t>(
                                         1, c.get_int(config_keys::scheduler_threads, hw))));
    // The config's `cluster.tls-dir` / `cluster.secret-file`, or none.
    configure_cluster_system(cfg, named_credentials(c));
    return cfg;
  }

  caf::actor_system_config cfg;
  caf::actor_system system;
  caf::actor node;
  uint16_t port = 0;
};

NodeServer::NodeServer(const Config& cfg, const std::string& host)
    : impl_(std::make_unique<Impl>(cfg)) {
  impl_->node = spawn_node(impl_->system);
  auto port = publish_on(impl_->system, impl_->node, host, 0);
  if (!port) {
    caf::anon_send_exit(impl_->node, caf::exit_reason::user_shutdown);
    throw std::runtime_error("cannot publish a node on " + host + ": " +
                             impl_->system.render(port.error()));
  }
  impl_->port = *port;
}

NodeServer::~NodeServer() {
  caf::anon_send_exit(impl_->node, caf::exit_reason::user_shutdown);
  impl_->node = nullptr;
}

uint16_t NodeServer::port() const { return impl_->port; }

}  // namespace sage::actors
