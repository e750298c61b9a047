#pragma once
/// @file job_handle.hpp
/// What a submitted job shares between the submitting program and the runtime:
/// the compiled job (`JobSpec`), and its live state and counters (`JobHandle`).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sage/collected.hpp>
#include <sage/config.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/plan.hpp>
#include <sage/job.hpp>

namespace sage::detail {

/// Records in and out of one operator instance, published by its task; and, for
/// the first operator of a task, the time the task waited for downstream credit.
struct InstanceCounters {
  std::atomic<uint64_t> in{0};
  std::atomic<uint64_t> out{0};
  std::atomic<uint64_t> blocked_ns{0};
};

/// Values per operator instance in `JobHandle::counter_values()`.
constexpr size_t counters_per_instance = 3;

/// The live state of a job. Thread-safe: the runtime writes, the program reads and waits.
class JobHandle {
 public:
  JobHandle(JobId id, std::string name, const Graph& graph, const PhysicalPlan& plan);

  [[nodiscard]] const JobId& id() const { return id_; }
  [[nodiscard]] const std::string& name() const { return name_; }

  void set_running();
  /// Ends the job (the first call wins) and wakes every waiter and end listener.
  void finish(JobState state, std::string error = {});
  [[nodiscard]] JobState state() const;
  [[nodiscard]] std::string error() const;
  /// Waits until the job has ended or `timeout` passed; true if it ended.
  bool wait_for(std::chrono::milliseconds timeout) const;
  void wait() const;
  /// Runs `listener(state, error)` once the job ends (at once if it has).
  void on_end(std::function<void(JobState, const std::string&)> listener);

  InstanceCounters& counters(int node, int instance) { return *counters_[node][instance]; }
  /// The counters this process's tasks published, flattened: records in,
  /// records out and blocked nanoseconds of each instance of each operator, in
  /// graph order. (What a node reports for the job.)
  [[nodiscard]] std::vector<uint64_t> counter_values() const;
  /// A cluster job's totals, gathered from its nodes, in the same layout:
  /// `snapshot()` shows them from now on instead of this process's own counts
  /// (which `counter_values()` keeps reporting). Ignored unless the sizes match.
  void set_cluster_counters(const std::vector<uint64_t>& values);
  /// The counters `snapshot()` shows, flattened: the cluster's totals if set, else this process's.
  [[nodiscard]] std::vector<uint64_t> reported_counters() const;
  /// In a task host: ends the job as it ended in the submitting program, with
  /// its final counters and run time (`RunRecord`).
  void replay_end(JobState state, std::string error, const std::vector<uint64_t>& counters,
                  std::chrono::milliseconds run_time);
  [[nodiscard]] JobStatus snapshot() const;

 private:
  JobId id_;
  std::string name_;
  std::vector<std::string> operator_names_;
  std::vector<std::vector<std::unique_ptr<InstanceCounters>>> counters_;  // [node][instance]
  std::vector<uint64_t> cluster_counters_;  // guarded by mutex_; empty: not a cluster job
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point ended_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  JobState state_ = JobState::created;
  std::string error_;
  std::vector<std::function<void(JobState, const std::string&)>> listeners_;
};

/// A compiled job, immutable once submitted; shared by every task of the job.
struct JobSpec {
  JobId id;
  std::string name;
  Graph graph;
  PhysicalPlan plan;
  std::shared_ptr<const Config> config;
  std::shared_ptr<JobHandle> handle;
  size_t batch_size = 4096;
  size_t batch_bytes = size_t{1} << 20;
  size_t record_max_bytes = size_t{256} << 20;
  int buffer_timeout_ms = 10;
  int channel_credits = 8;
  /// The job's `collect()` buffers, in the order of the calls.
  std::vector<std::shared_ptr<JobEndListener>> outputs;
};

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
