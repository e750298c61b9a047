// A node actor in an actor system of its own, published on a port.

#include <stdexcept>
#include <thread>

#include <caf/io/middleman.hpp>
#include <sage/actors/node_server.hpp>

#include <sage/actors/protocol.hpp>

namespace sage::actors {

struct NodeServer::Impl {
  explicit Impl(const Config& c) : system(configure(c)) {}

  caf::actor_system_config& configure(const Config& c) {
    const auto hw = std::max(1u, std::thread::hardware_concurrency());
    cfg.set("scheduler.max-threads", static_cast<size_t>(std::max<int64_t>(
                                         1, c.get_int(config_keys::scheduler_threads, hw))));
    cfg.set("scheduler.max-throughput", size_t{64});
    register_message_types(cfg);
    cfg.load<caf::io::middleman>();
    configure_heartbeat(cfg);
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
  auto port = impl_->system.middleman().publish(impl_->node, 0, host.c_str());
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
