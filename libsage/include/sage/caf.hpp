#pragma once
/// @file caf.hpp
/// SAGE inside an application's own CAF actor system (API.md section 10,
/// docs/caf-integration.md): the one public header that includes CAF.
///
/// ```cpp
/// caf::actor_system_config cfg;
/// cfg.load<caf::io::middleman>();
/// caf::actor_system sys{cfg};
/// sage::Node node(sys);
/// auto env = node.local_environment("app");
/// env->from_actor<int64_t>("numbers").map(...).to_actor(my_actor);
/// const auto job = env->submit();
/// auto feed = node.source(job, "numbers");       // send std::vector<int64_t>, then sage::eos_atom
/// auto svc = node.service("feature_store");      // request (sage::call_atom, "process", args...)
/// ```

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/send.hpp>

#include <sage/sage.hpp>

namespace sage {

/// A call to a service from a plain CAF actor: `(call_atom, std::string method, args...)`.
using call_atom = caf::atom_constant<caf::atom("call")>;
/// The end of a stream: sent to `node.source(...)` by its feeder, and by `to_actor` at the end.
using eos_atom = caf::atom_constant<caf::atom("sage_eos")>;

/// SAGE on an application's running actor system: local jobs run there, its
/// services answer plain CAF actors, and it can join a cluster as a worker.
class Node {
 public:
  /// Optional, before the actor system is made: loads CAF's network layer,
  /// registers SAGE's message types and sets CAF's heartbeat as SAGE's own
  /// systems have it (a frozen peer noticed within 15 s). Without it a Node
  /// registers the types itself when it is made (do so before the system
  /// talks to other nodes).
  static void configure(caf::actor_system_config& cfg);

  /// Attaches to `system` (which must have loaded `caf::io::middleman`).
  /// `cfg` is the default configuration of the node's jobs and its cluster
  /// credentials (`cluster.secret-file`, `cluster.tls-dir`, else as `sage` finds them).
  explicit Node(caf::actor_system& system, Config cfg = {});
  /// Ends the node's runtime: its jobs are cancelled, its services stop.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// An environment whose jobs run on this actor system (as a LocalEnvironment's
  /// run on SAGE's own).
  std::unique_ptr<Environment> local_environment(std::string name = "sage", Config cfg = {});

  /// Makes this process a worker of the cluster whose head is at `host:port`,
  /// offering `resources`: the head places tasks here (in task hosts this node
  /// starts, as `sage cluster start --worker` does). Throws `std::runtime_error`
  /// when the head cannot be reached or refuses.
  void join_cluster(const std::string& host, uint16_t port, Resources resources = {});

  /// An actor that calls service `name` for plain CAF actors:
  /// `request(svc, timeout, call_atom::value, std::string method, args...)` is
  /// answered with the method's result, or a `caf::error` with the
  /// `ServiceError` or timeout text. Arguments must have the method's types exactly.
  caf::actor service(const std::string& name);

  /// The actor that feeds source `name` (`env.from_actor<T>(name)`) of job
  /// `job`: it takes `std::vector<T>` (answered with an empty message once
  /// accepted: wait for it before the next batch, that is the backpressure)
  /// and `eos_atom` (the stream's end). Waits up to 10 s for the source to
  /// open; throws `std::runtime_error` if it does not.
  caf::actor source(const JobId& job, const std::string& name);

  [[nodiscard]] caf::actor_system& system();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

namespace detail {

/// `to_actor`'s sink: sends `std::vector<T>` batches of up to 1024 records
/// (or what came within 10 ms), then `eos_atom` after the last.
template <class T, class Actor>
class ActorSinkInstance final : public OperatorInstance, public Receiver<T> {
 public:
  static constexpr size_t batch_records = 1024;
  static constexpr int64_t linger_ms = 10;

  explicit ActorSinkInstance(Actor actor) : actor_(std::move(actor)) {}
  void open() override {}
  void close() override {
    send();
    caf::anon_send(actor_, eos_atom::value);
  }
  void push(T&& x) override {
    ++records_in;
    if (buffer_.empty()) first_at_ = ContextAccess::time(ctx_).now_ms;
    buffer_.push_back(std::move(x));
    if (buffer_.size() >= batch_records) send();
  }
  WatermarkStatus advance_time(WatermarkStatus in) override {
    if (!buffer_.empty() && ContextAccess::time(ctx_).now_ms >= first_at_ + linger_ms) send();
    return in;
  }
  [[nodiscard]] std::optional<int64_t> next_wakeup() const override {
    if (buffer_.empty()) return std::nullopt;
    return first_at_ + linger_ms;
  }

 private:
  void send() {
    if (buffer_.empty()) return;
    caf::anon_send(actor_, std::exchange(buffer_, {}));
  }
  Actor actor_;
  std::vector<T> buffer_;
  int64_t first_at_ = 0;
};

template <class T, class Actor>
std::function<std::unique_ptr<OperatorInstance>()> actor_sink(Actor actor) {
  return [actor]() -> std::unique_ptr<OperatorInstance> {
    return std::make_unique<ActorSinkInstance<T, Actor>>(actor);
  };
}

}  // namespace detail
}  // namespace sage
