/// The JobManager: the runtime's entry point for jobs. One per runtime.
///
/// Protocol (see protocol.hpp):
///   accepts  (submit_atom, JobSpecPtr), (stop_atom, job_id), (cancel_atom, job_id),
///            (add_node_atom, node), down_msg of its Dispatchers
///   sends    (stop_atom), (cancel_atom) to a job's Dispatcher

#include <map>

#include <spdlog/spdlog.h>

#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

struct job_entry {
  caf::actor dispatcher;
  JobSpecPtr job;
};

class job_manager_actor final : public caf::event_based_actor {
 public:
  job_manager_actor(caf::actor_config& cfg, caf::actor local_node)
      : caf::event_based_actor(cfg), nodes_{std::move(local_node)} {}

  const char* name() const override { return "sage.job_manager"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_dispatcher_down(dm); });
    return {
        [this](submit_atom, JobSpecPtr& job) {
          spdlog::debug("job {} ({}) submitted", job->id.str(), job->name);
          auto id = job->id.str();
          auto d = spawn_dispatcher(this, job, nodes_);
          jobs_.emplace(std::move(id), job_entry{d, std::move(job)});
        },
        [this](stop_atom, const std::string& id) { forward(id, stop_atom::value); },
        [this](cancel_atom, const std::string& id) { forward(id, cancel_atom::value); },
        [this](add_node_atom, caf::actor& node) {
          spdlog::info("node {} added", nodes_.size());
          nodes_.push_back(std::move(node));
        },
    };
  }

  void on_exit() override {
    jobs_.clear();
    nodes_.clear();
  }

 private:
  template <class Atom>
  void forward(const std::string& id, Atom atom) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) {
      spdlog::warn("no running job {}", id);
      return;
    }
    send(it->second.dispatcher, atom);
  }

  void on_dispatcher_down(const caf::down_msg& dm) {
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
      if (it->second.dispatcher.address() != dm.source) continue;
      // A Dispatcher that ends by itself has already reported its job's end;
      // one that crashed has not, so the job fails with the reason.
      if (dm.reason)
        it->second.job->handle->finish(JobState::failed,
                                       "dispatcher ended unexpectedly: " + to_string(dm.reason));
      jobs_.erase(it);
      return;
    }
  }

  std::map<std::string, job_entry> jobs_;
  std::vector<caf::actor> nodes_;  // [0] is this process's node
};

}  // namespace

caf::actor spawn_job_manager(caf::actor_system& system, caf::actor local_node) {
  return system.spawn<job_manager_actor>(std::move(local_node));
}

}  // namespace sage::actors
