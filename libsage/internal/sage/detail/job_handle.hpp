#pragma once
/// @file job_handle.hpp (internal: not installed)
/// A submitted job's live state and counters, shared by the submitting program
/// (its `Job`) and the runtime's tasks.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sage/detail/graph.hpp>
#include <sage/detail/plan.hpp>
#include <sage/job.hpp>

namespace sage::detail {

/// Records in and out of one operator instance, published by its task; for
/// the first operator of a task, the time the task waited for downstream
/// credit; records dropped as late; the event time the instance has reached
/// and the input channel that holds it back (a plan channel id + 1; 0: none).
struct InstanceCounters {
  std::atomic<uint64_t> in{0};
  std::atomic<uint64_t> out{0};
  std::atomic<uint64_t> blocked_ns{0};
  std::atomic<uint64_t> late_dropped{0};
  std::atomic<int64_t> watermark{std::numeric_limits<int64_t>::min()};
  std::atomic<uint64_t> holding_channel{0};
  std::atomic<uint64_t> late_replies{0};
};

/// Calls a registered service's instances served, and how often one of them
/// was started again after it died; counted where the instances run.
struct ServiceCounters {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> restarts{0};
};
/// Values per service after the operators' in `JobHandle::counter_values()`.
constexpr size_t counters_per_service = 2;

/// Values per operator instance in `JobHandle::counter_values()`, in this order.
enum CounterSlot : size_t {
  counter_in,
  counter_out,
  counter_blocked_ns,
  counter_late_dropped,
  counter_watermark,  ///< an int64_t, as its bits
  counter_holding_channel,
  counter_late_replies,
  counters_per_instance
};

/// The live state of a job. Thread-safe: the runtime writes, the program reads and waits.
class JobHandle {
 public:
  JobHandle(JobId id, std::string name, const Graph& graph, const PhysicalPlan& plan);

  [[nodiscard]] const JobId& id() const { return id_; }
  [[nodiscard]] const std::string& name() const { return name_; }

  /// The job runs: its services answer, its tasks have started.
  void set_running();
  /// Waits until the job runs or has ended.
  void wait_running() const;
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
  /// The counters of the graph's service `service` (its registration's index).
  ServiceCounters& service_counters(size_t service) { return *service_counters_.at(service); }
  /// The counters this process's tasks published, flattened: records in,
  /// records out and blocked nanoseconds of each instance of each operator, in
  /// graph order, then calls and restarts of each service. (What a node
  /// reports for the job.)
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
  /// By plan channel: the operator instance whose records it carries ("map_1").
  std::vector<std::string> channel_producers_;
  std::vector<std::vector<std::unique_ptr<InstanceCounters>>> counters_;  // [node][instance]
  std::vector<std::string> service_names_;
  std::vector<int> service_parallelism_;
  std::vector<std::unique_ptr<ServiceCounters>> service_counters_;  // by registration
  std::vector<uint64_t> cluster_counters_;  // guarded by mutex_; empty: not a cluster job
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point ended_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  JobState state_ = JobState::created;
  std::string error_;
  std::vector<std::function<void(JobState, const std::string&)>> listeners_;
};

}  // namespace sage::detail
