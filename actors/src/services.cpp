/// Service instance actors and the call router (services.hpp, docs/services.md).

#include <sage/actors/services.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include <caf/all.hpp>

#include <sage/actors/errors.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/detail/job_spec.hpp>
#include <sage/detail/log.hpp>
#include <sage/runtime_context.hpp>

namespace sage::actors {

/// A call handed to the router by `ServiceRouter::call` (from any thread of
/// this process; it never crosses a node).
struct RouterCall {
  std::string service;
  detail::CallOptions options;
  detail::Payload args;
  std::function<void(detail::Payload, std::exception_ptr)> done;
};

/// A call its caller sends straight to an instance of its own process (the
/// router's snapshot says which): one hop there, and the instance completes
/// the call itself, so that a synchronous call costs two thread wake-ups, not
/// four. The router still keeps its timeout and watches its instance.
struct DirectFlight {
  std::string service;
  std::string method;
  std::function<void(detail::Payload, std::exception_ptr)> done;
  std::shared_ptr<std::atomic<int>> load;  ///< its instance's calls in flight
  std::shared_ptr<std::atomic<uint64_t>> late_replies;
  caf::actor_addr instance;
  std::atomic<bool> over{false};

  /// The instance's answer: completes the call, unless it has ended (counted late).
  void reply(detail::Payload result, std::exception_ptr error) {
    if (over.exchange(true)) {
      ++*late_replies;
      return;
    }
    --*load;
    finish(std::move(result), std::move(error));
  }
  /// The router's verdict (a timeout, its instance's end): fails the call if still open.
  void fail(std::exception_ptr error) {
    if (over.exchange(true)) return;
    --*load;
    finish({}, std::move(error));
  }

 private:
  /// Completes the call and lets go of its callback (and the caller's promise
  /// in it): the router may hold this flight until the call's timeout.
  void finish(detail::Payload result, std::exception_ptr error) {
    auto d = std::move(done);
    done = nullptr;
    d(std::move(result), std::move(error));
  }
};

struct DirectCall {
  std::shared_ptr<DirectFlight> flight;
  detail::Payload args;
};

}  // namespace sage::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sage::actors::RouterCall)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sage::actors::DirectCall)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<sage::actors::DirectFlight>)

namespace sage::actors {

// -- a service instance -------------------------------------------------------------

namespace {

/// An instance's service and its context, shared by its handlers and the
/// functor that closes it (an actor's state is gone when its functors run).
struct InstanceCore {
  std::unique_ptr<detail::ServiceObject> object;
  RuntimeContext ctx;
  bool opened = false;
};

/// The behavior of an instance whose calls are answered later (a pipeline
/// service's front): each call hands its completion to the object, which calls
/// it, on this actor's thread, when the answer is there.
caf::behavior answering_later(caf::event_based_actor* self, std::shared_ptr<InstanceCore> core,
                              const ServiceIdentity& id) {
  return {
      [self, core, calls = id.calls](call_atom, const std::string& method,
                                     const CallPayload& args) -> caf::result<CallPayload> {
        if (calls) calls->fetch_add(1, std::memory_order_relaxed);
        auto promise = self->make_response_promise<CallPayload>();
        auto answered = std::make_shared<bool>(false);
        auto done = [promise, answered](detail::Payload result, std::exception_ptr error) mutable {
          if (std::exchange(*answered, true)) return;
          if (error)
            promise.deliver(make_error(ErrorCode::service_error, words_of(error)));
          else
            promise.deliver(CallPayload{std::move(result)});
        };
        try {
          const detail::ContextScope scope(&core->ctx);
          core->object->call_async(method, args.payload, done);
        } catch (...) {
          done({}, std::current_exception());
        }
        return promise;
      },
      [core, name = id.name, calls = id.calls](call_atom, DirectCall& call) {
        if (calls) calls->fetch_add(1, std::memory_order_relaxed);
        auto flight = call.flight;
        auto done = [flight, what = "service '" + name + "' method '" + flight->method + "': "](
                        detail::Payload result, std::exception_ptr error) {
          if (error)
            flight->reply({}, std::make_exception_ptr(ServiceError(what + words_of(error))));
          else
            flight->reply(std::move(result), nullptr);
        };
        try {
          const detail::ContextScope scope(&core->ctx);
          core->object->call_async(flight->method, call.args, done);
        } catch (...) {
          done({}, std::current_exception());
        }
      },
  };
}

caf::behavior service_instance(caf::event_based_actor* self,
                               std::shared_ptr<std::unique_ptr<detail::ServiceObject>> made,
                               ServiceIdentity id) {
  auto core = std::make_shared<InstanceCore>();
  core->object = std::move(*made);
  detail::ContextAccess::set_identity(core->ctx, id.name, id.index, id.parallelism, id.job,
                                      id.config ? id.config : std::make_shared<const Config>());
  detail::ContextAccess::set_services(core->ctx, id.services);
  auto& fn = core->object->function();
  detail::FunctionAccess::bind(fn, core->ctx);
  try {
    const detail::ContextScope scope(&core->ctx);  // sage::call_service in open()
    fn.open(core->ctx);
    core->opened = true;
  } catch (const std::exception& e) {
    detail::log("runtime").error("service '{}' instance {} failed to open: {}", id.name, id.index,
                                 e.what());
    self->quit(make_error(ErrorCode::service_error, "service '" + id.name + "' instance " +
                                                        std::to_string(id.index) +
                                                        " failed to open: " + e.what()));
    return {};
  }
  self->attach_functor([core] {
    try {
      const detail::ContextScope scope(&core->ctx);
      core->object->function().close();
    } catch (const std::exception& e) {
      detail::log("runtime").warn("a service's close() threw: {}", e.what());
    }
  });
  self->set_default_handler(drop_unexpected);
  if (core->object->answers_later()) return answering_later(self, core, id);
  return {
      [core, name = id.name, calls = id.calls](
          call_atom, const std::string& method,
          const CallPayload& args) -> caf::result<CallPayload> {
        if (calls) calls->fetch_add(1, std::memory_order_relaxed);
        try {
          const detail::ContextScope scope(&core->ctx);  // sage::call_service in a method
          return CallPayload{core->object->call(method, args.payload)};
        } catch (const std::exception& e) {
          return make_error(ErrorCode::service_error, e.what());
        } catch (...) {
          return make_error(ErrorCode::service_error,
                            "service '" + name + "' threw something that is not an exception");
        }
      },
      [core, name = id.name, calls = id.calls](call_atom, DirectCall& call) {
        if (calls) calls->fetch_add(1, std::memory_order_relaxed);
        auto& f = *call.flight;
        const auto what = "service '" + name + "' method '" + f.method + "': ";
        try {
          const detail::ContextScope scope(&core->ctx);
          f.reply(core->object->call(f.method, call.args), nullptr);
        } catch (const std::exception& e) {
          f.reply({}, std::make_exception_ptr(ServiceError(what + e.what())));
        } catch (...) {
          f.reply({}, std::make_exception_ptr(
                          ServiceError(what + "it threw something that is not an exception")));
        }
      },
  };
}

}  // namespace

caf::actor spawn_service_instance(caf::actor_system& system,
                                  std::unique_ptr<detail::ServiceObject> object,
                                  ServiceIdentity identity) {
  auto made = std::make_shared<std::unique_ptr<detail::ServiceObject>>(std::move(object));
  return system.spawn<caf::detached>(service_instance, std::move(made), std::move(identity));
}

caf::expected<caf::actor> spawn_job_service(caf::actor_system& system,
                                            const std::shared_ptr<const detail::JobSpec>& job,
                                            int32_t planned, bool restart) {
  // Planned instances come registration by registration, instance by instance.
  int32_t first = 0;
  for (size_t s = 0; s < job->graph.services.size(); ++s) {
    const auto& decl = job->graph.services[s];
    if (planned >= first + decl.parallelism) {
      first += decl.parallelism;
      continue;
    }
    if (planned < first) break;
    std::unique_ptr<detail::ServiceObject> object;
    try {
      object = decl.make();
    } catch (const std::exception& e) {
      return make_error(ErrorCode::service_error,
                        "service '" + decl.name + "': its construction failed: " + e.what());
    }
    auto& counters = job->handle->service_counters(s);
    if (restart) counters.restarts.fetch_add(1, std::memory_order_relaxed);
    ServiceIdentity id;
    id.name = decl.name;
    id.index = planned - first;
    id.parallelism = decl.parallelism;
    id.job = job->id;
    id.config = job->config;
    id.services = job->services;
    // Shares the job's handle, which owns the counter.
    id.calls = std::shared_ptr<std::atomic<uint64_t>>(job->handle, &counters.calls);
    return spawn_service_instance(system, std::move(object), std::move(id));
  }
  return make_error(ErrorCode::malformed,
                    "job " + job->id.str() + " has no service instance " + std::to_string(planned));
}

// -- the router ----------------------------------------------------------------------

/// What the router shares with the callers' threads: the late replies, and
/// the services whose instances are all in this process, which callers call
/// directly (`DirectFlight`).
struct ServiceRouter::Counters {
  std::shared_ptr<std::atomic<uint64_t>> late_replies = std::make_shared<std::atomic<uint64_t>>(0);
  struct Local {
    std::vector<caf::actor> actors;
    std::vector<std::shared_ptr<std::atomic<int>>> load;  // calls in flight, by instance
    size_t turn = 0;
  };
  std::mutex mutex;
  std::map<std::string, Local> local;  // guarded by `mutex`
};

namespace {

/// A call on its way: completed once, by its reply, its timeout, or its instance's end.
struct Flight {
  std::string service;
  std::string method;
  caf::actor_addr instance;
  std::function<void(detail::Payload, std::exception_ptr)> done;
};

struct Instances {
  std::vector<caf::actor> actors;
  std::vector<int> in_flight;  // by index in `actors`
  size_t turn = 0;             // where the next search for the least busy starts
};

/// The calls a router has not answered yet: failed, all of them, when it ends
/// (shared with that functor: an actor's state is gone when its functors run).
struct Unanswered {
  std::unordered_map<uint64_t, Flight> flights;
  std::unordered_map<uint64_t, std::shared_ptr<DirectFlight>> direct;  // until their timeout
  std::map<std::string, std::vector<RouterCall>> waiting;              // for their name's lookup
};

struct RouterState {
  caf::actor directory;
  std::shared_ptr<ServiceRouter::Counters> counters;
  std::map<std::string, Instances> known;
  std::shared_ptr<Unanswered> open = std::make_shared<Unanswered>();
  uint64_t next_flight = 1;
  uint64_t direct_watched = 0;      // direct flights watched so far (for the sweep)
  std::set<caf::actor_addr> alive;  // instances monitored and not down
  /// Names one of whose instances ended lately, and when: their list may be
  /// short while the instance restarts, so it is looked up again now and then.
  std::map<std::string, std::chrono::steady_clock::time_point> degraded;
  std::map<std::string, std::chrono::steady_clock::time_point> refreshed;
  static inline const char* name = "sage.service_router";
};

using Router = caf::stateful_actor<RouterState>;

std::exception_ptr service_error(std::string words) {
  return std::make_exception_ptr(ServiceError(std::move(words)));
}

/// A call without an answer within its timeout (the router's own timer: the
/// requests themselves never time out, so that a late reply is seen and counted).
std::exception_ptr timeout_error(const std::string& service, const std::string& method,
                                 int64_t ms) {
  return std::make_exception_ptr(ServiceTimeout("service '" + service + "' method '" + method +
                                                "': no answer within " + std::to_string(ms) +
                                                " ms"));
}

/// What a failed request means to the caller.
std::exception_ptr call_error(const caf::error& err, const std::string& service,
                              const std::string& method) {
  if (is(err, ErrorCode::service_error))
    return service_error("service '" + service + "' method '" + method + "': " + words_of(err));
  if (err == caf::sec::request_receiver_down)
    return service_error("service '" + service + "': the instance serving the call ended");
  return service_error("service '" + service + "' method '" + method +
                       "': the call failed: " + words_of(err));
}

using call_timeout_atom = caf::atom_constant<caf::atom("call_tmo")>;
using directory_atom = caf::atom_constant<caf::atom("directory")>;
using direct_timeout_atom = caf::atom_constant<caf::atom("direct_tmo")>;

/// Tells the callers of this process which names they may call directly.
void share_known(Router* self, const std::string& name) {
  auto& shared = *self->state.counters;
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto it = self->state.known.find(name);
  const bool local = it != self->state.known.end() && !it->second.actors.empty() &&
                     std::all_of(it->second.actors.begin(), it->second.actors.end(),
                                 [&](const caf::actor& a) { return a.node() == self->node(); });
  if (!local) {
    shared.local.erase(name);
    return;
  }
  ServiceRouter::Counters::Local entry;
  entry.actors = it->second.actors;
  for (size_t i = 0; i < entry.actors.size(); ++i)
    entry.load.push_back(std::make_shared<std::atomic<int>>(0));
  shared.local[name] = std::move(entry);
}

void complete(Router* self, uint64_t id, detail::Payload result, std::exception_ptr error) {
  auto& st = self->state;
  auto it = st.open->flights.find(id);
  if (it == st.open->flights.end()) {  // it ended before (timeout, its instance's end)
    ++*st.counters->late_replies;
    return;
  }
  Flight flight = std::move(it->second);
  st.open->flights.erase(it);
  auto known = st.known.find(flight.service);
  if (known != st.known.end()) {
    auto& inst = known->second;
    for (size_t i = 0; i < inst.actors.size(); ++i)
      if (inst.actors[i].address() == flight.instance && inst.in_flight[i] > 0) --inst.in_flight[i];
  }
  flight.done(std::move(result), std::move(error));
}

void dispatch(Router* self, RouterCall call) {
  auto& st = self->state;
  auto known = st.known.find(call.service);
  if (known == st.known.end() || known->second.actors.empty()) {
    call.done({}, service_error("no service named '" + call.service + "'"));
    return;
  }
  auto& inst = known->second;
  // The instance with the fewest calls in flight; among equals, the next in
  // turn (a caller that waits for each answer still spreads its calls).
  const size_t n = inst.actors.size();
  size_t pick = inst.turn % n;
  for (size_t k = 1; k < n; ++k) {
    const size_t i = (inst.turn + k) % n;
    if (inst.in_flight[i] < inst.in_flight[pick]) pick = i;
  }
  inst.turn = pick + 1;
  ++inst.in_flight[pick];
  const caf::actor target = inst.actors[pick];
  const uint64_t id = st.next_flight++;
  st.open->flights.emplace(
      id, Flight{call.service, call.options.method, target.address(), std::move(call.done)});
  const auto timeout = call.options.timeout;
  // The router keeps the time itself (CAF's request timeout would drop a late
  // reply unseen): a reply after its call's timeout is counted.
  self->delayed_send(self, timeout, call_timeout_atom::value, id, timeout.count());
  self->request(target, caf::infinite, call_atom::value, call.options.method,
                CallPayload{call.args})
      .then([self, id](CallPayload& result) { complete(self, id, std::move(result.payload), {}); },
            [self, id](caf::error& err) {
              auto it = self->state.open->flights.find(id);
              if (it == self->state.open->flights.end()) {
                ++*self->state.counters->late_replies;
                return;
              }
              auto error = call_error(err, it->second.service, it->second.method);
              complete(self, id, {}, error);
            });
}

/// The instances of `name`, as the directory says now: monitored (once each),
/// routed to, and shared with the callers if they are all of this process.
void adopt_instances(Router* self, const std::string& name, std::vector<caf::actor> actors) {
  auto& st = self->state;
  if (actors.empty()) {
    st.known.erase(name);
  } else {
    for (const auto& a : actors)
      if (st.alive.insert(a.address()).second) self->monitor(a);
    auto& entry = st.known[name];
    std::vector<int> in_flight(actors.size(), 0);
    for (size_t i = 0; i < actors.size(); ++i)  // the counts of those it knew already
      for (size_t j = 0; j < entry.actors.size(); ++j)
        if (entry.actors[j] == actors[i]) in_flight[i] = entry.in_flight[j];
    entry = Instances{std::move(actors), std::move(in_flight), entry.turn};
  }
  share_known(self, name);
}

/// How long after an instance's end its name's list is looked up again (the
/// instance restarts within a few seconds), and how often.
constexpr auto degraded_for = std::chrono::seconds(30);
constexpr auto refresh_every = std::chrono::milliseconds(500);

/// Looks a degraded name up again, at most every `refresh_every`, so that a
/// restarted instance gets calls again; calls meanwhile go to those it knows.
void maybe_refresh(Router* self, const std::string& name) {
  auto& st = self->state;
  auto d = st.degraded.find(name);
  if (d == st.degraded.end() || !st.directory) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - d->second > degraded_for) {
    st.degraded.erase(d);
    return;
  }
  auto& last = st.refreshed[name];
  if (now - last < refresh_every) return;
  last = now;
  self->request(st.directory, std::chrono::seconds(10), service_lookup_atom::value, name)
      .then(
          [self, name](std::vector<caf::actor>& actors) {
            if (!actors.empty()) adopt_instances(self, name, std::move(actors));
          },
          [](caf::error&) {});
}

/// Instance `source` ended (`why`): its calls in flight fail now, and its
/// name is asked for again on the next call (a restarted instance, or none).
void instance_gone(Router* self, const caf::actor_addr& source, const std::string& why) {
  auto& st = self->state;
  const auto text = [&](const std::string& service) {
    return service_error("service '" + service + "': the instance serving the call ended (" + why +
                         ")");
  };
  std::vector<uint64_t> failed;
  for (const auto& [id, flight] : st.open->flights)
    if (flight.instance == source) failed.push_back(id);
  for (uint64_t id : failed) {
    const std::string service = st.open->flights.at(id).service;
    complete(self, id, {}, text(service));
  }
  for (auto it = st.open->direct.begin(); it != st.open->direct.end();) {
    if (it->second->instance == source) it->second->fail(text(it->second->service));
    it = it->second->over ? st.open->direct.erase(it) : std::next(it);
  }
  for (auto it = st.known.begin(); it != st.known.end();) {
    auto& actors = it->second.actors;
    const bool had = std::any_of(actors.begin(), actors.end(),
                                 [&](const caf::actor& a) { return a.address() == source; });
    if (!had) {
      ++it;
      continue;
    }
    const std::string name = it->first;
    it = st.known.erase(it);
    share_known(self, name);
    st.degraded[name] = std::chrono::steady_clock::now();
  }
  if (st.alive.erase(source) > 0) self->demonitor(source);
}

caf::behavior router(Router* self, caf::actor directory,
                     std::shared_ptr<ServiceRouter::Counters> counters) {
  self->state.directory = std::move(directory);
  self->state.counters = std::move(counters);
  self->set_default_handler(drop_unexpected);
  self->attach_functor([open = self->state.open] {
    for (auto& [id, flight] : open->flights)
      flight.done({}, service_error("service '" + flight.service + "': the runtime stopped"));
    for (auto& [name, calls] : open->waiting)
      for (auto& c : calls)
        c.done({}, service_error("service '" + name + "': the runtime stopped"));
    for (auto& [id, flight] : open->direct)
      flight->fail(service_error("service '" + flight->service + "': the runtime stopped"));
    open->flights.clear();
    open->waiting.clear();
    open->direct.clear();
  });
  self->set_down_handler(
      [self](caf::down_msg& down) { instance_gone(self, down.source, words_of(down.reason)); });
  return {
      [self](service_update_atom, const std::string& name, std::vector<caf::actor>& actors) {
        // The directory's word that `name`'s instances changed: those it no
        // longer lists have ended (or their process did: a remote instance's
        // end reaches this process only this way unless it is connected to it).
        auto& st = self->state;
        if (!st.directory || !self->current_sender() ||
            self->current_sender()->address() != st.directory.address())
          return;
        auto it = st.known.find(name);
        if (it != st.known.end()) {
          std::vector<caf::actor_addr> gone;
          for (const auto& a : it->second.actors)
            if (std::none_of(actors.begin(), actors.end(),
                             [&](const caf::actor& b) { return b.address() == a.address(); }))
              gone.push_back(a.address());
          for (const auto& g : gone) instance_gone(self, g, "its service's directory lost it");
        }
        if (!actors.empty()) adopt_instances(self, name, std::move(actors));
      },
      [self](directory_atom, caf::actor& directory) {
        if (self->current_sender() && self->current_sender()->node() != self->node())
          return;  // a peer does not redirect this process's calls
        self->state.directory = std::move(directory);
      },
      [self](call_atom, std::shared_ptr<DirectFlight>& flight, int64_t ms) {
        // A call that went straight to its instance: the router keeps its time,
        // and fails it at once if its instance has ended already.
        auto& st = self->state;
        if (flight->over) return;
        maybe_refresh(self, flight->service);
        if (st.alive.count(flight->instance) == 0) {
          flight->fail(service_error("service '" + flight->service +
                                     "': the instance serving the call ended"));
          return;
        }
        const uint64_t id = st.next_flight++;
        auto& direct = st.open->direct;
        // Calls answered meanwhile leave now and then (their timers find nothing).
        if (++st.direct_watched % 256 == 0)
          for (auto it = direct.begin(); it != direct.end();)
            it = it->second->over ? direct.erase(it) : std::next(it);
        direct.emplace(id, std::move(flight));
        self->delayed_send(self, std::chrono::milliseconds(ms), direct_timeout_atom::value, id, ms);
      },
      [self](direct_timeout_atom, uint64_t id, int64_t ms) {
        auto& direct = self->state.open->direct;
        auto it = direct.find(id);
        if (it == direct.end()) return;
        auto flight = std::move(it->second);
        direct.erase(it);
        flight->fail(timeout_error(flight->service, flight->method, ms));
      },
      [self](call_timeout_atom, uint64_t id, int64_t ms) {
        auto& flights = self->state.open->flights;
        auto it = flights.find(id);
        if (it == flights.end()) return;  // answered in time
        const auto& f = it->second;
        complete(self, id, {}, timeout_error(f.service, f.method, ms));
      },
      [self](call_atom, RouterCall& call) {
        auto& st = self->state;
        if (st.known.count(call.service) > 0) {
          maybe_refresh(self, call.service);
          dispatch(self, std::move(call));
          return;
        }
        auto& waiting = st.open->waiting[call.service];
        waiting.push_back(std::move(call));
        if (waiting.size() > 1) return;  // its lookup is on the way
        const std::string name = waiting.front().service;
        auto answer = [self, name](std::vector<caf::actor> actors) {
          auto& st = self->state;
          if (!actors.empty()) {
            adopt_instances(self, name, std::move(actors));
          }
          auto calls = std::move(st.open->waiting[name]);
          st.open->waiting.erase(name);
          for (auto& c : calls) dispatch(self, std::move(c));
        };
        if (!st.directory) {
          answer({});
          return;
        }
        self->request(st.directory, std::chrono::seconds(10), service_lookup_atom::value, name)
            .then([answer](std::vector<caf::actor>& actors) mutable { answer(std::move(actors)); },
                  [answer](caf::error&) mutable { answer({}); });
      },
  };
}

}  // namespace

ServiceRouter::ServiceRouter(caf::actor_system& system, caf::actor directory)
    : counters_(std::make_shared<Counters>()) {
  router_ = system.spawn<caf::detached>(sage::actors::router, std::move(directory), counters_);
}

ServiceRouter::~ServiceRouter() { stop(); }

caf::actor ServiceRouter::current_router() const {
  std::lock_guard<std::mutex> lock(router_mutex_);
  return router_;
}

void ServiceRouter::set_directory(caf::actor directory) {
  if (auto r = current_router()) caf::anon_send(r, directory_atom::value, std::move(directory));
}

void ServiceRouter::stop() {
  caf::actor r;
  {
    std::lock_guard<std::mutex> lock(router_mutex_);
    r = std::exchange(router_, nullptr);
  }
  if (r) caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
}

void ServiceRouter::call(const std::string& service, const detail::CallOptions& options,
                         detail::Payload args,
                         std::function<void(detail::Payload, std::exception_ptr)> done) {
  const caf::actor router_actor = current_router();
  if (!router_actor) {
    done({}, service_error("service '" + service + "': the runtime stopped"));
    return;
  }
  // Instances of this process are called directly (the router keeps the time).
  caf::actor instance;
  std::shared_ptr<std::atomic<int>> load;
  {
    std::lock_guard<std::mutex> lock(counters_->mutex);
    auto it = counters_->local.find(service);
    if (it != counters_->local.end()) {
      auto& local = it->second;
      const size_t n = local.actors.size();
      size_t pick = local.turn % n;
      for (size_t k = 1; k < n; ++k) {
        const size_t i = (local.turn + k) % n;
        if (local.load[i]->load() < local.load[pick]->load()) pick = i;
      }
      local.turn = pick + 1;
      instance = local.actors[pick];
      load = local.load[pick];
      ++*load;
    }
  }
  if (!instance) {
    caf::anon_send(router_actor, call_atom::value,
                   RouterCall{service, options, std::move(args), std::move(done)});
    return;
  }
  auto flight = std::make_shared<DirectFlight>();
  flight->service = service;
  flight->method = options.method;
  flight->done = std::move(done);
  flight->load = std::move(load);
  flight->late_replies = counters_->late_replies;
  flight->instance = instance.address();
  caf::anon_send(instance, call_atom::value, DirectCall{flight, std::move(args)});
  caf::anon_send(router_actor, call_atom::value, flight,
                 static_cast<int64_t>(options.timeout.count()));
}

uint64_t ServiceRouter::late_replies() const { return counters_->late_replies->load(); }

void register_service_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<CallPayload>("sage.call_payload");
  // The directory's answer, std::vector<caf::actor>, is CAF's own.
}

}  // namespace sage::actors
