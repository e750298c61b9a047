/// The Dispatcher: deploys one job's tasks, wires their channels, and watches
/// them until the job ends.
///
/// Protocol (see protocol.hpp):
///   accepts  (task_done_atom, task), (task_fail_atom, task, op, instance, message),
///            (stop_atom) graceful stop, (cancel_atom), down_msg of its tasks
///   sends    (wire_atom, task_wiring), (start_atom), (stop_atom) to tasks
///
/// The job ends, and its JobHandle says so, only after every task actor has
/// terminated: when `submit(true)` or `close()` returns, no user code runs.

#include <spdlog/spdlog.h>

#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

class dispatcher_actor final : public caf::event_based_actor {
 public:
  dispatcher_actor(caf::actor_config& cfg, JobSpecPtr job)
      : caf::event_based_actor(cfg), job_(std::move(job)) {}

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
          spdlog::info("job {}: stopping its sources", job_->id.str());
          for (size_t t = 0; t < tasks_.size(); ++t)
            if (job_->graph.nodes[job_->plan.chains[job_->plan.tasks[t].chain].nodes.front()]
                    ->kind == detail::NodeKind::source)
              send(tasks_[t], stop_atom::value);
        },
        [this](cancel_atom) { end(JobState::cancelled, {}); },
    };
  }

  void on_exit() override {
    tasks_.clear();  // the tasks hold this actor: break the cycle
    job_.reset();
  }

 private:
  void deploy() {
    const auto& plan = job_->plan;
    for (size_t t = 0; t < plan.tasks.size(); ++t)
      tasks_.push_back(spawn_task(this, job_, static_cast<int>(t)));
    done_.assign(tasks_.size(), false);
    alive_ = tasks_.size();
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
    spdlog::debug("job {}: {} tasks deployed", job_->id.str(), tasks_.size());
  }

  void on_task_down(const caf::down_msg& dm) {
    --alive_;
    for (size_t t = 0; t < tasks_.size(); ++t) {
      if (tasks_[t].address() != dm.source || done_[t]) continue;
      done_[t] = true;
      const auto& task = job_->plan.tasks[t];
      end(JobState::failed, "task \"" + job_->plan.chains[task.chain].name + "\" instance " +
                                std::to_string(task.instance) +
                                " ended unexpectedly: " + to_string(dm.reason));
    }
    maybe_quit();
  }

  /// Ends the job in `state`: stops the tasks still running, then reports once
  /// every task actor has terminated.
  void end(JobState state, std::string error) {
    if (ending_) return;
    ending_ = true;
    final_state_ = state;
    error_ = std::move(error);
    if (state != JobState::finished)
      for (size_t t = 0; t < tasks_.size(); ++t)
        if (!done_[t]) send_exit(tasks_[t], caf::exit_reason::user_shutdown);
    maybe_quit();
  }

  void maybe_quit() {
    if (!ending_ || alive_ > 0 || reported_) return;
    reported_ = true;
    if (final_state_ == JobState::failed)
      spdlog::error("job {} failed: {}", job_->id.str(), error_);
    else
      spdlog::debug("job {} {}", job_->id.str(), to_string(final_state_));
    job_->handle->finish(final_state_, error_);
    quit();
  }

  JobSpecPtr job_;
  std::vector<caf::actor> tasks_;
  std::vector<bool> done_;
  size_t alive_ = 0;
  int done_count_ = 0;
  bool ending_ = false;
  bool reported_ = false;
  JobState final_state_ = JobState::running;
  std::string error_;
};

}  // namespace

caf::actor spawn_dispatcher(caf::event_based_actor* parent, JobSpecPtr job) {
  auto d = parent->spawn<dispatcher_actor>(std::move(job));
  parent->monitor(d);
  return d;
}

}  // namespace sage::actors
