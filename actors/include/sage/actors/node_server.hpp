#pragma once
/// @file node_server.hpp
/// A node in an actor system of its own, published on a loopback port: what a
/// worker runs. Tests and benchmarks start one in-process to run jobs across
/// two actor systems that talk through CAF's network layer.

#include <cstdint>
#include <memory>
#include <string>

#include <sage/config.hpp>

namespace sage::actors {

class NodeServer {
 public:
  /// Starts an actor system with a node actor published on `host` (a loopback
  /// address), on a free port; over TLS when `cfg` names `cluster.tls-dir` or
  /// `cluster.secret-file` (the embedded runtime that adds it must name the
  /// same). Throws `std::runtime_error` when it cannot publish.
  explicit NodeServer(const Config& cfg = {}, const std::string& host = "127.0.0.1");
  ~NodeServer();
  NodeServer(const NodeServer&) = delete;
  NodeServer& operator=(const NodeServer&) = delete;

  [[nodiscard]] uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sage::actors
