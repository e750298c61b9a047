/// The node actor: spawns task actors in its actor system when a Dispatcher
/// asks, from the jobs this process has registered.
///
/// Protocol (see protocol.hpp):
///   accepts  (spawn_tasks_atom, job_id, task ids, dispatcher) -> the tasks' actors, in order
///            (shutdown_atom) ends the node
///
/// And the process's job registry: a node finds the job a task belongs to by
/// its id, so a job plan never has to travel (every process of a job runs the
/// same program and builds the same graph: docs/architecture.md).

#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include <sage/detail/log.hpp>

#include <sage/actors/protocol.hpp>

namespace sage::actors {

namespace {

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<const detail::JobSpec>, std::less<>> registry;

class node_actor final : public caf::event_based_actor {
 public:
  explicit node_actor(caf::actor_config& cfg) : caf::event_based_actor(cfg) {}

  const char* name() const override { return "sage.node"; }

  caf::behavior make_behavior() override {
    return {
        [this](spawn_tasks_atom, const std::string& job_id, const std::vector<int32_t>& tasks,
               const caf::actor& dispatcher) -> caf::result<std::vector<caf::actor>> {
          auto job = find_job(job_id);
          if (!job)
            return caf::make_error(caf::sec::invalid_argument,
                                   "this node does not host job " + job_id);
          std::vector<caf::actor> spawned;
          for (int32_t t : tasks) {
            if (t < 0 || static_cast<size_t>(t) >= job->plan.tasks.size())
              return caf::make_error(caf::sec::invalid_argument,
                                     "job " + job_id + " has no task " + std::to_string(t));
            spawned.push_back(spawn_task(this, job, t, dispatcher));
          }
          detail::log("runtime").debug("node: {} tasks of job {} spawned", spawned.size(), job_id);
          return spawned;
        },
        [this](shutdown_atom) {
          detail::log("runtime").info("node: shutting down");
          quit();
        },
    };
  }
};

}  // namespace

void register_job(const JobSpecPtr& job) {
  std::lock_guard<std::mutex> guard(registry_mutex);
  for (auto it = registry.begin(); it != registry.end();)  // forget ended jobs
    it = it->second.expired() ? registry.erase(it) : std::next(it);
  registry[job->id.str()] = job;
}

JobSpecPtr find_job(const std::string& id) {
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto it = registry.find(id);
  return it == registry.end() ? nullptr : it->second.lock();
}

caf::actor spawn_node(caf::actor_system& system) { return system.spawn<node_actor>(); }

}  // namespace sage::actors
