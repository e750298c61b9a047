#pragma once
/// @file runtime.hpp (internal: not installed)
/// The one interface between libsage and the actor runtime: the environments
/// submit their jobs to a `Runtime`, which actors/ implements (embedded, a
/// cluster's client, a task host). libsage declares the factories, actors/
/// defines them.

#include <cstdint>
#include <memory>
#include <string>

#include <sage/config.hpp>
#include <sage/detail/job_spec.hpp>
#include <sage/detail/plan.hpp>
#include <sage/job.hpp>

namespace sage::detail {

class ServiceClient;

/// Where jobs run: the embedded actor runtime for `LocalEnvironment`, a
/// cluster's head for `RemoteEnvironment`.
class Runtime {
 public:
  virtual ~Runtime() = default;
  /// The id of the next job (a task host serves the job it was started for).
  virtual JobId assign_job_id() { return JobId::generate(); }
  /// How jobs are compiled for this runtime; a cluster's submitter and its task
  /// hosts must compile the same plan.
  virtual PlanOptions plan_options() const { return {}; }
  /// Deploys and starts the job; progress is reported through `job->handle`.
  virtual void submit(std::shared_ptr<const JobSpec> job) = 0;
  /// Graceful stop: sources end their streams, in-flight records drain.
  virtual void stop(const JobId& id) = 0;
  /// Stops at once; the job ends as cancelled.
  virtual void cancel(const JobId& id) = 0;
  /// Where calls to services go from this process (its actor system's
  /// router); null if this runtime reaches no services.
  virtual std::shared_ptr<ServiceClient> service_client() { return nullptr; }
  /// Brings `handle`'s counters up to date, where they are kept elsewhere (a cluster).
  virtual void refresh(JobHandle& /*handle*/) {}
  /// Adds the node published at `host:port` (a node server of another actor
  /// system) to the nodes this runtime places tasks on. Throws `std::runtime_error`
  /// when it cannot be reached.
  virtual void add_node(const std::string& host, uint16_t port) = 0;
};

/// The process's embedded runtime (an actor system with a JobManager), created
/// on first use and shared by every `LocalEnvironment`; it shuts down when the
/// last user lets go. `cfg` sizes it when this call creates it.
std::shared_ptr<Runtime> embedded_runtime(const Config& cfg);

/// The runtime of a `RemoteEnvironment`: a client of the head at `host:port`,
/// shared by the process's environments; in a task host, the runtime that
/// serves its job. Throws `SubmitError` when the head cannot be reached.
std::shared_ptr<Runtime> cluster_runtime(const std::string& host, uint16_t port, const Config& cfg);

/// Whether this process is a task host: a program a cluster node started for a job.
bool is_task_host();

/// A task host's runtime for the program's cluster jobs (numbered in order):
/// serves the one the task host was started for, and replays the ones before
/// it as the submitting program saw them (`RunRecord`).
std::shared_ptr<Runtime> task_host_runtime();

}  // namespace sage::detail
