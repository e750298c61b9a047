/// The JobManager: the runtime's entry point for jobs, the registry of the
/// nodes tasks can be placed on, and (on a cluster's head) the store of the
/// programs that jobs ship. One per runtime: embedded in a program's process,
/// or the head of a cluster.
///
/// Its messages: protocol.hpp, "JobManager".

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <spdlog/spdlog.h>

#include <sage/detail/log.hpp>

#include <sage/actors/placement.hpp>
#include <sage/actors/program_store.hpp>
#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

/// How many ended jobs `cluster status` still lists.
constexpr size_t ended_jobs_kept = 100;

struct JobEntry {
  caf::actor dispatcher;  ///< empty once the job ended
  ListenerHandle listener;
  JobReport report;  ///< as submitted; once ended, its final report
  std::vector<std::pair<caf::actor_addr, PlannedTask>> placed;  ///< what it holds, per node
};

/// A running service in the directory: the job that registered it and its
/// instances (none until its Dispatcher has them up).
struct ServiceEntry {
  std::string job;
  std::vector<caf::actor> instances;
  /// The routers that looked the name up: told when its instances change
  /// (a remote instance's end reaches them only so, unless they are connected to it).
  std::vector<caf::actor> watchers;
};

/// The most routers told of one name's changes (one per process that calls it).
constexpr size_t max_service_watchers = 1024;

struct NodeEntry {
  caf::actor actor;
  NodeStatus status;
};

class JobManagerActor final : public caf::event_based_actor {
 public:
  JobManagerActor(caf::actor_config& cfg, caf::actor local_node, NodeInfo info,
                  std::string state_dir, uint64_t max_program_bytes)
      : caf::event_based_actor(cfg),
        programs_(state_dir.empty() ? std::string{} : state_dir + "/programs", max_program_bytes),
        workers_file_(state_dir.empty() ? std::string{} : state_dir + "/workers") {
    if (!workers_file_.empty()) {
      std::ifstream in(workers_file_);
      for (std::string line; std::getline(in, line);)
        if (!line.empty() && known_workers_.size() < max_known_workers)
          known_workers_.push_back(line);
    }
    if (local_node)
      nodes_.push_back(NodeEntry{std::move(local_node), NodeStatus{std::move(info), true, {}}});
  }

  const char* name() const override { return "sage.job_manager"; }

  caf::behavior make_behavior() override {
    set_default_handler(drop_unexpected);
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    return {
        [this](submit_atom, JobPlan& plan, caf::actor& submitter,
               ListenerHandle& listener) -> caf::result<void> {
          return done_unless(submit(std::move(plan), std::move(submitter), std::move(listener)));
        },
        [this](stop_atom, const std::string& id) { forward(id, stop_atom::value); },
        [this](cancel_atom, const std::string& id) { forward(id, cancel_atom::value); },
        [this](job_end_atom, JobReport& report) {
          auto it = jobs_.find(report.id);
          // Only the job's own Dispatcher reports its end.
          if (it == jobs_.end() || !it->second.dispatcher ||
              current_sender() != caf::actor_cast<caf::strong_actor_ptr>(it->second.dispatcher))
            return;
          it->second.report = std::move(report);
          it->second.placed.clear();  // its resources are free again
          release_services(it->first);
          // Ended: from here on its report answers for it (the Dispatcher is quitting).
          if (it->second.dispatcher) demonitor(it->second.dispatcher);
          it->second.dispatcher = nullptr;
        },
        [this](job_list_atom) {
          std::vector<JobReport> out;
          for (const auto& id : job_order_) {
            auto r = jobs_.at(id).report;
            r.counters.clear();
            r.tasks.clear();
            if (jobs_.at(id).dispatcher) r.run_time_ms = now_ms() - r.submitted_ms;
            out.push_back(std::move(r));
          }
          return out;
        },
        [this](job_status_atom, const std::string& prefix) -> caf::result<JobReport> {
          auto it = find_job_entry(prefix);
          if (!it) return it.error();
          if (!(*it)->second.dispatcher) return (*it)->second.report;
          // The Dispatcher answers with the live counters. One that just ended
          // (its end reported, this question on its way) answers no more: the
          // report it sent before it quit answers instead.
          auto promise = make_response_promise<JobReport>();
          const auto id = (*it)->first;
          request((*it)->second.dispatcher, std::chrono::seconds(10), job_status_atom::value)
              .then([promise](JobReport& r) mutable { promise.deliver(std::move(r)); },
                    [this, promise, id](caf::error& err) mutable {
                      auto entry = jobs_.find(id);
                      if (entry != jobs_.end() &&
                          is_terminal(static_cast<JobState>(entry->second.report.state)))
                        promise.deliver(entry->second.report);
                      else
                        promise.deliver(std::move(err));
                    });
          return promise;
        },
        [this](service_lookup_atom, const std::string& name) {
          auto it = services_.find(name);
          if (it == services_.end()) return std::vector<caf::actor>{};
          auto& watchers = it->second.watchers;
          if (auto who = caf::actor_cast<caf::actor>(current_sender());
              who && watchers.size() < max_service_watchers &&
              std::find(watchers.begin(), watchers.end(), who) == watchers.end()) {
            monitor(who);  // a router whose process ended is told nothing more
            watchers.push_back(std::move(who));
          }
          return it->second.instances;
        },
        [this](services_up_atom, const std::string& job, const std::string& name,
               std::vector<caf::actor>& instances) -> caf::result<void> {
          auto it = services_.find(name);
          auto owner = jobs_.find(job);
          // Only the Dispatcher of the job that registered the name says where it runs.
          if (it == services_.end() || it->second.job != job || owner == jobs_.end() ||
              !owner->second.dispatcher ||
              current_sender() != caf::actor_cast<caf::strong_actor_ptr>(owner->second.dispatcher))
            return make_error(ErrorCode::refused, "job " + job + " has no service '" + name + "'");
          it->second.instances = std::move(instances);
          for (const auto& w : it->second.watchers)
            send(w, service_update_atom::value, name, it->second.instances);
          return caf::unit;
        },
        [this](job_pause_atom, const std::string& id) { forward(id, job_pause_atom::value); },
        [this](job_resume_atom, const std::string& id) { forward(id, job_resume_atom::value); },
        [this](job_delete_atom, const std::string& id) -> caf::result<void> {
          auto it = jobs_.find(id);
          if (it == jobs_.end()) return make_error(ErrorCode::no_such_job, "no job " + id);
          if (it->second.dispatcher)
            return make_error(ErrorCode::still_running, "job " + id + " still runs: stop it first");
          for (const auto& n : nodes_)
            if (n.status.alive) send(n.actor, job_delete_atom::value, id);
          jobs_.erase(it);
          job_order_.erase(std::find(job_order_.begin(), job_order_.end(), id));
          return caf::unit;
        },
        [this](job_logs_atom, const std::string& id, const std::vector<uint64_t>& offsets)
            -> caf::result<LogChunk> { return gather_logs(id, offsets); },
        [this](host_ready_atom, const std::string& id, uint32_t index, caf::actor& node,
               const std::string& address) {
          auto it = jobs_.find(id);
          if (it != jobs_.end() && it->second.dispatcher)
            send(it->second.dispatcher, host_ready_atom::value, index, std::move(node), address);
          else if (node)  // the job is gone: its task host may exit
            send(node, shutdown_atom::value);
        },
        [this](add_node_atom, caf::actor& node) -> caf::result<void> {
          if (!node) return make_error(ErrorCode::malformed, "no node to add");
          add(std::move(node), NodeInfo{});
          return caf::unit;
        },
        [this](register_node_atom, NodeInfo& info, caf::actor& node) -> caf::result<uint32_t> {
          // A peer's message: a node without an actor would be a hole in every later status.
          if (!node) return make_error(ErrorCode::malformed, "a node registered without its actor");
          detail::log("runtime").info("{} registered ({} cpus, {} MB, {} gpus)", describe(info),
                                      info.cpus, info.memory_mb, info.gpus);
          return add(std::move(node), std::move(info));
        },
        [this](has_program_atom, const std::string& digest) {
          return programs_.enabled() && programs_.contains(digest);
        },
        [this](put_program_atom, const std::string& digest,
               const std::string& bytes) -> caf::result<void> {
          if (!programs_.enabled())
            return make_error(ErrorCode::unsupported, "this runtime does not store programs");
          if (auto why = programs_.put(digest, bytes); !why.empty())
            return make_error(ErrorCode::refused, why);
          return caf::unit;
        },
        [this](get_program_atom, const std::string& digest) -> caf::result<std::string> {
          auto bytes = programs_.enabled() ? programs_.get(digest) : std::nullopt;
          if (!bytes) return make_error(ErrorCode::not_stored, "no stored program " + digest);
          return std::move(*bytes);
        },
        [this](cluster_status_atom) {
          ClusterStatus s;
          for (const auto& n : nodes_) {
            PlacementNode load;
            account(n.actor.address(), load);
            auto status = n.status;
            status.running_tasks = load.running_tasks;
            status.used_cpus = load.used_cpus;
            status.used_memory_mb = load.used_memory_mb;
            status.used_gpus = load.used_gpus;
            s.nodes.push_back(std::move(status));
          }
          for (const auto& id : job_order_) {
            const auto& r = jobs_.at(id).report;
            s.jobs.push_back(
                JobSummary{id, r.name, std::string(to_string(static_cast<JobState>(r.state)))});
          }
          for (const auto& address : known_workers_)
            if (std::none_of(nodes_.begin(), nodes_.end(), [&](const NodeEntry& n) {
                  return n.status.info.host + ":" + std::to_string(n.status.info.port) == address;
                }))
              s.unregistered.push_back(address);
          return s;
        },
        [this](shutdown_atom, bool all) {
          detail::log("runtime").info("shutting down{}", all ? " with every worker" : "");
          for (auto& [id, entry] : jobs_)
            if (entry.dispatcher) send(entry.dispatcher, cancel_atom::value);
          // Every known worker is told now (the client tells those the head cannot reach).
          if (all && !workers_file_.empty()) {
            known_workers_.clear();
            std::error_code ec;
            std::filesystem::remove(workers_file_, ec);
          }
          // This process's node always ends with the runtime; workers only with `all`.
          for (const auto& n : nodes_)
            if (n.status.alive && (all || n.status.info.role != NodeRole::worker))
              send(n.actor, shutdown_atom::value);
          quit();
        },
    };
  }

  void on_exit() override {
    services_.clear();
    jobs_.clear();
    nodes_.clear();
  }

 private:
  /// Places the job and spawns its Dispatcher; or says why it cannot run.
  caf::error submit(JobPlan plan, caf::actor submitter, ListenerHandle listener) {
    detail::log("runtime").debug("job {} ({}) submitted", plan.id, plan.name);
    if (auto problem = validate(plan); !problem.empty())
      return make_error(ErrorCode::malformed, "a malformed job plan: " + problem);
    if (jobs_.count(plan.id) > 0)
      return make_error(ErrorCode::refused, "a job with id " + plan.id + " exists already");
    // The nodes placement chooses from: the registered ones, and the submitter's own.
    std::vector<PlacementNode> candidates;
    std::vector<DeployTarget> targets;
    bool submitter_known = false;
    for (const auto& n : nodes_) {
      PlacementNode p;
      p.info = n.status.info;
      p.alive = n.status.alive;
      p.is_submitter = n.actor == submitter;
      submitter_known = submitter_known || p.is_submitter;
      account(n.actor.address(), p);
      candidates.push_back(std::move(p));
      targets.push_back(DeployTarget{n.actor, n.status.info, hosts_programs(n.status.info)});
    }
    if (!submitter_known && submitter) {
      PlacementNode p;
      p.info.role = NodeRole::client;
      p.is_submitter = true;
      candidates.push_back(p);
      targets.push_back(DeployTarget{submitter, p.info, false});
    }
    // Lost nodes take no tasks: drop them, so that task indexes stay dense.
    for (size_t i = candidates.size(); i-- > 0;)
      if (!candidates[i].alive) {
        candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(i));
        targets.erase(targets.begin() + static_cast<std::ptrdiff_t>(i));
      }
    // A service's name is the runtime's: one running job has it at a time.
    for (const auto& s : plan.services)
      if (auto it = services_.find(s.chain); it != services_.end()) {
        const auto why = "a service named '" + s.chain + "' is already registered by job " +
                         it->second.job + " (" + jobs_.at(it->second.job).report.name + ")";
        detail::log("runtime").warn("job {} ({}) refused: {}", plan.id, plan.name, why);
        return make_error(ErrorCode::refused, why);
      }
    // Service instances are placed as tasks are, after the pipeline's tasks.
    JobPlan placed = plan;
    placed.tasks.insert(placed.tasks.end(), plan.services.begin(), plan.services.end());
    auto placement = place_tasks(placed, candidates);
    if (!placement.error.empty()) {
      detail::log("runtime").warn("job {} ({}) refused: {}", plan.id, plan.name, placement.error);
      return make_error(ErrorCode::refused, placement.error);
    }
    std::vector<size_t> node_of_service(
        placement.node_of_task.begin() + static_cast<std::ptrdiff_t>(plan.tasks.size()),
        placement.node_of_task.end());
    placement.node_of_task.resize(plan.tasks.size());
    JobEntry entry;
    entry.report.id = plan.id;
    entry.report.name = plan.name;
    entry.report.state = static_cast<int32_t>(JobState::running);
    entry.report.submitted_ms = now_ms();
    entry.listener = listener;
    for (size_t t = 0; t < plan.tasks.size(); ++t)
      entry.placed.emplace_back(targets[placement.node_of_task[t]].node.address(), plan.tasks[t]);
    for (size_t s = 0; s < plan.services.size(); ++s)
      entry.placed.emplace_back(targets[node_of_service[s]].node.address(), plan.services[s]);
    for (const auto& s : plan.services) services_[s.chain].job = plan.id;
    const auto id = plan.id;
    entry.dispatcher = spawn_dispatcher(this, std::move(plan), std::move(targets),
                                        std::move(placement.node_of_task),
                                        std::move(node_of_service), std::move(listener));
    jobs_.emplace(id, std::move(entry));
    job_order_.push_back(id);
    forget_old_jobs();
    return caf::none;
  }

  /// A cluster daemon runs a job's tasks in a task host started from the
  /// shipped program; any other node has the job in its process.
  static bool hosts_programs(const NodeInfo& info) {
    return info.role == NodeRole::head || info.role == NodeRole::worker;
  }

  /// Adds what running jobs hold on the node `where` to `p`.
  void account(const caf::actor_addr& where, PlacementNode& p) const {
    for (const auto& [id, job] : jobs_)
      for (const auto& [node, task] : job.placed) {
        if (node != where) continue;
        ++p.running_tasks;
        p.used_cpus += task.cpus;
        p.used_memory_mb += task.memory_mb;
        p.used_gpus += task.gpus;
      }
  }

  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  /// The job whose id is `prefix`, or starts with it (as with git).
  caf::expected<std::map<std::string, JobEntry>::iterator> find_job_entry(
      const std::string& prefix) {
    if (auto it = jobs_.find(prefix); it != jobs_.end()) return it;
    auto found = jobs_.end();
    for (auto it = jobs_.lower_bound(prefix); it != jobs_.end() && it->first.rfind(prefix, 0) == 0;
         ++it) {
      if (found != jobs_.end())
        return make_error(ErrorCode::ambiguous, "job id prefix " + prefix + " is ambiguous");
      found = it;
    }
    if (found == jobs_.end() || prefix.empty())
      return make_error(ErrorCode::no_such_job, "no job " + prefix);
    return found;
  }

  /// Asks every alive node for its log of job `id` from `offsets[i]` on.
  caf::result<LogChunk> gather_logs(const std::string& id, const std::vector<uint64_t>& offsets) {
    auto promise = make_response_promise<LogChunk>();
    auto chunk = std::make_shared<LogChunk>();
    auto waiting = std::make_shared<size_t>(0);
    std::vector<size_t> asked;
    for (size_t i = 0; i < nodes_.size(); ++i)  // lost ones too, so that offsets keep their place
      if (hosts_programs(nodes_[i].status.info)) asked.push_back(i);
    chunk->nodes.resize(asked.size());
    chunk->texts.resize(asked.size());
    chunk->next.resize(asked.size());
    if (asked.empty()) {
      promise.deliver(*chunk);
      return promise;
    }
    *waiting = asked.size();
    for (size_t k = 0; k < asked.size(); ++k) {
      const auto& n = nodes_[asked[k]];
      const uint64_t from = k < offsets.size() ? offsets[k] : 0;
      chunk->nodes[k] = describe(n.status.info);
      chunk->next[k] = from;
      auto done = [promise, chunk, waiting]() mutable {
        if (--*waiting == 0) promise.deliver(*chunk);
      };
      if (!n.status.alive) {
        done();
        continue;
      }
      request(n.actor, std::chrono::seconds(10), job_logs_atom::value, id, from)
          .then(
              [chunk, k, done](std::string& text, uint64_t next) mutable {
                chunk->texts[k] = std::move(text);
                chunk->next[k] = next;
                done();
              },
              [done](caf::error&) mutable { done(); });
    }
    return promise;
  }

  /// Keeps the last `ended_jobs_kept` ended jobs; older ones are forgotten, and
  /// their files (task host logs) removed from the alive nodes, as by `sage job delete`.
  void forget_old_jobs() {
    size_t ended = 0;
    for (const auto& id : job_order_) ended += jobs_.at(id).dispatcher ? 0 : 1;
    for (auto it = job_order_.begin(); ended > ended_jobs_kept && it != job_order_.end();) {
      if (jobs_.at(*it).dispatcher) {
        ++it;
        continue;
      }
      for (const auto& n : nodes_)
        if (n.status.alive) send(n.actor, job_delete_atom::value, *it);
      jobs_.erase(*it);
      it = job_order_.erase(it);
      --ended;
    }
  }

  /// Adds a node, or takes back the entry of a node that registers again from
  /// the same address (after it lost the head, or froze for a while).
  uint32_t add(caf::actor node, NodeInfo info) {
    monitor(node);
    remember_worker(info);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      auto& n = nodes_[i];
      if (info.host.empty() || n.status.info.host != info.host || n.status.info.port != info.port)
        continue;
      if (n.status.alive && n.actor != node) demonitor(n.actor);
      n = NodeEntry{std::move(node), NodeStatus{std::move(info), true, {}}};
      return static_cast<uint32_t>(i);
    }
    nodes_.push_back(NodeEntry{std::move(node), NodeStatus{std::move(info), true, {}}});
    return static_cast<uint32_t>(nodes_.size() - 1);
  }

  template <class Atom>
  void forward(const std::string& id, Atom atom) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || !it->second.dispatcher) {
      detail::log("runtime").warn("no running job {}", id);
      return;
    }
    send(it->second.dispatcher, atom);
  }

  void on_down(const caf::down_msg& dm) {
    for (auto& [name, entry] : services_)
      std::erase_if(entry.watchers, [&](const caf::actor& w) { return w.address() == dm.source; });
    for (auto& n : nodes_) {
      if (n.actor.address() != dm.source || !n.status.alive) continue;
      n.status.alive = false;
      n.status.lost_reason = to_string(dm.reason);
      detail::log("runtime").warn("{} lost: {}", describe(n.status.info), n.status.lost_reason);
      return;
    }
    for (auto& [id, entry] : jobs_) {
      if (!entry.dispatcher || entry.dispatcher.address() != dm.source) continue;
      // A Dispatcher that ends by itself has already reported its job's end;
      // one that crashed has not, so the job fails with the reason.
      if (dm.reason && !is_terminal(static_cast<JobState>(entry.report.state))) {
        entry.report.state = static_cast<int32_t>(JobState::failed);
        entry.report.error = "dispatcher ended unexpectedly: " + to_string(dm.reason);
        if (entry.listener) send(entry.listener, job_end_atom::value, entry.report);
      }
      entry.dispatcher = nullptr;
      entry.placed.clear();
      release_services(id);
      return;
    }
  }

  /// The names of job `id`'s services are free again.
  void release_services(const std::string& id) {
    for (auto it = services_.begin(); it != services_.end();) {
      if (it->second.job != id) {
        ++it;
        continue;
      }
      for (const auto& w : it->second.watchers)
        send(w, service_update_atom::value, it->first, std::vector<caf::actor>{});
      it = services_.erase(it);
    }
  }

  /// Keeps a worker's address in the state directory, for `cluster stop --all`
  /// to reach it even while it is between registrations with a later head.
  void remember_worker(const NodeInfo& info) {
    if (info.role != NodeRole::worker || workers_file_.empty()) return;
    const std::string address = info.host + ":" + std::to_string(info.port);
    if (std::find(known_workers_.begin(), known_workers_.end(), address) != known_workers_.end())
      return;
    known_workers_.push_back(address);
    if (known_workers_.size() > max_known_workers) known_workers_.erase(known_workers_.begin());
    std::ofstream out(workers_file_, std::ios::trunc);
    for (const auto& a : known_workers_) out << a << '\n';
  }

  ProgramStore programs_;
  std::map<std::string, JobEntry> jobs_;
  std::map<std::string, ServiceEntry> services_;  // the directory: by name
  static constexpr size_t max_known_workers = 256;
  std::string workers_file_;
  std::vector<std::string> known_workers_;
  std::vector<std::string> job_order_;  // submission order, for listings
  std::vector<NodeEntry> nodes_;        // in order of arrival; lost nodes stay, marked
};

}  // namespace

caf::actor spawn_job_manager(caf::actor_system& system, caf::actor local_node, NodeInfo info,
                             std::string state_dir, uint64_t max_program_bytes) {
  // Detached: it answers service lookups, which must not wait for a scheduler
  // thread that callers blocked in synchronous calls may all hold.
  return system.spawn<JobManagerActor, caf::detached>(std::move(local_node), std::move(info),
                                                      std::move(state_dir), max_program_bytes);
}

}  // namespace sage::actors
