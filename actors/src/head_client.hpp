#pragma once
// A client's short-lived connection to a cluster's head (`sage cluster ...`,
// `sage job ...`): private to actors/src.

#include <chrono>
#include <stdexcept>
#include <string>

#include <caf/all.hpp>

#include <sage/actors/credentials.hpp>
#include <sage/actors/system.hpp>

namespace sage::actors {

/// How long a client waits for the head's answer.
constexpr auto request_timeout = std::chrono::seconds(10);

/// The configuration of every actor system of a cluster.
struct ClusterConfig : caf::actor_system_config {
  explicit ClusterConfig(const TlsFiles& tls) { configure_cluster_system(*this, tls); }
};

/// Runs `f(sys, self, job_manager)` against the head at `host:port` from a
/// short-lived actor system; throws `std::runtime_error` when it cannot be reached.
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

}  // namespace sage::actors
