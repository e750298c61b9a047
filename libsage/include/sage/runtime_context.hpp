#pragma once
/// @file runtime_context.hpp
/// `sage::RuntimeContext`: what an operator instance knows about itself (API.md section 5).

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include <sage/config.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/detail/service_call.hpp>
#include <sage/detail/state_backend.hpp>
#include <sage/detail/time.hpp>
#include <sage/event_time.hpp>
#include <sage/job.hpp>
#include <sage/state.hpp>

namespace spdlog {
class logger;
}

namespace sage {

namespace detail {
struct ContextAccess;

/// The consumers of one side output of an operator instance.
class SideOutputBase {
 public:
  virtual ~SideOutputBase() = default;
};
template <class U>
class SideOutput final : public SideOutputBase {
 public:
  FanOut<U> out;
};
}  // namespace detail

/// One per operator instance. Function classes reach it through `ctx()`.
class RuntimeContext {
 public:
  /// `"<operator>_<index>"`, e.g. `"parser_2"`.
  [[nodiscard]] const std::string& name() const { return name_; }
  /// The operator's name, e.g. `"parser"`.
  [[nodiscard]] const std::string& operator_name() const { return operator_name_; }
  /// This instance's index in `[0, parallelism())`.
  [[nodiscard]] int index() const { return index_; }
  /// The operator's number of parallel instances.
  [[nodiscard]] int parallelism() const { return parallelism_; }
  [[nodiscard]] const JobId& job_id() const { return job_id_; }
  /// The job's configuration.
  [[nodiscard]] const Config& config() const { return *config_; }
  /// A logger named after this instance; writes to stderr.
  [[nodiscard]] spdlog::logger& logger() const { return *logger_; }

  /// The key of the record being processed, in an operator applied to a
  /// `KeyedStream<T, K>`. Throws `std::logic_error` elsewhere or when `K` is not
  /// the stream's key type.
  template <class K>
  [[nodiscard]] K key() const {
    auto* extractor = dynamic_cast<const detail::KeyExtractor<K>*>(key_source_.extractor);
    if (extractor != nullptr && key_source_.fixed_key != nullptr)  // a timer fires
      return *static_cast<const K*>(key_source_.fixed_key);
    if (extractor == nullptr || key_source_.record == nullptr)
      throw_no_key(typeid(K), key_source_.extractor != nullptr && key_source_.record == nullptr);
    return extractor->extract(key_source_.record);
  }

  /// The event time this operator has reached: the minimum of its inputs'
  /// watermarks (`INT64_MIN` before the first watermark).
  [[nodiscard]] int64_t current_watermark() const { return watermark_; }

  /// The timers of the current key (a `KeyedProcessFunction`, or any operator
  /// on a keyed stream). Throws `std::logic_error` elsewhere.
  TimerService& timers() {
    if (!state_ || !state_->keyed()) throw_no_timers();
    return state_->timers();
  }

  /// Emits `value` to the side output `tag` (`result.side_output(tag)`); a tag
  /// nobody reads drops it.
  template <class U>
  void output(const OutputTag<U>& tag, U value) {
    auto it = side_outputs_.find(tag.name());
    if (it == side_outputs_.end()) return;
    auto* side = dynamic_cast<detail::SideOutput<U>*>(it->second.get());
    if (side == nullptr) throw_side_output_type(tag.name());
    side->out.push(std::move(value));
  }

  /// Managed state (API.md section 5): in an operator applied to a keyed
  /// stream, the state of the current record's key; elsewhere the instance's
  /// own. `T` needs a codec. The handle stays valid as long as the operator.
  template <class T>
  ValueState<T>& value_state(const std::string& name) {
    return state().value_state<T>(name);
  }
  template <class T>
  ListState<T>& list_state(const std::string& name) {
    return state().list_state<T>(name);
  }
  template <class K, class V>
  MapState<K, V>& map_state(const std::string& name) {
    return state().map_state<K, V>(name);
  }

  /// Calls a service by name and waits for its result (API.md section 6):
  /// `call_service<R>("name", args...)`, with `sage::method("m")` and
  /// `sage::timeout(d)` anywhere among the arguments (method `process` and
  /// 10 s by default). Throws `ServiceTimeout`, or `ServiceError` with the
  /// service's exception text, an unknown service or method named.
  template <class R, class... A>
  R call_service(const std::string& service, A&&... args) {
    return detail::call_sync<R>(services(), service, std::forward<A>(args)...);
  }
  /// The same without waiting: the result comes as a `Future`.
  template <class R, class... A>
  Future<R> call_service_async(const std::string& service, A&&... args) {
    return detail::call_async<R>(services(), service, std::forward<A>(args)...);
  }

 private:
  detail::StateBackend& state() {
    if (!state_) state_ = std::make_shared<detail::StateBackend>();  // operator state
    return *state_;
  }
  detail::ServiceClient& services() const {
    if (!services_) throw_no_services();
    return *services_;
  }
  friend struct detail::ContextAccess;
  [[noreturn]] void throw_no_services() const;
  [[noreturn]] void throw_no_key(const std::type_info& type, bool outside_record) const;
  [[noreturn]] void throw_no_timers() const;
  [[noreturn]] void throw_side_output_type(const std::string& tag) const;

  std::string name_;
  std::string operator_name_;
  int index_ = 0;
  int parallelism_ = 1;
  JobId job_id_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<spdlog::logger> logger_;
  detail::KeySource key_source_;
  std::shared_ptr<detail::StateBackend> state_;
  detail::TaskTime* time_ = nullptr;
  int64_t watermark_ = detail::min_watermark;
  std::map<std::string, std::unique_ptr<detail::SideOutputBase>> side_outputs_;
  std::shared_ptr<detail::ServiceClient> services_;
};

namespace detail {
/// The context of the operator (or service) whose code this thread runs, if
/// any: what the free `sage::call_service` functions call through.
RuntimeContext* current_context();
/// Makes `ctx` the thread's current context while it lives (nested scopes
/// restore the outer one).
class ContextScope {
 public:
  explicit ContextScope(RuntimeContext* ctx);
  ~ContextScope();
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  RuntimeContext* outer_;
};
/// The current context, or `std::logic_error` saying that `what` was called
/// outside an operator.
RuntimeContext& calling_context(const char* what);
}  // namespace detail

/// `ctx().call_service` from a lambda running inside any operator or service:
/// it uses the calling instance's context. Elsewhere it throws `std::logic_error`.
template <class R, class... A>
R call_service(const std::string& service, A&&... args) {
  return detail::calling_context("sage::call_service")
      .call_service<R>(service, std::forward<A>(args)...);
}
/// `ctx().call_service_async` from a lambda running inside any operator or service.
template <class R, class... A>
Future<R> call_service_async(const std::string& service, A&&... args) {
  return detail::calling_context("sage::call_service_async")
      .call_service_async<R>(service, std::forward<A>(args)...);
}

namespace detail {
/// The runtime's write access to a context.
struct ContextAccess {
  static void set_identity(RuntimeContext& ctx, std::string operator_name, int index,
                           int parallelism, JobId job, std::shared_ptr<const Config> config);
  static void set_key_extractor(RuntimeContext& ctx, const KeyExtractorBase* k) {
    ctx.key_source_.extractor = k;
  }
  static void set_current_record(RuntimeContext& ctx, const void* record) {
    ctx.key_source_.record = record;
    ++ctx.key_source_.seq;
  }
  /// Gives the instance keyed state, whose current key follows its records.
  static void set_keyed_state(RuntimeContext& ctx, std::shared_ptr<StateBackend> state) {
    state->follow(&ctx.key_source_);
    ctx.state_ = std::move(state);
  }
  /// The instance's state backend (keyed or operator state), made if absent.
  static StateBackend& state(RuntimeContext& ctx) { return ctx.state(); }
  /// Makes key `id` of the keyed backend current outside a record (a timer).
  static void set_fixed_key(RuntimeContext& ctx, uint32_t id) {
    ctx.key_source_.fixed_key = ctx.state_->key_address(id);
    ctx.key_source_.fixed_id = id;
  }
  static void clear_fixed_key(RuntimeContext& ctx) { ctx.key_source_.fixed_key = nullptr; }
  /// The key of the record being processed, for the runtime's own keyed
  /// operators, whose inputs' extractors are of `K` by construction (no
  /// `dynamic_cast`, as `key<K>()` needs: this is once per record).
  template <class K>
  static K record_key(const RuntimeContext& ctx) {
    const auto& source = ctx.key_source_;
    if (source.extractor == nullptr || source.record == nullptr)
      ctx.throw_no_key(typeid(K), source.extractor != nullptr);
    return static_cast<const KeyExtractor<K>*>(source.extractor)->extract(source.record);
  }
  static void set_task_time(RuntimeContext& ctx, TaskTime* time) { ctx.time_ = time; }
  /// Logs a warning of the runtime's own on the instance's logger (for
  /// headers that do not include spdlog).
  static void warn(const RuntimeContext& ctx, const std::string& text);
  /// Where the instance's service calls go.
  static void set_services(RuntimeContext& ctx, std::shared_ptr<ServiceClient> client) {
    ctx.services_ = std::move(client);
  }
  /// The task's time (never null once the task is built; a fresh one before).
  static TaskTime& time(RuntimeContext& ctx) {
    if (ctx.time_ == nullptr) {
      static thread_local TaskTime unset;
      return unset;
    }
    return *ctx.time_;
  }
  static void set_watermark(RuntimeContext& ctx, int64_t watermark) { ctx.watermark_ = watermark; }
  /// The consumers of side output `tag` of type `U` (made on first use).
  template <class U>
  static FanOut<U>& side_output(RuntimeContext& ctx, const std::string& tag) {
    auto& slot = ctx.side_outputs_[tag];
    if (!slot) slot = std::make_unique<SideOutput<U>>();
    auto* side = dynamic_cast<SideOutput<U>*>(slot.get());
    if (side == nullptr) ctx.throw_side_output_type(tag);
    return side->out;
  }
};
}  // namespace detail

}  // namespace sage
