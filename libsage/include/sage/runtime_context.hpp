#pragma once
/// @file runtime_context.hpp
/// `sage::RuntimeContext`: what an operator instance knows about itself (API.md section 5).

#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include <sage/config.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/job.hpp>

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
    auto* extractor = dynamic_cast<const detail::KeyExtractor<K>*>(key_extractor_);
    if (extractor == nullptr || current_record_ == nullptr)
      throw_no_key(typeid(K), key_extractor_ != nullptr && current_record_ == nullptr);
    return extractor->extract(current_record_);
  }

 private:
  friend struct detail::ContextAccess;
  [[noreturn]] void throw_no_key(const std::type_info& type, bool outside_record) const;

  std::string name_;
  std::string operator_name_;
  int index_ = 0;
  int parallelism_ = 1;
  JobId job_id_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<spdlog::logger> logger_;
  const detail::KeyExtractorBase* key_extractor_ = nullptr;
  const void* current_record_ = nullptr;
};

namespace detail {
/// The runtime's write access to a context.
struct ContextAccess {
  static void set_identity(RuntimeContext& ctx, std::string operator_name, int index,
                           int parallelism, JobId job, std::shared_ptr<const Config> config);
  static void set_key_extractor(RuntimeContext& ctx, const KeyExtractorBase* k) {
    ctx.key_extractor_ = k;
  }
  static void set_current_record(RuntimeContext& ctx, const void* record) {
    ctx.current_record_ = record;
  }
};
}  // namespace detail

}  // namespace sage
