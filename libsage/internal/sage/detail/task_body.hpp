#pragma once
/// @file task_body.hpp (internal: not installed)
/// The untyped face of a task's user code, as the task actor drives it: a chain
/// of operator instances with its input ports and output writers. Nothing here
/// knows about actors; the actor supplies a `BatchTransport`.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sage/detail/operator_instance.hpp>

namespace sage::detail {

struct JobSpec;

/// Per-instance counters the task publishes for `Environment::status()`.
struct InstanceCounters;

/// A task's user code: built from the job's plan for one task instance.
class TaskBody {
 public:
  /// Builds the operators of task `task_id`, its writers (sending through
  /// `transport`) and input ports. Throws `OperatorFailure` when a user
  /// function cannot be constructed.
  TaskBody(const JobSpec& job, int task_id, BatchTransport& transport);
  ~TaskBody();
  TaskBody(const TaskBody&) = delete;
  TaskBody& operator=(const TaskBody&) = delete;

  /// Opens every operator, the last of the chain first.
  void open();
  /// Whether the head is a source.
  [[nodiscard]] bool is_source() const { return source_ != nullptr; }
  /// One source step (see `SourceInstance::step`).
  SourceStep run_source(StepBudget& budget);
  /// Feeds a batch that arrived on input slot `in_slot`.
  void consume(uint32_t in_slot, BatchBase& batch);
  /// Closes every operator, head first, so that what a close emits still flows on.
  void close();
  /// Ships every partly filled batch.
  void flush();
  [[nodiscard]] bool has_partial() const;
  /// Copies the operators' record counts to the job's status counters.
  void publish_counters();
  /// Publishes how long, in all, the task has waited for downstream credit.
  void publish_blocked(uint64_t nanoseconds);
  /// Whether an operator holds the task back (see `HoldBack`).
  [[nodiscard]] bool held_back() const;
  /// Calls `wake` once the operators that hold the task back may have let go.
  void wake_when_ready(const std::function<void()>& wake);
  /// How many input slots the task has.
  [[nodiscard]] size_t input_count() const { return ports_.size(); }
  /// "source -> map (1/2)"
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::vector<std::unique_ptr<OperatorInstance>> operators_;  // chain order
  std::vector<InstanceCounters*> counters_;                   // parallel to operators_
  SourceInstance* source_ = nullptr;
  std::vector<HoldBack*> holds_;
  std::vector<std::unique_ptr<ChannelWriterBase>> writers_;
  std::vector<std::unique_ptr<InputPortBase>> owned_ports_;
  std::vector<InputPortBase*> ports_;  // by input slot
};

}  // namespace sage::detail
