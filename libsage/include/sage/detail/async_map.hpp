#pragma once
/// @file async_map.hpp
/// `map_async` (API.md section 9): an operator whose user function returns a
/// `Future`, with up to `capacity` calls in flight per instance and no thread
/// per call. A completion, on whatever thread it happens, goes to the
/// instance's inbox and wakes the task; the task, on its own thread, takes
/// the results in (`deliver`), emits them in input order or as they came,
/// starts due retries, and frees the slots. Timeouts are the operator's own:
/// a call past its deadline frees its slot at once, and a reply that comes
/// later finds no call and is counted (`late_replies`), so a slow backend
/// never clogs the operator with dead calls.
///
/// Event time: the output watermark is held at the input watermark that was
/// current when the oldest call in flight came in, so that no result is
/// emitted behind a watermark it was ahead of.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sage/detail/operator_instances.hpp>
#include <sage/functions.hpp>
#include <sage/future.hpp>

namespace sage::detail {

/// Where the completions of an instance's calls wait for its task: filled
/// from any thread, emptied by the task.
template <class Out>
struct AsyncInbox {
  struct Done {
    uint64_t id = 0;
    uint32_t generation = 0;
    std::optional<Out> value;
    std::exception_ptr error;
  };

  void post(Done d) {
    std::function<void()> wake_now;
    {
      std::lock_guard<std::mutex> lock(mutex);
      done.push_back(std::move(d));
      if (wake_due && wake) {
        wake_due = false;  // one wake until the task has taken what is here
        wake_now = wake;
      }
    }
    if (wake_now) wake_now();
  }
  std::vector<Done> take() {
    std::lock_guard<std::mutex> lock(mutex);
    wake_due = true;
    return std::exchange(done, {});
  }
  void set_wake(std::function<void()> w) {
    std::lock_guard<std::mutex> lock(mutex);
    wake = std::move(w);
  }

  std::mutex mutex;
  std::vector<Done> done;
  std::function<void()> wake;
  bool wake_due = true;
};

/// The pause before the `n`th retry of a call (1, 2, ...): 100 ms, doubling, at most 10 s.
inline int64_t retry_pause_ms(uint32_t n) {
  return std::min<int64_t>(int64_t{100} << std::min<uint32_t>(n - 1, 7), 10'000);
}

template <class In, class Out, class F>
class AsyncMapInstance final : public WithFunction<F>,
                               public Receiver<In>,
                               public Emitter<Out>,
                               public HoldBack,
                               public AsyncOperator {
 public:
  AsyncMapInstance(F f, async_options options)
      : WithFunction<F>(std::move(f)),
        options_(options),
        inbox_(std::make_shared<AsyncInbox<Out>>()) {
    if (options_.capacity == 0) options_.capacity = 1;
  }

  void push(In&& x) override {
    ++this->records_in;
    auto& time = ContextAccess::time(this->ctx_);
    const uint64_t id = next_id_++;
    Call c;
    c.timestamp = time.record_timestamp;
    c.watermark = this->ctx_.current_watermark();
    if (in_flight_ >= options_.capacity) {
      // A batch brings more records than there are free slots: the rest wait
      // here (the task takes no more input meanwhile: `holding`).
      c.input.emplace(std::move(x));
      calls_.emplace(id, std::move(c));
      return;
    }
    if (options_.retries > 0) c.input.emplace(x);
    auto& call = calls_.emplace(id, std::move(c)).first->second;
    start(id, call, x, time.now_ms);
  }

  // -- AsyncOperator ----------------------------------------------------------------

  void set_waker(std::function<void()> wake) override { inbox_->set_wake(std::move(wake)); }

  void deliver() override {
    const int64_t now = ContextAccess::time(this->ctx_).now_ms;
    for (auto& d : inbox_->take()) {
      auto it = calls_.find(d.id);
      if (it == calls_.end() || !it->second.running || it->second.generation != d.generation) {
        ++this->late_replies;  // its call timed out (and was retried, or failed the job)
        continue;
      }
      auto& call = it->second;
      call.running = false;
      --in_flight_;
      if (d.error)
        failed(call, d.error, now);
      else
        call.result = std::move(d.value);
    }
    settle(now);
  }

  [[nodiscard]] bool idle() const override { return calls_.empty(); }

  // -- HoldBack: a full instance takes no input ---------------------------------------

  [[nodiscard]] bool holding() const override { return calls_.size() >= options_.capacity; }
  void wake_when_ready(std::function<void()> wake) override {
    if (!holding()) {
      wake();
      return;
    }
    held_wake_ = std::move(wake);
  }

  // -- time: deadlines and retries --------------------------------------------------

  WatermarkStatus advance_time(WatermarkStatus in) override {
    const int64_t now = ContextAccess::time(this->ctx_).now_ms;
    for (auto& [id, call] : calls_)
      if (call.running && call.deadline_ms <= now) {
        call.running = false;
        --in_flight_;
        ++call.generation;  // its reply, should it come, is late
        failed(call,
               std::make_exception_ptr(ServiceTimeout(
                   "no result within " + std::to_string(options_.timeout.count()) + " ms")),
               now);
      }
    settle(now);
    WatermarkStatus out = in;
    // Calls come in with ever later watermarks: the oldest holds the output back;
    // and the output is not idle while results are still to come.
    if (!calls_.empty()) {
      out.watermark = std::min(in.watermark, calls_.begin()->second.watermark);
      out.idle = false;
    }
    return out;
  }

  [[nodiscard]] std::optional<int64_t> next_wakeup() const override {
    // A retry that is due waits for a free slot, which a completion brings
    // (`deliver`): with every slot taken, only deadlines wake the task.
    const bool slot_free = in_flight_ < options_.capacity;
    std::optional<int64_t> soonest;
    for (const auto& [id, call] : calls_) {
      const bool retry = !call.running && !call.result && call.attempts > 0 && slot_free;
      const int64_t at = call.running ? call.deadline_ms : call.retry_at_ms;
      if ((call.running || retry) && (!soonest || at < *soonest)) soonest = at;
    }
    return soonest;
  }

 private:
  struct Call {
    std::optional<In> input;  ///< kept for retries, and while it waits for a slot
    uint32_t attempts = 0;    ///< started so far (0: it waits for a slot)
    uint32_t generation = 0;  ///< a reply of another generation is late
    bool running = false;
    int64_t deadline_ms = 0;
    int64_t retry_at_ms = 0;  ///< waiting to start again (no result, not running)
    EventTime timestamp = min_watermark;
    int64_t watermark = min_watermark;
    std::optional<Out> result;
  };

  void start(uint64_t id, Call& call, const In& x, int64_t now) {
    ++call.attempts;
    ++in_flight_;
    call.running = true;
    call.retry_at_ms = 0;
    call.deadline_ms = now + options_.timeout.count();
    Future<Out> future = invoke_user(this->fn_, this->ctx_, x);
    if (!future.valid())
      throw OperatorFailure(this->ctx_.operator_name(), this->ctx_.index(),
                            "map_async: the function returned an empty future");
    future.when_done([inbox = inbox_, id, generation = call.generation](const Future<Out>& done) {
      typename AsyncInbox<Out>::Done d;
      d.id = id;
      d.generation = generation;
      try {
        d.value.emplace(done.get());
      } catch (...) {
        d.error = std::current_exception();
      }
      inbox->post(std::move(d));
    });
  }

  /// A call failed: it starts again after a pause while it has retries left;
  /// else the job fails, like a throwing map.
  void failed(Call& call, const std::exception_ptr& error, int64_t now) {
    if (static_cast<int>(call.attempts) <= options_.retries && call.input) {
      call.retry_at_ms = now + retry_pause_ms(call.attempts);
      return;
    }
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    throw OperatorFailure(
        this->ctx_.operator_name(), this->ctx_.index(),
        "its call failed" +
            (call.attempts > 1 ? " after " + std::to_string(call.attempts) + " attempts"
                               : std::string()) +
            ": " + what);
  }

  /// Emits what may go out, starts the retries that are due, and wakes a
  /// task held back by a full instance once slots are free.
  void settle(int64_t now) {
    auto& time = ContextAccess::time(this->ctx_);
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (!it->second.result) {
        if (options_.ordered) break;  // results wait behind the oldest call
        ++it;
        continue;
      }
      time.record_timestamp = it->second.timestamp;
      ++this->records_out;
      Out out = std::move(*it->second.result);
      it = calls_.erase(it);
      this->out_.push(std::move(out));
    }
    // Due retries and waiting records start, oldest first, while slots are free.
    for (auto it = calls_.begin(); it != calls_.end() && in_flight_ < options_.capacity; ++it) {
      auto& call = it->second;
      if (call.running || call.result) continue;
      const bool waiting = call.attempts == 0;
      if (!waiting && (call.retry_at_ms == 0 || call.retry_at_ms > now)) continue;
      start(it->first, call, *call.input, now);
      if (options_.retries == 0) call.input.reset();
    }
    if (held_wake_ && !holding()) std::exchange(held_wake_, nullptr)();
  }

  async_options options_;
  std::shared_ptr<AsyncInbox<Out>> inbox_;
  std::map<uint64_t, Call> calls_;  // by arrival: input order
  size_t in_flight_ = 0;            // calls running (at most `capacity`)
  uint64_t next_id_ = 0;
  std::function<void()> held_wake_;
};

/// The `R` of a callable that returns a `Future<R>`.
template <class T>
struct future_result;
template <class R>
struct future_result<Future<R>> {
  using type = R;
};

}  // namespace sage::detail
