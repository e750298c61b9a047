#include <sage/detail/operator_instance.hpp>

namespace sage::detail {

OperatorFailure::OperatorFailure(std::string op, int instance, std::string message)
    : std::runtime_error("operator \"" + op + "\" instance " + std::to_string(instance) +
                         " failed: " + message),
      operator_name(std::move(op)),
      instance(instance),
      message(std::move(message)) {}

void rethrow_as_operator_failure(const RuntimeContext& ctx) {
  try {
    throw;
  } catch (const OperatorFailure&) {
    throw;  // failed further down the chain: keep that operator's name
  } catch (const std::exception& e) {
    throw OperatorFailure(ctx.operator_name(), ctx.index(), e.what());
  } catch (...) {
    throw OperatorFailure(ctx.operator_name(), ctx.index(), "unknown exception");
  }
}

}  // namespace sage::detail
