#include <sage/runtime_context.hpp>

#include <stdexcept>

#include <sage/detail/log.hpp>

namespace sage {

void RuntimeContext::throw_no_key(const std::type_info& type, bool outside_record) const {
  throw std::logic_error("ctx().key<" + detail::type_name(type) + ">() in '" + name_ + "': " +
                         (outside_record
                              ? "there is a key only while a record is processed"
                              : "the operator is not applied to a KeyedStream with that key type"));
}

void RuntimeContext::throw_no_timers() const {
  throw std::logic_error("ctx().timers() in '" + name_ +
                         "': timers need an operator on a KeyedStream (KeyedProcessFunction)");
}

void RuntimeContext::throw_side_output_type(const std::string& tag) const {
  throw std::logic_error("side output '" + tag + "' of '" + name_ +
                         "' is used with two record types");
}

}  // namespace sage

namespace sage::detail {

void ContextAccess::set_identity(RuntimeContext& ctx, std::string operator_name, int index,
                                 int parallelism, JobId job, std::shared_ptr<const Config> config) {
  ctx.name_ = operator_name + "_" + std::to_string(index);
  ctx.operator_name_ = std::move(operator_name);
  ctx.index_ = index;
  ctx.parallelism_ = parallelism;
  ctx.job_id_ = std::move(job);
  ctx.config_ = std::move(config);
  ctx.logger_ = make_stderr_logger(ctx.name_);
}

}  // namespace sage::detail
