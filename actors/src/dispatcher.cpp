/// The Dispatcher: places one job's tasks on nodes, has the nodes spawn them,
/// wires their channels, and watches them until the job ends.
///
/// Protocol (see protocol.hpp):
///   accepts  (task_done_atom, task), (task_fail_atom, task, op, instance, message),
///            (stop_atom) graceful stop, (cancel_atom), down_msg of its tasks
///   sends    (spawn_tasks_atom, ...) to nodes; (wire_atom, task_wiring), (start_atom),
///            (stop_atom) to tasks
///
/// The job ends, and its JobHandle says so, only after every task actor has
/// terminated: when `submit(true)` or `close()` returns, no user code runs.

#include <chrono>
#include <optional>

#include <spdlog/spdlog.h>

#include <sage/detail/log.hpp>

#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

/// How long a node may take to spawn a job's tasks.
constexpr auto spawn_timeout = std::chrono::seconds(30);

/// The node of every task. `placement: local` (the default) keeps every task in
/// this process; `spread` puts chain c on node c mod n, so consecutive chains
/// of a pipeline land on different nodes. (Placement by resources and load
/// comes with the cluster.)
std::vector<size_t> place_tasks(const detail::JobSpec& job, size_t nodes) {
  const auto mode = job.config->get_string("placement", "local");
  std::vector<size_t> node_of_task(job.plan.tasks.size(), 0);
  if (mode == "spread")
    for (size_t t = 0; t < node_of_task.size(); ++t)
      node_of_task[t] = static_cast<size_t>(job.plan.tasks[t].chain) % nodes;
  return node_of_task;
}

class dispatcher_actor final : public caf::event_based_actor {
 public:
  dispatcher_actor(caf::actor_config& cfg, JobSpecPtr job, std::vector<caf::actor> nodes)
      : caf::event_based_actor(cfg), job_(std::move(job)), nodes_(std::move(nodes)) {}

  const char* name() const override { return "sage.dispatcher"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_task_down(dm); });
    deploy();
    return {
        [this](task_done_atom, int task) {
          done_[task] = true;
          if (++done_count_ == static_cast<int>(tasks_.size())) end(JobState::finished, {});
        },
        [this](task_fail_atom, int task, const std::string& op, int instance,
               const std::string& message) {
          done_[task] = true;
          end(JobState::failed, "operator \"" + op + "\" instance " + std::to_string(instance) +
                                    " failed: " + message);
        },
        [this](stop_atom) {
          if (ending_) return;
          stop_requested_ = true;
          if (started_) stop_sources();
        },
        [this](cancel_atom) { end(JobState::cancelled, {}); },
    };
  }

  void on_exit() override {
    tasks_.clear();  // the tasks hold this actor: break the cycle
    nodes_.clear();
    job_.reset();
  }

 private:
  /// Asks every node for its share of the tasks; wires and starts them once all are there.
  void deploy() {
    const auto& plan = job_->plan;
    tasks_.resize(plan.tasks.size());
    done_.assign(plan.tasks.size(), false);
    const auto node_of_task = place_tasks(*job_, nodes_.size());
    if (auto problem = check_codecs(node_of_task)) {
      end(JobState::failed, *problem);
      return;
    }
    std::vector<std::vector<int32_t>> share(nodes_.size());
    for (size_t t = 0; t < plan.tasks.size(); ++t)
      share[node_of_task[t]].push_back(static_cast<int32_t>(t));
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (share[n].empty()) continue;
      ++pending_nodes_;
      monitor(nodes_[n]);  // a node lost while it deploys fails the job at once
      request(nodes_[n], spawn_timeout, spawn_tasks_atom::value, job_->id.str(), share[n],
              caf::actor_cast<caf::actor>(this))
          .then(
              [this, ids = share[n]](std::vector<caf::actor>& spawned) {
                --pending_nodes_;
                for (size_t i = 0; i < ids.size() && i < spawned.size(); ++i) {
                  tasks_[ids[i]] = spawned[i];
                  monitor(spawned[i]);
                  ++alive_;
                  if (ending_) send_exit(spawned[i], caf::exit_reason::user_shutdown);
                }
                if (!ending_ && spawned.size() != ids.size())
                  end(JobState::failed, "a node spawned " + std::to_string(spawned.size()) +
                                            " of " + std::to_string(ids.size()) + " tasks");
                if (pending_nodes_ == 0 && !ending_) wire_and_start();
                maybe_quit();
              },
              [this, n](caf::error& err) {
                --pending_nodes_;
                end(JobState::failed, "node " + std::to_string(n) +
                                          " could not spawn its tasks: " + system().render(err));
                maybe_quit();
              });
    }
  }

  /// A channel between tasks on different nodes carries encoded batches: its
  /// record type needs a codec. Checked before anything runs.
  std::optional<std::string> check_codecs(const std::vector<size_t>& node_of_task) const {
    for (const auto& ch : job_->plan.channels) {
      if (node_of_task[ch.from_task] == node_of_task[ch.to_task]) continue;
      const auto& from = *job_->graph.nodes[job_->graph.edges[ch.edge].from];
      if (!from.output_has_codec())
        return "the records of operator \"" + from.name + "\" (" + from.output_type_name() +
               ") cross from node " + std::to_string(node_of_task[ch.from_task]) + " to node " +
               std::to_string(node_of_task[ch.to_task]) +
               " but have no codec: give the type an inspect overload or a sage::Codec "
               "specialization (sage/codec.hpp), or keep both operators on one node";
    }
    return std::nullopt;
  }

  void wire_and_start() {
    const auto& plan = job_->plan;
    std::vector<task_wiring> wiring(tasks_.size());
    for (size_t t = 0; t < plan.tasks.size(); ++t) {
      wiring[t].outputs.resize(plan.tasks[t].output_slot_count);
      wiring[t].output_peer_slots.resize(plan.tasks[t].output_slot_count);
      wiring[t].inputs.resize(plan.tasks[t].inputs.size());
      wiring[t].input_peer_slots.resize(plan.tasks[t].inputs.size());
    }
    for (const auto& ch : plan.channels) {
      wiring[ch.from_task].outputs[ch.from_slot] = tasks_[ch.to_task];
      wiring[ch.from_task].output_peer_slots[ch.from_slot] = static_cast<uint32_t>(ch.to_slot);
      wiring[ch.to_task].inputs[ch.to_slot] = tasks_[ch.from_task];
      wiring[ch.to_task].input_peer_slots[ch.to_slot] = static_cast<uint32_t>(ch.from_slot);
    }
    for (size_t t = 0; t < tasks_.size(); ++t) send(tasks_[t], wire_atom::value, wiring[t]);
    for (auto& task : tasks_) send(task, start_atom::value);
    started_ = true;
    detail::log("runtime").debug("job {}: {} tasks deployed on {} nodes", job_->id.str(),
                                 tasks_.size(), nodes_.size());
    if (stop_requested_) stop_sources();
  }

  void stop_sources() {
    detail::log("runtime").info("job {}: stopping its sources", job_->id.str());
    for (size_t t = 0; t < tasks_.size(); ++t) {
      const auto& chain = job_->plan.chains[job_->plan.tasks[t].chain];
      if (job_->graph.nodes[chain.nodes.front()]->kind == detail::NodeKind::source)
        send(tasks_[t], stop_atom::value);
    }
  }

  void on_task_down(const caf::down_msg& dm) {
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (nodes_[n].address() != dm.source) continue;
      if (!started_)
        end(JobState::failed, "node " + std::to_string(n) +
                                  " was lost while the job was deployed: " + to_string(dm.reason));
      return;  // once running, the node's tasks report their own loss
    }
    --alive_;
    for (size_t t = 0; t < tasks_.size(); ++t) {
      if (!tasks_[t] || tasks_[t].address() != dm.source || done_[t]) continue;
      done_[t] = true;
      const auto& task = job_->plan.tasks[t];
      end(JobState::failed, "task \"" + job_->plan.chains[task.chain].name + "\" instance " +
                                std::to_string(task.instance) +
                                " ended unexpectedly: " + to_string(dm.reason));
    }
    maybe_quit();
  }

  /// Ends the job in `state`: stops the tasks still running, then reports once
  /// every task actor has terminated and no node is still spawning.
  void end(JobState state, std::string error) {
    if (ending_) return;
    ending_ = true;
    final_state_ = state;
    error_ = std::move(error);
    if (state != JobState::finished)
      for (size_t t = 0; t < tasks_.size(); ++t)
        if (tasks_[t] && !done_[t]) send_exit(tasks_[t], caf::exit_reason::user_shutdown);
    maybe_quit();
  }

  void maybe_quit() {
    // Nodes still spawning are not waited for: a reply that comes after this
    // actor ended is dropped, and its tasks, never started, run no user code
    // and are reclaimed by CAF.
    if (!ending_ || alive_ > 0 || reported_) return;
    reported_ = true;
    if (final_state_ == JobState::failed)
      detail::log("runtime").error("job {} failed: {}", job_->id.str(), error_);
    else
      detail::log("runtime").debug("job {} {}", job_->id.str(), to_string(final_state_));
    job_->handle->finish(final_state_, error_);
    quit();
  }

  JobSpecPtr job_;
  std::vector<caf::actor> nodes_;
  std::vector<caf::actor> tasks_;  // by task id; empty until its node spawned it
  std::vector<bool> done_;
  size_t alive_ = 0;
  int pending_nodes_ = 0;
  int done_count_ = 0;
  bool started_ = false;
  bool stop_requested_ = false;
  bool ending_ = false;
  bool reported_ = false;
  JobState final_state_ = JobState::running;
  std::string error_;
};

}  // namespace

caf::actor spawn_dispatcher(caf::event_based_actor* parent, JobSpecPtr job,
                            std::vector<caf::actor> nodes) {
  auto d = parent->spawn<dispatcher_actor>(std::move(job), std::move(nodes));
  parent->monitor(d);
  return d;
}

}  // namespace sage::actors
