#pragma once
/// @file task_body.hpp (internal: not installed)
/// The untyped face of a task's user code, as the task actor drives it: a chain
/// of operator instances with its input ports and output writers. Nothing here
/// knows about actors; the actor supplies a `BatchTransport`.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sage/detail/operator_instance.hpp>
#include <sage/detail/time.hpp>
#include <sage/detail/watermark_valve.hpp>

namespace sage::detail {

struct JobSpec;

/// Per-instance counters the task publishes for `Environment::status()`.
struct InstanceCounters;

/// A task's user code: built from the job's plan for one task instance.
///
/// Time: markers that arrive on the input slots go through a `WatermarkValve`
/// (the task's input watermark is the minimum over its active channels); when
/// that status changes, or when an operator asked for it (`next_wakeup`: a
/// periodic watermark, a processing-time timer), `advance_time` hands it down
/// the chain: each operator fires what it completes and passes on its own
/// output status, and each writer whose status changed ships its partial
/// batches and then the marker (docs/state-and-time.md).
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
  /// A watermark, idleness or end-of-stream marker arrived on `in_slot` (in
  /// order with its batches); advances time when the task's watermark moves.
  void on_marker(uint32_t in_slot, const Marker& marker);
  /// Hands the current input status down the chain at the current processing
  /// time (a periodic tick, or an operator's status changed).
  void advance_time();
  /// Every input has ended: the maximal watermark, so that every window and
  /// event-time timer fires before the operators close.
  void end_time();
  /// The processing time (ms since the epoch) at which an operator wants
  /// `advance_time` again, if any.
  [[nodiscard]] std::optional<int64_t> next_wakeup() const;
  /// Whether an operator's output status changed since the last call (an idle
  /// stream got a record): the task then calls `advance_time` soon.
  bool take_status_change();
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
  /// Given to every asynchronous operator (`map_async`): called from any
  /// thread when a call completes; the task then calls `deliver_async`.
  void set_async_waker(const std::function<void()>& wake);
  /// Takes the completed asynchronous calls in: their results flow on.
  void deliver_async();
  /// No asynchronous call in flight: the task may end.
  [[nodiscard]] bool async_idle() const;
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
  std::vector<AsyncOperator*> asyncs_;
  std::vector<std::unique_ptr<ChannelWriterBase>> writers_;
  std::vector<std::unique_ptr<InputPortBase>> owned_ports_;
  std::vector<InputPortBase*> ports_;  // by input slot
  std::vector<int> input_channels_;    // by input slot: its plan channel

  // Time (see the class comment).
  TaskTime time_;
  std::unique_ptr<WatermarkValve> valve_;   // over the input slots; none for a source
  WatermarkStatus input_status_;            // what the head receives
  std::vector<int> chain_upstream_;         // by operator: the one before it in the chain, or -1
  std::vector<WatermarkStatus> op_status_;  // by operator: its output status
  struct WriterTime {
    int op = 0;            // the operator it writes for
    WatermarkStatus sent;  // what its channels were told last
  };
  std::vector<WriterTime> writer_time_;  // parallel to writers_
  BatchTransport* transport_;
  bool ended_ = false;
};

}  // namespace sage::detail
