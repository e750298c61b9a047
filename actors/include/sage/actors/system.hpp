#pragma once
/// @file system.hpp
/// Setting up an actor system that talks to other nodes, and reaching them:
/// the message types, the network layer with its heartbeat and authenticated
/// transport (secure_transport.cpp), publishing an actor and connecting to one.

#include <cstdint>
#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include <sage/actors/credentials.hpp>

namespace sage::actors {

/// CAF's heartbeat for every actor system that talks to others: a peer that
/// crashed is noticed at once (its connection closes), one that froze within
/// about 15 seconds (CAF's default never notices a frozen one). Not less: on a
/// busy machine (16 jobs starting at once on 2 cores, over TLS) messages between
/// healthy processes lag by seconds, and a link dropped then fails every job
/// that crosses it (docs/operations.md, "Load").
void configure_heartbeat(caf::actor_system_config& cfg);

/// Sets up an actor system of a cluster (head, worker, task host, client):
/// message types, the network layer with its heartbeat, and the connections'
/// authentication with the credentials `tls` (none: --insecure, plain BASP).
void configure_cluster_system(caf::actor_system_config& cfg, const TlsFiles& tls);

/// For an actor system made without `configure_cluster_system` (an
/// application's, under `sage::Node`): starts the authenticated transport
/// with `tls` now, unless the system has one. Returns what ends it (before
/// the system goes).
std::function<void()> attach_secure_transport(caf::actor_system& system, const TlsFiles& tls);

/// Publishes `whom` on `bind:port` (0: a free port), for the peers that
/// present the credentials the system was configured with.
caf::expected<uint16_t> publish_on(caf::actor_system& system, const caf::actor& whom,
                                   const std::string& bind, uint16_t port);

/// Connects to the actor published at `host:port` with the credentials the
/// system was configured with; retries a connection that timed out under load.
caf::expected<caf::actor> connect_to(caf::actor_system& system, const std::string& host,
                                     uint16_t port);

/// Why a connection failed, in words an operator can act on (a refused
/// handshake: which credentials, and the transport's words).
std::string explain(caf::actor_system& system, const caf::error& err, const TlsFiles& tls);

}  // namespace sage::actors
