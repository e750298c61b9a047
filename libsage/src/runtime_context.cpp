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

void RuntimeContext::throw_no_services() const {
  throw std::logic_error("a service call from '" + name_ +
                         "': it runs in no job, so no service is reachable from it");
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

namespace {
thread_local RuntimeContext* current = nullptr;
}  // namespace

RuntimeContext* current_context() { return current; }

ContextScope::ContextScope(RuntimeContext* ctx) : outer_(current) { current = ctx; }
ContextScope::~ContextScope() { current = outer_; }

RuntimeContext& calling_context(const char* what) {
  if (current == nullptr)
    throw std::logic_error(std::string(what) +
                           " outside an operator or service: call it from code that runs "
                           "inside one, or use ctx().call_service or env.call_service");
  return *current;
}

}  // namespace sage::detail

namespace sage::detail {

void ContextAccess::warn(const RuntimeContext& ctx, const std::string& text) {
  if (ctx.logger_)
    ctx.logger_->warn("{}", text);
  else
    log("runtime").warn("{}: {}", ctx.name_, text);
}

}  // namespace sage::detail
