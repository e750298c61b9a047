#pragma once
/// @file pipeline_service.hpp
/// Pipelines as services (`register_pipeline_service`, docs/services.md): the
/// three pieces the environment adds around the stream a user's `build` makes.
///
/// ```
///  caller ──process(req)──▶ PipelineFront ◀──sage.take── RequestSource ──▶ build(...) ──▶
///  ReplySink
///     ▲                  (the service's one        (emits request n with            (answers n
///     once └──── answer n ──── instance: numbers,        event time n, then the           the
///     watermark
///                          queues, holds callers)   watermark n)                     passes n)
///                                ▲                                                      │
///                                └──────────────────── sage.answer ─────────────────────┘
/// ```
///
/// A request's identity is its event time: the front numbers requests 1, 2,
/// ...; the request source emits request n with timestamp n, so every record
/// derived from it carries n through chains, hash edges and nodes, and after
/// each batch the watermark "every request up to n has entered". The reply
/// sink collects the records of each n; once its watermark passes n no record
/// of n can follow, so it answers: one record is the result, none or several
/// are a `ServiceError` (never a silent drop). Nothing here knows about actors:
/// the source and the sink reach the front as any caller reaches a service.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sage/detail/operator_instances.hpp>
#include <sage/service.hpp>

namespace sage::detail {

/// The front's methods for its own request source and reply sink.
inline constexpr const char* pipeline_take_method = "sage.take";
inline constexpr const char* pipeline_answer_method = "sage.answer";

/// How long the front may hold a take that finds no request, and the take's
/// own timeout: the front never hands requests to a take its caller may have
/// given up on, and the source asks again before.
inline constexpr std::chrono::milliseconds pipeline_take_hold{5'000};
inline constexpr std::chrono::milliseconds pipeline_take_timeout{30'000};

/// The requests a take brings: (number, request).
template <class Req>
using PipelineRequests = std::vector<std::pair<uint64_t, Req>>;

/// One request's answer, from the reply sink: its number, an error (empty:
/// none) and the record that answers it.
template <class Resp>
using PipelineAnswer = std::tuple<uint64_t, std::string, std::optional<Resp>>;

/// The service instance of a pipeline service: it numbers the callers'
/// requests, hands them to the request source, and completes each caller when
/// the reply sink answers its number. Every method answers later
/// (`answers_later`), so the instance serves many requests at once.
template <class Req, class Resp>
class PipelineFront final : public ServiceObject {
 public:
  explicit PipelineFront(std::string name) : name_(std::move(name)) {}

  BaseFunction& function() override { return fn_; }
  Payload call(const std::string&, const Payload&) override {
    throw ServiceError("pipeline service '" + name_ + "' answers only later (call_async)");
  }
  [[nodiscard]] std::vector<std::string> method_names() const override { return {"process"}; }
  [[nodiscard]] bool answers_later() const override { return true; }

  void call_async(const std::string& method, const Payload& args, Done done) override {
    if (method == "process") {
      auto [request] = args.take<std::tuple<Req>>("the request does not fit the pipeline service");
      const uint64_t n = next_++;
      callers_.emplace(n, std::move(done));
      queue_.emplace_back(n, std::move(request));
      if (held_take_ && Clock::now() < held_until_)
        hand_over(std::exchange(held_take_, nullptr), held_max_);
    } else if (method == pipeline_take_method) {
      auto [max, entered] =
          args.take<std::tuple<uint64_t, uint64_t>>("a take of the pipeline service");
      // A front started again (its process died) numbers on above what the
      // source has emitted: a number is its request's event time.
      if (entered >= next_) renumber_from(entered + 1);
      if (held_take_) hand_over(std::exchange(held_take_, nullptr), 0);  // a newer take replaces it
      if (!queue_.empty()) {
        hand_over(std::move(done), max);
      } else {
        held_take_ = std::move(done);
        held_max_ = max;
        held_until_ = Clock::now() + pipeline_take_hold;
      }
    } else if (method == pipeline_answer_method) {
      // The requests that produced records, and the number up to which every
      // request is complete: the others up to it produced none.
      auto [answers, up_to] = args.take<std::tuple<std::vector<PipelineAnswer<Resp>>, uint64_t>>(
          "the answers of the pipeline service");
      for (auto& [n, error, value] : answers) {
        auto it = callers_.find(n);
        if (it == callers_.end()) continue;  // answered already, or given up
        auto caller = std::move(it->second);
        callers_.erase(it);
        if (!error.empty() || !value)
          complete(caller, {}, failure(error.empty() ? "no record answered the request" : error));
        else
          complete(caller, Payload::of(std::move(*value)), nullptr);
      }
      while (!callers_.empty() && callers_.begin()->first <= up_to) {
        auto caller = std::move(callers_.begin()->second);
        callers_.erase(callers_.begin());
        complete(caller, {}, failure("the request produced no record"));
      }
      done(Payload::of(std::tuple<>{}), nullptr);
    } else {
      throw ServiceError("the pipeline service has no method '" + method + "' (it has: process)");
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  std::exception_ptr failure(const std::string& why) const {
    return std::make_exception_ptr(ServiceError("pipeline service '" + name_ + "': " + why));
  }
  /// Completes one caller; what its continuation throws stays with it.
  static void complete(Done& caller, Payload result, std::exception_ptr error) {
    try {
      caller(std::move(result), std::move(error));
    } catch (...) {
    }
  }
  /// Numbers the queued requests (none taken yet) from `first` on.
  void renumber_from(uint64_t first) {
    std::map<uint64_t, Done> callers;
    for (auto& [n, request] : queue_) {
      auto it = callers_.find(n);
      if (it != callers_.end()) {
        callers.emplace(first, std::move(it->second));
        callers_.erase(it);
      }
      n = first++;
    }
    for (auto& c : callers) callers_.insert(std::move(c));
    next_ = first;
  }

  /// Answers a take with up to `max` queued requests (none for 0).
  void hand_over(Done take, uint64_t max) {
    PipelineRequests<Req> out;
    while (!queue_.empty() && out.size() < max) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    take(Payload::of(std::move(out)), nullptr);
  }

  std::string name_;
  Service fn_;  ///< no user code: the context only
  uint64_t next_ = 1;
  std::deque<std::pair<uint64_t, Req>> queue_;  ///< numbered, not yet taken
  std::map<uint64_t, Done> callers_;            ///< taken or queued, not yet answered
  Done held_take_;                              ///< a take waiting for a request
  uint64_t held_max_ = 0;
  Clock::time_point held_until_{};
};

/// The source of a pipeline service: takes requests from the front (a take
/// waits there until requests come) and emits request n with event time n,
/// then the watermark n. The take's completion wakes the task (it is an
/// `AsyncOperator`); it never holds the task's end back.
template <class Req>
class RequestSourceInstance final : public SourceInstance,
                                    public Emitter<Req>,
                                    public AsyncOperator {
 public:
  explicit RequestSourceInstance(std::string service) : service_(std::move(service)) {}

  void open() override {
    if (ctx_.parallelism() != 1)
      throw std::logic_error("pipeline service '" + service_ +
                             "': its request source runs one instance, not " +
                             std::to_string(ctx_.parallelism()));
  }
  void close() override {
    // Requests taken but not emitted: their callers fail when the front ends.
    if (!queue_.empty())
      ContextAccess::warn(ctx_, "pipeline service '" + service_ +
                                    "': " + std::to_string(queue_.size()) +
                                    " requests taken as it stopped");
  }

  SourceStep step(StepBudget& budget) override {
    collect();
    const auto now = std::chrono::steady_clock::now();
    if (queue_.empty() && now >= retry_at_ &&
        (takes_.empty() || now - last_take_ >= pipeline_take_hold / 2))
      take(now, budget.max_records);
    size_t emitted = 0;
    auto& time = ContextAccess::time(ctx_);
    while (!queue_.empty() && emitted < budget.max_records && !budget.output_blocked()) {
      auto& [n, request] = queue_.front();
      time.record_timestamp = static_cast<EventTime>(n);
      entered_ = std::max(entered_, static_cast<EventTime>(n));
      ++records_out;
      ++emitted;
      this->out_.push(std::move(request));
      queue_.pop_front();
    }
    if (emitted > 0) time.status_changed = true;  // the watermark follows the batch
    return {emitted, false};
  }

  WatermarkStatus advance_time(WatermarkStatus /*in*/) override {
    return {entered_ == 0 ? min_watermark : entered_, false};
  }

  // -- AsyncOperator: a take's completion wakes the task ------------------------------

  void set_waker(std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(wake_->mutex);
    wake_->wake = std::move(wake);
  }
  void deliver() override { collect(); }
  [[nodiscard]] bool idle() const override { return true; }  // a take is no record

 private:
  struct Wake {
    std::mutex mutex;
    std::function<void()> wake;
  };

  void take(std::chrono::steady_clock::time_point now, size_t max) {
    last_take_ = now;
    auto f = ctx_.call_service_async<PipelineRequests<Req>>(
        service_, sage::method(pipeline_take_method), static_cast<uint64_t>(max),
        static_cast<uint64_t>(entered_), sage::timeout(pipeline_take_timeout));
    f.when_done([wake = wake_](const auto&) {
      std::function<void()> w;
      {
        std::lock_guard<std::mutex> lock(wake->mutex);
        w = wake->wake;
      }
      if (w) w();
    });
    takes_.push_back(std::move(f));
  }

  /// Takes in the completed takes, in the order they were made.
  void collect() {
    for (auto it = takes_.begin(); it != takes_.end();) {
      if (!it->ready()) {
        ++it;
        continue;
      }
      try {
        for (auto& r : it->get()) queue_.push_back(std::move(r));
        failures_ = 0;
      } catch (const ServiceTimeout&) {
        // Nobody asked for a while: ask again.
      } catch (const std::exception& e) {
        // The front restarting (its process died: it comes back within
        // seconds), or a request that cannot reach this node.
        if (++failures_ >= 100)
          throw OperatorFailure(
              ctx_.operator_name(), ctx_.index(),
              "pipeline service '" + service_ + "': its requests cannot be taken: " + e.what());
        ContextAccess::warn(
            ctx_, "pipeline service '" + service_ + "': taking requests failed: " + e.what());
        retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
      }
      it = takes_.erase(it);
    }
    // Takes complete in the order the front answered them, which is almost
    // always the order of their numbers; a take that overtook another is put
    // back in order (a number is emitted only above the watermark before it).
    if (!std::is_sorted(queue_.begin(), queue_.end(),
                        [](const auto& a, const auto& b) { return a.first < b.first; }))
      std::sort(queue_.begin(), queue_.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
  }

  std::string service_;
  std::shared_ptr<Wake> wake_ = std::make_shared<Wake>();
  std::vector<Future<PipelineRequests<Req>>> takes_;
  std::deque<std::pair<uint64_t, Req>> queue_;
  EventTime entered_ = 0;  ///< the highest request number emitted
  std::chrono::steady_clock::time_point last_take_{};
  std::chrono::steady_clock::time_point retry_at_{};
  int failures_ = 0;
};

/// The sink of a pipeline service: collects the records of each request
/// number and answers every number its watermark has passed.
template <class Resp>
class ReplySinkInstance final : public OperatorInstance, public Receiver<Resp> {
 public:
  explicit ReplySinkInstance(std::string service) : service_(std::move(service)) {}

  void open() override {
    if (ctx_.parallelism() != 1)
      throw std::logic_error("pipeline service '" + service_ +
                             "': its reply sink runs one instance, not " +
                             std::to_string(ctx_.parallelism()));
  }
  void close() override {}

  void push(Resp&& x) override {
    ++records_in;
    const EventTime ts = ContextAccess::time(ctx_).record_timestamp;
    if (ts <= answered_) {
      // Not a request's record (a stream from outside, a timer), or one of a
      // request answered already: nobody waits for it.
      if (stray_++ == 0)
        ContextAccess::warn(ctx_, "pipeline service '" + service_ + "': a record with event time " +
                                      std::to_string(ts) +
                                      " answers no open request (records must come from the "
                                      "requests; see docs/services.md)");
      return;
    }
    auto& r = results_[ts];
    if (++r.count == 1) r.value.emplace(std::move(x));
    highest_ = std::max(highest_, ts);
  }

  WatermarkStatus advance_time(WatermarkStatus in) override {
    // At the end, the requests up to the last one seen (later ones fail with the front).
    const EventTime upto = in.watermark == max_watermark ? highest_ : in.watermark;
    if (upto <= answered_) return in;
    // The work is the records', not the numbers': the front fails the requests
    // up to `upto` that produced none.
    std::vector<PipelineAnswer<Resp>> answers;
    while (!results_.empty() && results_.begin()->first <= upto) {
      auto node = results_.extract(results_.begin());
      auto& r = node.mapped();
      const auto n = static_cast<uint64_t>(node.key());
      if (r.count == 1)
        answers.emplace_back(n, std::string(), std::move(r.value));
      else
        answers.emplace_back(n,
                             "the request produced " + std::to_string(r.count) +
                                 " records (a pipeline service answers with exactly one)",
                             std::nullopt);
    }
    answered_ = upto;
    if (auto failed = failure_->take())
      ContextAccess::warn(
          ctx_, "pipeline service '" + service_ + "': answers did not reach it: " + *failed);
    ctx_.call_service_async<void>(service_, sage::method(pipeline_answer_method),
                                  std::move(answers), static_cast<uint64_t>(upto),
                                  sage::timeout(pipeline_take_timeout))
        .when_done([failure = failure_](const Future<void>& f) {
          try {
            f.get();
          } catch (const std::exception& e) {
            failure->set(e.what());
          }
        });
    return in;
  }

 private:
  struct Result {
    size_t count = 0;
    std::optional<Resp> value;
  };

  /// The last error of an answer call (on the router's thread), logged by the task.
  struct LastFailure {
    std::mutex mutex;
    std::optional<std::string> text;
    void set(std::string t) {
      std::lock_guard<std::mutex> lock(mutex);
      text = std::move(t);
    }
    std::optional<std::string> take() {
      std::lock_guard<std::mutex> lock(mutex);
      return std::exchange(text, std::nullopt);
    }
  };

  std::string service_;
  std::shared_ptr<LastFailure> failure_ = std::make_shared<LastFailure>();
  std::map<EventTime, Result> results_;  ///< by request number, not yet answered
  EventTime answered_ = 0;               ///< every request up to it is answered
  EventTime highest_ = 0;
  uint64_t stray_ = 0;
};

}  // namespace sage::detail
