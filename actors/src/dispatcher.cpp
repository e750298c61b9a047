/// The Dispatcher: deploys one job on the nodes its JobManager chose, wires the
/// tasks' channels, and watches them until the job ends.
///
/// Its messages: protocol.hpp, "Dispatcher".
///
/// Deployment runs in three steps. (1) Every node that gets tasks provides a
/// *host*: a node that has the job in its process's registry is its own host; a
/// cluster daemon starts a task host (the job's program, in a process of its
/// own), which reports back with its node. (2) Task hosts connect to each other
/// directly. (3) The hosts spawn their tasks; once all exist, they are wired and
/// started.
///
/// The job ends, and the listener hears of it, only after every task actor has
/// terminated: when `submit(true)` or `close()` returns, no user code runs.
///
/// A job with feedback loops ends by itself: the Dispatcher detects when a loop
/// has nothing left in it (`LoopWatch` below) and tells the loop's futures.
///
/// A job's services come up before its tasks are spawned: their instances are
/// spawned (and opened) on their nodes and registered with the JobManager's
/// directory, so that the first record finds them. The job ends when its tasks
/// have (a job of services only, when it is stopped); its services are stopped
/// then. An instance that dies while the job runs is started again, after a
/// pause that doubles with each restart of it.

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <spdlog/spdlog.h>

#include <sage/detail/log.hpp>

#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

/// How long a node may take to spawn a job's tasks.
constexpr auto spawn_timeout = std::chrono::seconds(30);
/// How long a node may take to start a task host: longer than it may take to
/// fetch the program from the head (node_actor.cpp).
constexpr auto launch_timeout = std::chrono::seconds(150);
/// How long a task host may take from its start to reporting back: the program
/// runs up to its `submit()` first (docs/operations.md: heavy work belongs in functions).
constexpr auto host_ready_timeout = std::chrono::seconds(60);
/// How long task hosts may take to connect to each other: a busy peer's
/// handshake is retried for up to 30 s (connect_to, cluster.cpp).
constexpr auto peers_timeout = std::chrono::seconds(60);
/// How long a node may take to report how its task host ended.
constexpr auto host_exit_grace = std::chrono::milliseconds(1000);
/// How long a host may take to report its counters.
constexpr auto counters_timeout = std::chrono::seconds(5);
/// The pause before a service instance that died is started again: it doubles
/// with each restart of that instance, up to the longest.
constexpr auto first_restart_pause = std::chrono::milliseconds(100);
constexpr auto longest_restart_pause = std::chrono::milliseconds(10'000);
/// The pause between termination waves of a loop that is still busy: it
/// doubles from the shortest to the longest while the loop stays busy.
constexpr auto shortest_wave_pause = std::chrono::milliseconds(1);
constexpr auto longest_wave_pause = std::chrono::milliseconds(100);

/// Termination detection for one feedback loop (Mattern's four counters).
/// Once every task of the loop has said that its inputs from outside have
/// ended, the Dispatcher runs waves: it asks every task for the messages it has
/// sent and consumed inside the loop, and starts the next wave only when the
/// last one is complete. When two consecutive waves find the same totals, with
/// as many sent as consumed, no task consumed anything between them and no
/// message is in flight: the loop has ended, since a task of a loop whose
/// outside has ended only sends when it consumes.
struct LoopWatch {
  std::vector<int> tasks;
  std::vector<int> heads;  ///< its futures' tasks, told `loop_end`
  size_t ready = 0;        ///< tasks whose outside inputs have all ended
  uint64_t wave = 0;       ///< the wave under way (1, 2, ...)
  size_t answers = 0;      ///< of this wave
  uint64_t sent = 0;       ///< the totals of this wave so far
  uint64_t received = 0;
  /// The totals of the last complete wave, if it found as many sent as consumed.
  std::optional<std::pair<uint64_t, uint64_t>> quiet;
  std::chrono::milliseconds pause = shortest_wave_pause;
  bool ended = false;
};

/// What the Dispatcher knows of the host of one node's tasks.
/// To itself: start a task host of services only again (`relaunch_host`).
using relaunch_host_atom = caf::atom_constant<caf::atom("host_again")>;

struct Host {
  caf::actor node;          ///< where tasks are spawned; empty until known
  std::string address;      ///< a task host's "host:port", for its peers
  bool used = false;        ///< the node got tasks
  bool relaunched = false;  ///< a host of services only that ended, being started again
};

class DispatcherActor final : public caf::event_based_actor {
 public:
  DispatcherActor(caf::actor_config& cfg, caf::actor job_manager, JobPlan plan,
                  std::vector<DeployTarget> nodes, std::vector<size_t> node_of_task,
                  std::vector<size_t> node_of_service, ListenerHandle listener)
      : caf::event_based_actor(cfg),
        job_manager_(std::move(job_manager)),
        plan_(std::move(plan)),
        nodes_(std::move(nodes)),
        node_of_task_(std::move(node_of_task)),
        node_of_service_(std::move(node_of_service)),
        listener_(std::move(listener)) {}

  const char* name() const override { return "sage.dispatcher"; }

  caf::behavior make_behavior() override {
    set_default_handler(drop_unexpected);
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    deploy();
    return {
        [this](task_done_atom, int task) {
          if (task < 0 || static_cast<size_t>(task) >= done_.size() || done_[task]) return;
          done_[task] = true;
          if (++done_count_ == static_cast<int>(tasks_.size()))
            end(JobState::finished, {});
          else
            maybe_stop_serving();
        },
        [this](task_fail_atom, int task, const std::string& op, int instance,
               const std::string& message) {
          if (task >= 0 && static_cast<size_t>(task) < done_.size()) done_[task] = true;
          // The node goes last: the message starts as it does on one process.
          const auto node = where(task);
          end(JobState::failed, "operator \"" + op + "\" instance " + std::to_string(instance) +
                                    " failed: " + message +
                                    (node.empty() ? "" : " (" + node.substr(1) + ")"));
        },
        [this](task_link_atom, int task, int peer, const std::string& reason) {
          // Records may be lost on the link: end the job rather than wait for them.
          const auto here = where(task), there = where(peer);
          end(JobState::failed,
              "the link between " + (here.empty() ? std::string("a node") : here.substr(4)) +
                  " and " + (there.empty() ? std::string("another node") : there.substr(4)) +
                  " dropped (" + reason + "): task \"" + task_name(task) + "\" lost its peer \"" +
                  task_name(peer) + "\"");
        },
        [this](host_ready_atom, uint32_t index, caf::actor& node, const std::string& address) {
          on_host_ready(index, std::move(node), address);
        },
        [this](host_exited_atom, uint32_t index, const std::string& why) {
          if (index >= nodes_.size()) return;
          if (serves_only(index)) {
            // A host that never came up again fails this way; for one that runs,
            // its monitor says when it ends (this may be the report of an older one).
            if (!hosts_[index].node) {
              hosts_[index].relaunched = false;
              relaunch_host(index, "it " + why);
            }
            return;
          }
          end(JobState::failed, "the job's program on " + describe(nodes_[index].info) + " " + why);
        },
        [this](host_lost_atom, uint32_t index) {
          // The node that ran the task host did not say how it ended: say what we know.
          if (index < lost_host_.size() && !lost_host_[index].empty())
            end(JobState::failed, lost_host_[index]);
        },
        [this](host_timeout_atom) {
          if (!ending() && hosts_pending_ > 0)
            end(JobState::failed, "a task host did not report back within " +
                                      std::to_string(host_ready_timeout.count()) +
                                      " s (see the node's job log)");
        },
        [this](stop_atom) {
          if (ending()) return;
          stop_requested_ = true;
          if (phase_ != Phase::running) return;
          if (plan_.tasks.empty())
            end(JobState::finished, {});
          else
            stop_sources();
        },
        [this](restart_service_atom, uint32_t s) { restart_service(s); },
        [this](relaunch_host_atom, uint32_t n) { launch_again(n); },
        [this](loop_ready_atom, int task) { on_loop_ready(task); },
        [this](loop_counts_atom, int task, uint64_t wave, uint64_t sent, uint64_t received) {
          on_loop_counts(task, wave, sent, received);
        },
        [this](loop_wave_atom, int loop) { start_wave(loop); },
        [this](cancel_atom) { end(JobState::cancelled, {}); },
        [this](job_pause_atom) { set_paused(true); },
        [this](job_resume_atom) { set_paused(false); },
        [this](job_status_atom) -> caf::result<JobReport> {
          // Answered when the hosts have answered, or with the final report if
          // the job ends first (this actor then quits: no question goes unanswered).
          const auto id = next_status_request_++;
          auto promise = make_response_promise<JobReport>();
          status_requests_.emplace(id, promise);
          gather_counters([this, id](std::vector<uint64_t> counters) {
            auto it = status_requests_.find(id);
            if (it == status_requests_.end()) return;
            it->second.deliver(report(ending() ? final_state_ : state_now(), std::move(counters)));
            status_requests_.erase(it);
          });
          return promise;
        },
    };
  }

  void on_exit() override {
    tasks_.clear();  // the tasks hold this actor: break the cycle
    services_.clear();
    hosts_.clear();
    nodes_.clear();
    listener_ = nullptr;
    job_manager_ = nullptr;
  }

 private:
  // -- step 1: a host on every node that gets tasks ---------------------------------

  void deploy() {
    tasks_.resize(plan_.tasks.size());
    done_.assign(plan_.tasks.size(), false);
    loop_ready_.assign(plan_.tasks.size(), false);
    answered_wave_.assign(plan_.tasks.size(), 0);
    for (size_t t = 0; t < plan_.tasks.size(); ++t) {
      const int loop = plan_.tasks[t].loop;
      if (loop < 0) continue;
      if (static_cast<size_t>(loop) >= loops_.size()) loops_.resize(static_cast<size_t>(loop) + 1);
      loops_[loop].tasks.push_back(static_cast<int>(t));
      if (plan_.tasks[t].loop_head) loops_[loop].heads.push_back(static_cast<int>(t));
    }
    hosts_.resize(nodes_.size());
    for (size_t t = 0; t < plan_.tasks.size(); ++t) hosts_[node_of_task_[t]].used = true;
    services_.resize(plan_.services.size());
    restarts_.assign(plan_.services.size(), 0);
    for (size_t s = 0; s < plan_.services.size(); ++s) hosts_[node_of_service_[s]].used = true;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (!hosts_[n].used) continue;
      monitor(nodes_[n].node);  // a node lost while the job runs fails the job
      if (!nodes_[n].hosts_programs) {
        hosts_[n].node = nodes_[n].node;
        continue;
      }
      if (plan_.program.digest.empty()) {
        end(JobState::failed, "the job was submitted without its program, so " +
                                  describe(nodes_[n].info) +
                                  " cannot run its tasks (submit it with RemoteEnvironment)");
        return;
      }
      ++hosts_pending_;
      request(nodes_[n].node, launch_timeout, launch_atom::value, plan_.id,
              static_cast<uint32_t>(n), plan_.program, plan_.fingerprint,
              caf::actor_cast<caf::actor>(this), job_manager_)
          .then(
              [this, n](int32_t pid) {
                detail::log("runtime").debug("job {}: task host {} started on {}", plan_.id, pid,
                                             describe(nodes_[n].info));
              },
              [this, n](caf::error& err) {
                end(JobState::failed,
                    describe(nodes_[n].info) +
                        " could not start the job's program: " + system().render(err));
              });
    }
    if (hosts_pending_ > 0)
      delayed_send(this, host_ready_timeout, host_timeout_atom::value);
    else
      spawn_services();
  }

  void on_host_ready(uint32_t index, caf::actor node, const std::string& address) {
    if (index >= hosts_.size() || !node) return;
    if (ending() || hosts_[index].node) {  // too late, or twice: let it go
      send(node, shutdown_atom::value);
      return;
    }
    monitor(node);
    hosts_[index].node = std::move(node);
    hosts_[index].address = address;
    if (hosts_[index].relaunched) {  // a host of services only, started again: they follow
      hosts_[index].relaunched = false;
      for (size_t s = 0; s < services_.size(); ++s)
        if (node_of_service_[s] == index && !services_[s])
          restart_service(static_cast<uint32_t>(s));
      return;
    }
    if (--hosts_pending_ == 0) connect_peers();
  }

  /// Whether node `n`'s task host runs service instances of this job and no
  /// task: once the job runs, such a host that ends is started again (its
  /// instances restart, their calls in flight failed at once by their
  /// callers' routers), where a host with tasks fails the job.
  bool serves_only(size_t n) const {
    if (n >= hosts_.size() || !nodes_[n].hosts_programs || ending() || phase_ != Phase::running)
      return false;
    for (size_t t = 0; t < plan_.tasks.size(); ++t)
      if (node_of_task_[t] == n) return false;
    return true;
  }

  /// Starts node `n`'s task host again (it ended: `why`), after the pause of
  /// its services' restarts.
  void relaunch_host(size_t n, const std::string& why) {
    if (hosts_[n].relaunched) return;  // already on its way
    hosts_[n].relaunched = true;
    if (hosts_[n].node) {
      demonitor(hosts_[n].node);
      hosts_[n].node = nullptr;
    }
    hosts_[n].address.clear();
    int most = 0;
    for (size_t s = 0; s < services_.size(); ++s)
      if (node_of_service_[s] == n) most = std::max(most, restarts_[s]);
    const auto pause = std::min<std::chrono::milliseconds>(
        first_restart_pause * (int64_t{1} << std::min(most, 16)), longest_restart_pause);
    detail::log("runtime").warn(
        "job {}: the task host of its services on {} ended ({}); starting it again in {} ms",
        plan_.id, describe(nodes_[n].info), why, pause.count());
    delayed_send(this, pause, relaunch_host_atom::value, static_cast<uint32_t>(n));
  }

  void launch_again(uint32_t n) {
    if (ending() || n >= hosts_.size() || !hosts_[n].relaunched || hosts_[n].node) return;
    request(nodes_[n].node, launch_timeout, launch_atom::value, plan_.id, n, plan_.program,
            plan_.fingerprint, caf::actor_cast<caf::actor>(this), job_manager_)
        .then([](int32_t) {},
              [this, n](caf::error& err) {
                detail::log("runtime").warn(
                    "job {}: {} could not start the task host of its services again: {}", plan_.id,
                    describe(nodes_[n].info), system().render(err));
                delayed_send(this, longest_restart_pause, relaunch_host_atom::value, n);
              });
  }

  // -- step 2: task hosts connect to each other ---------------------------------------

  void connect_peers() {
    enter(Phase::connecting_peers);
    std::vector<size_t> task_hosts;
    for (size_t n = 0; n < hosts_.size(); ++n)
      if (hosts_[n].used && !hosts_[n].address.empty()) task_hosts.push_back(n);
    // The submitting program's node, when it listens, takes its collect() records directly.
    bool submitter_used = false;
    for (size_t t = 0; t < plan_.tasks.size(); ++t)
      submitter_used = submitter_used || plan_.tasks[t].at_submitter;
    std::vector<std::pair<size_t, PeerList>> asks;
    for (size_t n : task_hosts) {
      PeerList peers;
      // One connection per pair: a later host is dialled by the earlier one. (Two
      // nodes dialling each other at once make CAF drop one connection, and with
      // TLS, CAF 0.17 then drops healthy sessions too: docs/operations.md.)
      for (size_t m : task_hosts)
        if (m > n) peers.addresses.push_back(hosts_[m].address);
      if (submitter_used && !plan_.submitter_address.empty())
        peers.addresses.push_back(plan_.submitter_address);
      if (!peers.addresses.empty()) asks.emplace_back(n, std::move(peers));
    }
    if (asks.empty()) {
      spawn_services();
      return;
    }
    peers_pending_ = static_cast<int>(asks.size());
    for (auto& [n, peers] : asks)
      request(hosts_[n].node, peers_timeout, peers_atom::value, std::move(peers))
          .then([this]() { peer_connected(); },
                [this, n = n](caf::error& err) {
                  // Data still flows, routed through the head: slower, not wrong.
                  detail::log("runtime").warn(
                      "job {}: the task host on {} could not connect to its peers ({}); its "
                      "data goes through the head",
                      plan_.id, describe(nodes_[n].info), system().render(err));
                  peer_connected();
                });
  }

  void peer_connected() {
    if (--peers_pending_ == 0 && !ending()) spawn_services();
  }

  // -- step 3: services, then tasks ----------------------------------------------------

  void spawn_services() {
    if (ending()) return;
    enter(Phase::spawning_services);
    std::vector<std::vector<int32_t>> share(nodes_.size());
    for (size_t s = 0; s < plan_.services.size(); ++s)
      share[node_of_service_[s]].push_back(static_cast<int32_t>(s));
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (share[n].empty()) continue;
      ++pending_nodes_;
      request(hosts_[n].node, spawn_timeout, spawn_services_atom::value, plan_.id, share[n], false)
          .then(
              [this, ids = share[n]](std::vector<caf::actor>& spawned) {
                --pending_nodes_;
                for (size_t i = 0; i < ids.size() && i < spawned.size(); ++i)
                  adopt_service(static_cast<size_t>(ids[i]), std::move(spawned[i]));
                if (!ending() && spawned.size() != ids.size())
                  end(JobState::failed, "a node started " + std::to_string(spawned.size()) +
                                            " of " + std::to_string(ids.size()) +
                                            " service instances");
                if (pending_nodes_ == 0 && !ending()) publish_services();
                maybe_quit();
              },
              [this, n](caf::error& err) {
                --pending_nodes_;
                end(JobState::failed,
                    describe(nodes_[n].info) +
                        " could not start its service instances: " + system().render(err));
                maybe_quit();
              });
    }
    if (pending_nodes_ == 0) spawn_tasks();  // no services
  }

  void adopt_service(size_t s, caf::actor instance) {
    if (!instance) return;
    monitor(instance);
    ++alive_;
    if (ending()) send_exit(instance, caf::exit_reason::user_shutdown);
    services_[s] = std::move(instance);
  }

  /// The alive instances of the service named `name`.
  std::vector<caf::actor> instances_of(const std::string& name) const {
    std::vector<caf::actor> out;
    for (size_t s = 0; s < plan_.services.size(); ++s)
      if (plan_.services[s].chain == name && services_[s]) out.push_back(services_[s]);
    return out;
  }

  /// Tells the directory where every service runs; the tasks are spawned once
  /// it has every answer, so that the first record finds its services.
  void publish_services() {
    std::vector<std::string> names;
    for (const auto& s : plan_.services)
      if (std::find(names.begin(), names.end(), s.chain) == names.end()) names.push_back(s.chain);
    publishing_ = static_cast<int>(names.size());
    for (const auto& name : names)
      request(job_manager_, spawn_timeout, services_up_atom::value, plan_.id, name,
              instances_of(name))
          .then(
              [this]() {
                if (--publishing_ == 0 && !ending()) spawn_tasks();
              },
              [this, name](caf::error& err) {
                end(JobState::failed,
                    "service '" + name + "' could not be registered: " + system().render(err));
              });
  }

  /// Tells the directory where `name`'s instances are now. (A request: a
  /// refusal as an asynchronous error would end this actor.)
  void update_directory(const std::string& name) {
    request(job_manager_, spawn_timeout, services_up_atom::value, plan_.id, name,
            instances_of(name))
        .then([]() {},
              [this, name](caf::error& err) {
                detail::log("runtime").warn("job {}: the directory did not take service '{}': {}",
                                            plan_.id, name, system().render(err));
              });
  }

  /// Service instance `s` ended while the job runs: the directory forgets it
  /// (callers whose calls it was serving have heard already: they monitor it),
  /// and it starts again after a pause.
  void service_died(size_t s, const caf::error& reason) {
    const auto& planned = plan_.services[s];
    const auto pause = std::min<std::chrono::milliseconds>(
        first_restart_pause * (int64_t{1} << std::min(restarts_[s], 16)), longest_restart_pause);
    detail::log("runtime").warn(
        "job {}: service '{}' instance {} ended ({}); restarting it in {} ms", plan_.id,
        planned.chain, planned.instance, words_of(reason), pause.count());
    update_directory(planned.chain);
    delayed_send(this, pause, restart_service_atom::value, static_cast<uint32_t>(s));
  }

  void restart_service(uint32_t s) {
    if (ending() || s >= services_.size() || services_[s]) return;
    const size_t n = node_of_service_[s];
    if (!hosts_[n].node) return;  // its host is gone: the job fails, or it restarts with the host
    ++restarts_[s];
    request(hosts_[n].node, spawn_timeout, spawn_services_atom::value, plan_.id,
            std::vector<int32_t>{static_cast<int32_t>(s)}, true)
        .then(
            [this, s](std::vector<caf::actor>& spawned) {
              if (spawned.size() != 1 || !spawned.front()) return;
              adopt_service(s, std::move(spawned.front()));
              if (!ending()) update_directory(plan_.services[s].chain);
            },
            [this, s](caf::error& err) {
              detail::log("runtime").warn(
                  "job {}: service '{}' instance {} did not start again: {}", plan_.id,
                  plan_.services[s].chain, plan_.services[s].instance, system().render(err));
              delayed_send(this, longest_restart_pause, restart_service_atom::value, s);
            });
  }

  void spawn_tasks() {
    if (ending()) return;
    if (plan_.tasks.empty()) {  // a job of services only: it serves until it is stopped
      enter(Phase::running);
      if (listener_) send(listener_, job_running_atom::value);
      detail::log("runtime").debug("job {}: {} service instances up", plan_.id, services_.size());
      if (stop_requested_) end(JobState::finished, {});
      return;
    }
    enter(Phase::spawning_tasks);
    std::vector<std::vector<int32_t>> share(nodes_.size());
    for (size_t t = 0; t < plan_.tasks.size(); ++t)
      share[node_of_task_[t]].push_back(static_cast<int32_t>(t));
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (share[n].empty()) continue;
      ++pending_nodes_;
      request(hosts_[n].node, spawn_timeout, spawn_tasks_atom::value, plan_.id, share[n],
              caf::actor_cast<caf::actor>(this))
          .then(
              [this, ids = share[n]](std::vector<TaskHandle>& spawned) {
                --pending_nodes_;
                for (size_t i = 0; i < ids.size() && i < spawned.size(); ++i) {
                  tasks_[ids[i]] = spawned[i];
                  monitor(spawned[i]);
                  ++alive_;
                  if (ending()) send_exit(spawned[i], caf::exit_reason::user_shutdown);
                }
                if (!ending() && spawned.size() != ids.size())
                  end(JobState::failed, "a node spawned " + std::to_string(spawned.size()) +
                                            " of " + std::to_string(ids.size()) + " tasks");
                if (pending_nodes_ == 0 && !ending()) wire_and_start();
                maybe_quit();
              },
              [this, n](caf::error& err) {
                --pending_nodes_;
                end(JobState::failed, describe(nodes_[n].info) +
                                          " could not spawn its tasks: " + system().render(err));
                maybe_quit();
              });
    }
  }

  void wire_and_start() {
    std::vector<TaskWiring> wiring(tasks_.size());
    for (size_t t = 0; t < plan_.tasks.size(); ++t) {
      wiring[t].outputs.resize(plan_.tasks[t].output_slots);
      wiring[t].output_peer_slots.resize(plan_.tasks[t].output_slots);
      wiring[t].inputs.resize(plan_.tasks[t].input_slots);
      wiring[t].input_peer_slots.resize(plan_.tasks[t].input_slots);
    }
    for (const auto& ch : plan_.channels) {
      wiring[ch.from_task].outputs[ch.from_slot] = tasks_[ch.to_task];
      wiring[ch.from_task].output_peer_slots[ch.from_slot] = ch.to_slot;
      wiring[ch.to_task].inputs[ch.to_slot] = tasks_[ch.from_task];
      wiring[ch.to_task].input_peer_slots[ch.to_slot] = ch.from_slot;
    }
    // Every task is wired before any starts: a batch or end-of-stream from a
    // task on another node may otherwise overtake its receiver's wiring.
    enter(Phase::wiring);
    wires_pending_ = static_cast<int>(tasks_.size());
    for (size_t t = 0; t < tasks_.size(); ++t)
      request(tasks_[t], spawn_timeout, wire_atom::value, wiring[t])
          .then(
              [this]() {
                if (--wires_pending_ == 0 && !ending()) start_tasks();
              },
              [this](caf::error& err) {
                end(JobState::failed, "a task could not be wired: " + system().render(err));
              });
  }

  void start_tasks() {
    for (auto& task : tasks_) send(task, start_atom::value);
    enter(Phase::running);
    if (listener_) send(listener_, job_running_atom::value);
    detail::log("runtime").debug("job {}: {} tasks deployed", plan_.id, tasks_.size());
    if (paused_) send_pause_to_sources();
    if (stop_requested_) stop_sources();
  }

  /// The sources of pipeline services stop once every other task is done
  /// (the rest of the job may call them until then), or, in a job of pipeline
  /// services only, once it is stopped.
  void maybe_stop_serving() {
    if (serving_stopped_ || phase_ != Phase::running) return;
    bool rest = false;
    for (size_t t = 0; t < plan_.tasks.size(); ++t) {
      if (plan_.tasks[t].serves) continue;
      if (!done_[t]) return;
      rest = true;
    }
    if (!rest && !stop_requested_) return;
    serving_stopped_ = true;
    for (size_t t = 0; t < tasks_.size(); ++t)
      if (plan_.tasks[t].is_source && plan_.tasks[t].serves) send(tasks_[t], stop_atom::value);
  }

  JobState state_now() const { return paused_ ? JobState::paused : JobState::running; }

  void set_paused(bool paused) {
    if (ending() || paused == paused_) return;
    paused_ = paused;
    detail::log("runtime").info("job {}: {}", plan_.id, paused ? "paused" : "resumed");
    if (phase_ == Phase::running) send_pause_to_sources();
  }

  void send_pause_to_sources() {
    for (size_t t = 0; t < tasks_.size(); ++t)
      if (plan_.tasks[t].is_source) {
        if (paused_)
          send(tasks_[t], job_pause_atom::value);
        else
          send(tasks_[t], job_resume_atom::value);
      }
  }

  // -- feedback loops: termination detection (LoopWatch) -------------------------

  /// The loop of task `task`, if it is a task of this job in a loop.
  LoopWatch* loop_of(int task) {
    if (task < 0 || static_cast<size_t>(task) >= plan_.tasks.size()) return nullptr;
    const int loop = plan_.tasks[task].loop;
    return loop < 0 || static_cast<size_t>(loop) >= loops_.size() ? nullptr : &loops_[loop];
  }

  void on_loop_ready(int task) {
    auto* loop = loop_of(task);
    if (loop == nullptr || loop_ready_[task]) return;
    loop_ready_[task] = true;
    if (++loop->ready == loop->tasks.size()) start_wave(plan_.tasks[task].loop);
  }

  void start_wave(int index) {
    if (ending() || index < 0 || static_cast<size_t>(index) >= loops_.size()) return;
    auto& loop = loops_[index];
    if (loop.ended || loop.ready < loop.tasks.size()) return;
    ++loop.wave;
    loop.answers = 0;
    loop.sent = loop.received = 0;
    for (int t : loop.tasks) send(tasks_[t], loop_probe_atom::value, loop.wave);
  }

  void on_loop_counts(int task, uint64_t wave, uint64_t sent, uint64_t received) {
    auto* loop = loop_of(task);
    if (ending() || loop == nullptr || loop->ended || wave != loop->wave ||
        answered_wave_[task] == wave)
      return;
    answered_wave_[task] = wave;
    loop->sent += sent;
    loop->received += received;
    if (++loop->answers < loop->tasks.size()) return;
    const int index = plan_.tasks[task].loop;
    const std::pair totals{loop->sent, loop->received};
    const bool quiet = totals.first == totals.second;
    if (quiet && loop->quiet == totals) {
      loop->ended = true;
      detail::log("runtime").debug("job {}: loop {} ended after {} messages, {} waves", plan_.id,
                                   index, totals.first, loop->wave);
      for (int t : loop->heads) send(tasks_[t], loop_end_atom::value);
      return;
    }
    loop->quiet = quiet ? std::optional(totals) : std::nullopt;
    if (quiet) {  // confirm at once
      loop->pause = shortest_wave_pause;
      start_wave(index);
      return;
    }
    delayed_send(this, loop->pause, loop_wave_atom::value, index);
    loop->pause = std::min(loop->pause * 2, longest_wave_pause);
  }

  // -- counters -----------------------------------------------------------------

  /// Sums the counters of every host (each instance counts on the one host
  /// that runs it) and calls `done` with them; unanswered hosts count nothing.
  void gather_counters(std::function<void(std::vector<uint64_t>)> done) {
    std::vector<caf::actor> asked;
    for (const auto& h : hosts_)
      if (h.used && h.node && std::find(asked.begin(), asked.end(), h.node) == asked.end())
        asked.push_back(h.node);
    if (asked.empty()) {
      done({});
      return;
    }
    struct Sum {
      std::vector<uint64_t> total;
      size_t waiting = 0;
      std::function<void(std::vector<uint64_t>)> done;
    };
    auto sum = std::make_shared<Sum>();
    sum->waiting = asked.size();
    sum->done = std::move(done);
    auto add = [sum](const std::vector<uint64_t>& part) {
      if (sum->total.size() < part.size()) sum->total.resize(part.size(), 0);
      for (size_t i = 0; i < part.size(); ++i) sum->total[i] += part[i];
      if (--sum->waiting == 0) sum->done(std::move(sum->total));
    };
    for (const auto& node : asked)
      request(node, counters_timeout, counters_atom::value, plan_.id)
          .then([add](const std::vector<uint64_t>& part) { add(part); },
                [add](caf::error&) { add({}); });
  }

  JobReport report(JobState state, std::vector<uint64_t> counters) const {
    std::vector<std::string> where(plan_.tasks.size());
    for (size_t t = 0; t < where.size(); ++t) where[t] = describe(nodes_[node_of_task_[t]].info);
    const auto run_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - started_at_)
                                 .count();
    std::vector<std::string> service_where(plan_.services.size());
    for (size_t s = 0; s < service_where.size(); ++s)
      service_where[s] = describe(nodes_[node_of_service_[s]].info);
    auto r = make_report(plan_, counters, where, run_time_ms, service_where);
    r.state = static_cast<int32_t>(state);
    r.error = error_;
    r.submitted_ms = submitted_ms_;
    r.run_time_ms = run_time_ms;
    return r;
  }

  void stop_sources() {
    detail::log("runtime").info("job {}: stopping its sources", plan_.id);
    for (size_t t = 0; t < tasks_.size(); ++t)
      if (plan_.tasks[t].is_source && !plan_.tasks[t].serves) send(tasks_[t], stop_atom::value);
    maybe_stop_serving();
  }

  // -- failures and the end ---------------------------------------------------------

  /// " on worker 127.0.0.1:4711", where task `t` runs (when it is off the submitter).
  std::string task_name(int t) const {
    if (t < 0 || static_cast<size_t>(t) >= plan_.tasks.size()) return "?";
    return plan_.tasks[t].chain + " (" + std::to_string(plan_.tasks[t].instance) + ")";
  }

  std::string where(int t) const {
    if (t < 0 || static_cast<size_t>(t) >= node_of_task_.size()) return {};
    const auto& info = nodes_[node_of_task_[t]].info;
    return info.host.empty() ? std::string{} : " on " + describe(info);
  }

  void on_down(const caf::down_msg& dm) {
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (nodes_[n].node.address() == dm.source) {
        end(JobState::failed, describe(nodes_[n].info) + " was lost (" +
                                  (dm.reason == caf::exit_reason::remote_link_unreachable
                                       ? std::string("it crashed, froze or became unreachable")
                                       : to_string(dm.reason)) +
                                  ")");
        return;
      }
      if (hosts_[n].node && nodes_[n].hosts_programs && hosts_[n].node.address() == dm.source) {
        if (serves_only(n)) {
          relaunch_host(n, to_string(dm.reason));
          return;
        }
        host_gone(n, "the job's program on " + describe(nodes_[n].info) +
                         " ended unexpectedly: " + to_string(dm.reason));
        hosts_[n].node = nullptr;
        return;
      }
    }
    --alive_;
    for (size_t s = 0; s < services_.size(); ++s) {
      if (!services_[s] || services_[s].address() != dm.source) continue;
      services_[s] = nullptr;
      if (!ending()) service_died(s, dm.reason);
      maybe_quit();
      return;
    }
    for (size_t t = 0; t < tasks_.size(); ++t) {
      if (!tasks_[t] || tasks_[t].address() != dm.source || done_[t]) continue;
      done_[t] = true;
      const auto& task = plan_.tasks[t];
      auto message = "task \"" + task.chain + "\" instance " + std::to_string(task.instance) +
                     where(static_cast<int>(t)) + " ended unexpectedly: " + to_string(dm.reason);
      const size_t n = node_of_task_[t];
      if (nodes_[n].hosts_programs && dm.reason == caf::exit_reason::remote_link_unreachable)
        host_gone(n, std::move(message));  // its process ended: the node may say how
      else
        end(JobState::failed, std::move(message));
    }
    maybe_quit();
  }

  /// The task host on node `n` is gone. The node that started it reports how it
  /// ended (a signal, its last log line) within a reaping interval: the job
  /// fails with that, or else with `message` shortly after.
  void host_gone(size_t n, std::string message) {
    if (ending()) return;
    if (lost_host_.size() < nodes_.size()) lost_host_.resize(nodes_.size());
    if (!lost_host_[n].empty()) return;
    lost_host_[n] = std::move(message);
    delayed_send(this, host_exit_grace, host_lost_atom::value, static_cast<uint32_t>(n));
  }

  /// Ends the job in `state`: stops the tasks still running, then reports once
  /// every task actor has terminated.
  void end(JobState state, std::string error) {
    if (ending()) return;
    phase_ = Phase::ending;
    final_state_ = state;
    error_ = std::move(error);
    if (state != JobState::finished)
      for (size_t t = 0; t < tasks_.size(); ++t)
        if (tasks_[t] && !done_[t]) send_exit(tasks_[t], caf::exit_reason::user_shutdown);
    // Services end with their job, once its pipeline has drained (or failed).
    for (auto& instance : services_)
      if (instance) send_exit(instance, caf::exit_reason::user_shutdown);
    maybe_quit();
  }

  void maybe_quit() {
    // Nodes still spawning are not waited for: a reply that comes after this
    // actor ended is dropped, and its tasks, never started, run no user code
    // and are reclaimed by CAF.
    if (phase_ != Phase::ending || alive_ > 0) return;
    phase_ = Phase::reported;
    if (final_state_ == JobState::failed)
      detail::log("runtime").error("job {} failed: {}", plan_.id, error_);
    else
      detail::log("runtime").debug("job {} {}", plan_.id, to_string(final_state_));
    // A job with task hosts gathers their final counters before they exit:
    // the submitter's status() shows them after the end.
    const bool remote = std::any_of(hosts_.begin(), hosts_.end(),
                                    [this](const Host& h) { return h.node && !h.address.empty(); });
    if (!remote) {
      report_end({});
      return;
    }
    gather_counters([this](std::vector<uint64_t> counters) { report_end(std::move(counters)); });
  }

  void report_end(std::vector<uint64_t> counters) {
    auto r = report(final_state_, std::move(counters));
    for (auto& [id, promise] : status_requests_) promise.deliver(r);
    status_requests_.clear();
    // The runtime first (its service names are free again), then the program.
    send(job_manager_, job_end_atom::value, r);
    if (listener_) send(listener_, job_end_atom::value, std::move(r));
    for (size_t n = 0; n < hosts_.size(); ++n)  // task hosts exit
      if (nodes_[n].hosts_programs && hosts_[n].node) send(hosts_[n].node, shutdown_atom::value);
    quit();
  }

  caf::actor job_manager_;
  JobPlan plan_;
  std::vector<DeployTarget> nodes_;
  std::vector<size_t> node_of_task_;
  std::vector<size_t> node_of_service_;
  ListenerHandle listener_;
  std::vector<Host> hosts_;             // by node
  std::vector<std::string> lost_host_;  // by node: why its task host is gone, while the
                                        // node may still say how it ended
  std::vector<TaskHandle> tasks_;       // by task id; empty until its host spawned it
  std::vector<caf::actor> services_;    // by service instance; empty while not running
  std::vector<int> restarts_;           // by service instance
  std::vector<bool> done_;
  std::vector<LoopWatch> loops_;
  std::vector<bool> loop_ready_;         // by task: it said its outside ended
  std::vector<uint64_t> answered_wave_;  // by task: the last wave it answered
  std::map<uint64_t, caf::typed_response_promise<JobReport>> status_requests_;  // pending
  uint64_t next_status_request_ = 0;
  size_t alive_ = 0;
  int hosts_pending_ = 0;
  int peers_pending_ = 0;
  int pending_nodes_ = 0;
  int wires_pending_ = 0;
  int publishing_ = 0;  // services_up answers awaited
  int done_count_ = 0;
  /// Where the job stands (docs/architecture.md, "The Dispatcher"): each
  /// deployment step begins once the replies of the last are in (the counters
  /// above), and a failure at any step jumps to `ending`.
  enum class Phase {
    launching_hosts,    ///< task hosts start on their nodes (`hosts_pending_`)
    connecting_peers,   ///< task hosts connect to each other (`peers_pending_`)
    spawning_services,  ///< nodes start the service instances (`pending_nodes_`), then the
                        ///< directory learns of them (`publishing_`)
    spawning_tasks,     ///< nodes spawn their tasks (`pending_nodes_`)
    wiring,             ///< every task learns its peers before any starts (`wires_pending_`)
    running,            ///< tasks started: stop and pause reach the sources at once
    ending,             ///< finished, failed or cancelled: waiting for every task to be gone
    reported,           ///< the end went to the listener and the JobManager; the actor quits
  };
  Phase phase_ = Phase::launching_hosts;
  /// Requests that wait for `running` when they come earlier.
  bool stop_requested_ = false;
  bool serving_stopped_ = false;  ///< the pipeline services' sources were told to stop
  bool paused_ = false;

  [[nodiscard]] bool ending() const { return phase_ >= Phase::ending; }
  /// Moves on to the deployment step `next`; never back from the end.
  void enter(Phase next) {
    if (!ending()) phase_ = next;
  }
  JobState final_state_ = JobState::running;
  std::string error_;
  int64_t submitted_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
};

}  // namespace

caf::actor spawn_dispatcher(caf::event_based_actor* parent, JobPlan plan,
                            std::vector<DeployTarget> nodes, std::vector<size_t> node_of_task,
                            std::vector<size_t> node_of_service, ListenerHandle listener) {
  node_of_service.resize(plan.services.size(), 0);
  auto d = parent->spawn<DispatcherActor>(caf::actor_cast<caf::actor>(parent), std::move(plan),
                                          std::move(nodes), std::move(node_of_task),
                                          std::move(node_of_service), std::move(listener));
  parent->monitor(d);
  return d;
}

}  // namespace sage::actors
