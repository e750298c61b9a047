#pragma once
/// @file runtime_context.hpp
/// `sage::RuntimeContext`: what an operator instance knows about itself (API.md section 5).

#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include <sage/config.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/detail/state_backend.hpp>
#include <sage/job.hpp>
#include <sage/state.hpp>

namespace spdlog {
class logger;
}

namespace sage {

namespace detail {
struct ContextAccess;
}

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
    if (extractor == nullptr || key_source_.record == nullptr)
      throw_no_key(typeid(K), key_source_.extractor != nullptr && key_source_.record == nullptr);
    return extractor->extract(key_source_.record);
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

 private:
  detail::StateBackend& state() {
    if (!state_) state_ = std::make_shared<detail::StateBackend>();  // operator state
    return *state_;
  }
  friend struct detail::ContextAccess;
  [[noreturn]] void throw_no_key(const std::type_info& type, bool outside_record) const;

  std::string name_;
  std::string operator_name_;
  int index_ = 0;
  int parallelism_ = 1;
  JobId job_id_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<spdlog::logger> logger_;
  detail::KeySource key_source_;
  std::shared_ptr<detail::StateBackend> state_;
};

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
};
}  // namespace detail

}  // namespace sage
