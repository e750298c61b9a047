#pragma once
/// @file services.hpp
/// The runtime's side of service calls (docs/services.md): service instance
/// actors and the router that carries calls to them. Both are detached (a
/// thread each), so that an answer never needs a scheduler thread, which
/// callers blocked in a synchronous call may all hold.
///
/// Service instance (one per instance of a registered service)
///   accepts  (call_atom, std::string method, CallPayload args) -> CallPayload
///              the method's result, or an error: ErrorCode::service_error with
///              the service's exception text (or the unknown method, named)
/// Router (one per actor system: the process's side of `detail::ServiceClient`)
///   accepts  (call_atom, RouterCall)             a call from any thread (local only)
///            down_msg                             a service instance ended: its calls
///                                                 in flight fail at once
///            (directory_atom, caf::actor)         where to look names up (local only)
///            (service_update_atom, name, std::vector<caf::actor>)   from its directory: the
///                                                 name's instances now; calls in flight to
///                                                 those gone fail at once
///   self     (call_timeout_atom, id, ms)          a call's timeout: it fails unless answered
///   sends    (service_lookup_atom, name) -> std::vector<caf::actor>   to its directory,
///            once per name until an instance of it ends (the directory then sends
///            it the name's updates)
///            (call_atom, method, CallPayload)     to the instance with the fewest calls
///                                                 in flight

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/deserializer.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/serializer.hpp>

#include <sage/actors/peer_bytes.hpp>

#include <sage/config.hpp>
#include <sage/job.hpp>
#include <sage/service.hpp>

namespace sage::detail {
struct JobSpec;
}

namespace sage::actors {

using call_atom = caf::atom_constant<caf::atom("call")>;
using service_lookup_atom = caf::atom_constant<caf::atom("svc_look")>;
using service_update_atom = caf::atom_constant<caf::atom("svc_update")>;

/// A call's arguments or result inside a CAF message. Within a process the
/// value itself travels; when CAF serializes the message for another node,
/// its bytes (the codecs'), read back as bytes the receiver decodes.
struct CallPayload {
  detail::Payload payload;
};

/// The largest call payload a node accepts from a peer.
constexpr size_t max_call_bytes = size_t{256} << 20;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CallPayload& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    // A type without a codec travels empty: the receiver's decode refuses it.
    return write_peer_bytes(f, "sage.call_payload", [&] { return x.payload.bytes(); });
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    std::vector<uint8_t> bytes;
    if (auto err = read_peer_bytes(f, max_call_bytes, "a call", bytes)) return err;
    x.payload = detail::Payload::from_bytes(std::move(bytes));
    return caf::none;
  } else {
    return f(caf::meta::type_name("sage.call_payload"));
  }
}

/// Who a service instance is: its context's identity, where its own calls
/// go, and what counts the calls it serves.
struct ServiceIdentity {
  std::string name;
  int index = 0;
  int parallelism = 1;
  JobId job;
  std::shared_ptr<const Config> config;
  std::shared_ptr<detail::ServiceClient> services;  ///< may be null: it calls none
  std::shared_ptr<std::atomic<uint64_t>> calls;     ///< may be null
};

/// Spawns one service instance, detached: opens `object` (an exception from
/// `open` ends the actor with that text as its exit reason), serves one call
/// at a time, closes it when the actor ends.
caf::actor spawn_service_instance(caf::actor_system& system,
                                  std::unique_ptr<detail::ServiceObject> object,
                                  ServiceIdentity identity);

/// Spawns instance `planned` (an index into the job plan's services) of a
/// job in this process's registry: built by its registration's factory, with
/// the job's identity and router. `restart` counts it as a restart in the
/// job's counters. An error if the job or the instance is unknown, or the
/// service's constructor throws.
caf::expected<caf::actor> spawn_job_service(caf::actor_system& system,
                                            const std::shared_ptr<const detail::JobSpec>& job,
                                            int32_t planned, bool restart);

/// The process's `ServiceClient`: a detached router actor that asks
/// `directory` for a name's instances once (and again after one ended; the
/// directory must answer without a scheduler thread too: detached), sends
/// each call to the instance with the fewest calls in flight, with the call's
/// timeout, and completes it from its own thread: with the result, a
/// `ServiceTimeout`, or a `ServiceError` (the service's text, an unknown
/// service or method, an instance that ended while serving it). A reply that
/// comes after its call timed out or failed is dropped and counted.
class ServiceRouter final : public detail::ServiceClient {
 public:
  /// `directory` may be null until `set_directory` names it (calls before
  /// fail: no service is known).
  ServiceRouter(caf::actor_system& system, caf::actor directory);
  ~ServiceRouter() override;
  ServiceRouter(const ServiceRouter&) = delete;
  ServiceRouter& operator=(const ServiceRouter&) = delete;

  void call(const std::string& service, const detail::CallOptions& options, detail::Payload args,
            std::function<void(detail::Payload, std::exception_ptr)> done) override;

  /// Where the router asks for a name's instances from now on.
  void set_directory(caf::actor directory);
  /// Ends the router actor: its open calls fail. A runtime calls it before its
  /// actor system goes (the system waits for every detached actor).
  void stop();

  /// Replies that came after their call had ended (timed out or failed).
  [[nodiscard]] uint64_t late_replies() const;

  struct Counters;  ///< shared with the router actor

 private:
  /// The router actor, until `stop()`; read by callers' threads meanwhile.
  [[nodiscard]] caf::actor current_router() const;

  std::shared_ptr<Counters> counters_;
  mutable std::mutex router_mutex_;
  caf::actor router_;  // guarded by router_mutex_
};

/// Registers the messages of calls that may cross nodes.
void register_service_message_types(caf::actor_system_config& cfg);

}  // namespace sage::actors
