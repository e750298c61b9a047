// Actor systems that talk to other nodes: their configuration (message types,
// the network layer, the heartbeat, the authenticated transport), and
// publishing and connecting with the credentials they were configured with.

#include <sage/actors/system.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include <caf/io/middleman.hpp>

#include <sage/actors/errors.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/detail/log.hpp>

#include "secure_transport.hpp"

namespace sage::actors {

namespace {

/// How long a connection that times out (a busy peer) is tried again.
constexpr auto connect_patience = std::chrono::seconds(30);

}  // namespace

void configure_heartbeat(caf::actor_system_config& cfg) {
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(1000)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(15000)});
}

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
    detail::log("cluster").warn(
        "connecting to {}:{} timed out (attempt {}, a busy peer?: {}): trying again in {} ms", host,
        port, attempt, sys.render(peer.error()), pause.count());
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(3200));
  }
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

}  // namespace sage::actors
