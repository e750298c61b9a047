/// The JobManager: the runtime's entry point for jobs, and the registry of the
/// nodes tasks can be placed on. One per runtime: embedded in a program's
/// process, or the head of a cluster.
///
/// Protocol (see protocol.hpp):
///   accepts  (submit_atom, JobSpecPtr), (stop_atom, job_id), (cancel_atom, job_id),
///            (add_node_atom, node), (register_node_atom, NodeInfo, node) -> index,
///            (cluster_status_atom) -> ClusterStatus, (shutdown_atom, all),
///            down_msg of its Dispatchers and nodes
///   sends    (stop_atom), (cancel_atom) to a job's Dispatcher; (shutdown_atom) to nodes

#include <map>

#include <spdlog/spdlog.h>

#include <sage/detail/log.hpp>

#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

struct job_entry {
  caf::actor dispatcher;
  JobSpecPtr job;
};

struct node_entry {
  caf::actor actor;
  NodeStatus status;
};

std::string address_of(const NodeInfo& info) {
  return info.host.empty() ? std::string("in-process")
                           : info.host + ":" + std::to_string(info.port);
}

class job_manager_actor final : public caf::event_based_actor {
 public:
  job_manager_actor(caf::actor_config& cfg, caf::actor local_node, NodeInfo info)
      : caf::event_based_actor(cfg) {
    nodes_.push_back(node_entry{std::move(local_node), NodeStatus{std::move(info), true, {}}});
  }

  const char* name() const override { return "sage.job_manager"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    return {
        [this](submit_atom, JobSpecPtr& job) {
          detail::log("runtime").debug("job {} ({}) submitted", job->id.str(), job->name);
          auto id = job->id.str();
          auto d = spawn_dispatcher(this, job, alive_nodes());
          jobs_.emplace(std::move(id), job_entry{d, std::move(job)});
        },
        [this](stop_atom, const std::string& id) { forward(id, stop_atom::value); },
        [this](cancel_atom, const std::string& id) { forward(id, cancel_atom::value); },
        [this](add_node_atom, caf::actor& node) { add(std::move(node), NodeInfo{}); },
        [this](register_node_atom, NodeInfo& info, caf::actor& node) -> uint32_t {
          detail::log("runtime").info("{} {} registered ({} cpus, {} MB, {} gpus)", info.role,
                                      address_of(info), info.cpus, info.memory_mb, info.gpus);
          return add(std::move(node), std::move(info));
        },
        [this](cluster_status_atom) {
          ClusterStatus s;
          for (const auto& n : nodes_) s.nodes.push_back(n.status);
          for (const auto& [id, entry] : jobs_)
            s.jobs.push_back(JobSummary{id, entry.job->name,
                                        std::string(to_string(entry.job->handle->state()))});
          return s;
        },
        [this](shutdown_atom, bool all) {
          detail::log("runtime").info("shutting down{}", all ? " with every worker" : "");
          if (all)
            for (size_t i = 1; i < nodes_.size(); ++i)
              if (nodes_[i].status.alive) send(nodes_[i].actor, shutdown_atom::value);
          for (auto& [id, entry] : jobs_) send(entry.dispatcher, cancel_atom::value);
          send(nodes_.front().actor, shutdown_atom::value);
          quit();
        },
    };
  }

  void on_exit() override {
    jobs_.clear();
    nodes_.clear();
  }

 private:
  /// Adds a node, or takes back the entry of a node that registers again from
  /// the same address (after it lost the head, or froze for a while).
  uint32_t add(caf::actor node, NodeInfo info) {
    monitor(node);
    for (size_t i = 1; i < nodes_.size(); ++i) {
      auto& n = nodes_[i];
      if (info.host.empty() || n.status.info.host != info.host || n.status.info.port != info.port)
        continue;
      if (n.status.alive && n.actor != node) demonitor(n.actor);
      n = node_entry{std::move(node), NodeStatus{std::move(info), true, {}}};
      return static_cast<uint32_t>(i);
    }
    nodes_.push_back(node_entry{std::move(node), NodeStatus{std::move(info), true, {}}});
    return static_cast<uint32_t>(nodes_.size() - 1);
  }

  std::vector<caf::actor> alive_nodes() const {
    std::vector<caf::actor> out;
    for (const auto& n : nodes_)
      if (n.status.alive) out.push_back(n.actor);
    return out;
  }

  template <class Atom>
  void forward(const std::string& id, Atom atom) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) {
      detail::log("runtime").warn("no running job {}", id);
      return;
    }
    send(it->second.dispatcher, atom);
  }

  void on_down(const caf::down_msg& dm) {
    for (auto& n : nodes_) {
      if (n.actor.address() != dm.source || !n.status.alive) continue;
      n.status.alive = false;
      n.status.lost_reason = to_string(dm.reason);
      detail::log("runtime").warn("{} {} lost: {}", n.status.info.role, address_of(n.status.info),
                                  n.status.lost_reason);
      return;
    }
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
  std::vector<node_entry> nodes_;  // [0] is this process's node; lost nodes stay, marked
};

}  // namespace

caf::actor spawn_job_manager(caf::actor_system& system, caf::actor local_node, NodeInfo info) {
  return system.spawn<job_manager_actor>(std::move(local_node), std::move(info));
}

}  // namespace sage::actors
