// Authenticated connections between the actor systems of a cluster: a
// transport of our own under CAF's network layer, in place of CAF 0.17's
// openssl module (docs/operations.md, "Security"; the reasons are in
// secure_transport.cpp). With the cluster secret, a connection on loopback
// proves the secret both ways and then carries BASP in plain
// (secret_handshake.hpp); every other connection is mutual TLS 1.3.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include <sage/actors/credentials.hpp>

namespace sage::actors {

/// Adds the transport to `cfg`, with the credentials `tls` (enabled): the
/// actor system then starts it after CAF's network layer, which must be loaded
/// first. Throws `std::runtime_error` if the files do not make a TLS context.
void load_secure_transport(caf::actor_system_config& cfg, const TlsFiles& tls);

/// Publishes `whom` on `bind:port` (0: a free port), for authenticated peers only.
caf::expected<uint16_t> secure_publish(caf::actor_system& system, const caf::actor& whom,
                                       const std::string& bind, uint16_t port, bool reuse_address);

/// Connects, authenticated, to the actor published at `host:port`.
caf::expected<caf::actor> secure_connect(caf::actor_system& system, const std::string& host,
                                         uint16_t port);

}  // namespace sage::actors
