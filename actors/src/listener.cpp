/// A job's listener: runs in the submitting program (embedded or a cluster's
/// client) and finishes the job's handle when the Dispatcher reports the end.
/// Its messages: `ListenerHandle` in protocol.hpp.

#include <sage/actors/protocol.hpp>

namespace sage::actors {

ListenerHandle spawn_listener(caf::actor_system& system, JobSpecPtr job, caf::actor job_manager) {
  return system.spawn([job = std::move(job), job_manager = std::move(job_manager)](
                          ListenerHandle::pointer self) -> ListenerHandle::behavior_type {
    self->set_default_handler(drop_unexpected);
    if (job_manager) {
      self->monitor(job_manager);
      self->set_down_handler([self, job](caf::down_msg& dm) {
        job->handle->finish(JobState::failed,
                            "lost the cluster's head while the job ran: " + to_string(dm.reason));
        self->quit();
      });
    }
    return {
        [job](job_running_atom) { job->handle->set_running(); },
        [self, job](job_end_atom, const JobReport& report) {
          job->handle->set_cluster_counters(report.counters);
          job->handle->finish(static_cast<JobState>(report.state), report.error);
          self->quit();
        },
    };
  });
}

}  // namespace sage::actors
