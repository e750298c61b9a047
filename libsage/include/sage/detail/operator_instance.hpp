#pragma once
/// @file operator_instance.hpp
/// The untyped faces of an operator's instance inside a task: what the task
/// drives (`OperatorInstance`, `SourceInstance`, `HoldBack`), what it ships
/// through (`BatchTransport`), and the untyped sides of the typed writers and
/// input ports (`ChannelWriterBase`, `InputPortBase`). Nothing here knows about
/// actors. The typed templates are in operator_instances.hpp, channel_writer.hpp
/// and input_port.hpp; `TaskBody` (internal) assembles them into a task.
///
/// Threading: every call on an instance, its writers and its ports comes from
/// the task that owns them, one at a time, never re-entered from another thread.
/// An instance emits only from within a call it is given (a record, a source
/// step, `close`); `HoldBack::wake_when_ready` is the one call that may come
/// back from another thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sage/detail/record_flow.hpp>
#include <sage/detail/time.hpp>
#include <sage/runtime_context.hpp>

namespace sage::detail {

/// A user function failed. Carries the operator and instance it failed in, so
/// that the job's error names them however deep in a chain it happened.
class OperatorFailure : public std::runtime_error {
 public:
  OperatorFailure(std::string op, int instance, std::string message);
  std::string operator_name;
  int instance;
  std::string message;
};

/// Turns the exception being handled into an `OperatorFailure` for `ctx`'s
/// operator, unless it already is one (a failure further down a chain).
[[noreturn]] void rethrow_as_operator_failure(const RuntimeContext& ctx);

/// Where a task's writers send full batches. Implemented by the task actor: it
/// sends when the channel has credit and queues the batch otherwise.
class BatchTransport {
 public:
  virtual ~BatchTransport() = default;
  virtual void send(uint32_t out_slot, BatchPtr batch) = 0;
  /// Sends a marker after everything sent on the slot before (it takes no
  /// credit, but waits behind batches that wait for it).
  virtual void send_marker(uint32_t out_slot, Marker marker) = 0;
};

/// One operator's instance inside a task.
class OperatorInstance {
 public:
  virtual ~OperatorInstance() = default;
  /// Calls the user function's `open`.
  virtual void open() = 0;
  /// Calls the user function's `close`; may emit (a sink's or a counter's final output).
  virtual void close() = 0;
  /// Time has advanced to `in` (the watermark of the operator's inputs, and
  /// whether they are idle); the processing time is the task's `now_ms`. The
  /// operator fires what that completes (windows, timers) and returns the
  /// status of its own output: the same, unless it makes its own watermarks.
  virtual WatermarkStatus advance_time(WatermarkStatus in) { return in; }
  /// The processing time (ms) at which the operator wants `advance_time`
  /// called again (a processing-time timer, the next periodic watermark).
  [[nodiscard]] virtual std::optional<int64_t> next_wakeup() const { return std::nullopt; }

  RuntimeContext& context() { return ctx_; }
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  /// Records that came later than a window's allowed lateness, without a side output.
  uint64_t records_late_dropped = 0;
  /// Replies to asynchronous calls that came after their call had timed out.
  uint64_t late_replies = 0;

 protected:
  RuntimeContext ctx_;
};

/// An operator that can hold back its task: a sink whose consumer is behind
/// (`collect()` while the program reads it). While any operator of a task holds
/// it back, the task consumes no input and runs no source step, so it returns
/// no credit and backpressure reaches the sources.
class HoldBack {
 public:
  virtual ~HoldBack() = default;
  [[nodiscard]] virtual bool holding() const = 0;
  /// Calls `wake` once, from any thread, when `holding()` may have become
  /// false (at once if it already is).
  virtual void wake_when_ready(std::function<void()> wake) = 0;
};

/// An operator with calls in flight whose results come back on other threads
/// (`map_async`). The task gives it a waker before it opens; a completion calls
/// it (from any thread) and the task then calls `deliver` on its own thread,
/// where the operator emits. A task ends only when every such operator is idle.
class AsyncOperator {
 public:
  virtual ~AsyncOperator() = default;
  /// `wake()` may be called from any thread: the task is to call `deliver()` soon.
  virtual void set_waker(std::function<void()> wake) = 0;
  /// Takes in the completed calls: emits results, starts due retries.
  virtual void deliver() = 0;
  /// No call in flight or waiting to be retried.
  [[nodiscard]] virtual bool idle() const = 0;
};

/// The result of one source step.
struct SourceStep {
  size_t emitted = 0;
  bool ended = false;
};

/// How much one source step may do: at most `max_records` records, and no more
/// calls of the user's function once `time` has passed. The clock is read on
/// the first 16 calls of a step and on every 64th after, so that a source that
/// blocks in its calls still ends its step in time, and a cheap one pays for
/// the clock only now and then.
class StepBudget {
 public:
  /// `blocked`, if given, counts the task's output channels that wait for
  /// credit: a step ends as soon as one does, so that what a source produces
  /// beyond its credit stays one call's worth (big records: bytes, not batches).
  StepBudget(size_t max_records, std::chrono::steady_clock::duration time,
             const int* blocked = nullptr)
      : max_records(max_records),
        deadline_(std::chrono::steady_clock::now() + time),
        blocked_(blocked) {}
  const size_t max_records;
  /// An output channel waits for credit.
  [[nodiscard]] bool output_blocked() const { return blocked_ != nullptr && *blocked_ > 0; }
  /// Counts a call; true once the step's time is up or an output waits for credit.
  bool out_of_time() {
    ++calls_;
    if (blocked_ != nullptr && *blocked_ > 0) return true;
    if (calls_ > 16 && (calls_ & 63) != 0) return false;
    return std::chrono::steady_clock::now() >= deadline_;
  }

 private:
  std::chrono::steady_clock::time_point deadline_;
  const int* blocked_;
  uint64_t calls_ = 0;
};

/// The head of a source task.
class SourceInstance : public OperatorInstance {
 public:
  /// Produces records within `budget` (a step also stops early when a call
  /// emits nothing or the stream ends), so the task stays responsive to credit,
  /// flush and stop messages however slow the user's function is.
  virtual SourceStep step(StepBudget& budget) = 0;
};

/// Partitions one edge's records over network channels and ships full batches.
class ChannelWriterBase {
 public:
  virtual ~ChannelWriterBase() = default;
  /// Ships every partly filled batch.
  virtual void flush() = 0;
  [[nodiscard]] virtual bool has_partial() const = 0;
  /// The task's output slots it writes to, one per downstream instance.
  [[nodiscard]] virtual const std::vector<uint32_t>& channels() const = 0;
};

/// Feeds the records of an arriving batch into the head operator of a task.
class InputPortBase {
 public:
  virtual ~InputPortBase() = default;
  /// Consumes the batch (its records are moved out); returns the record count.
  virtual size_t consume(BatchBase& batch) = 0;
};

}  // namespace sage::detail
