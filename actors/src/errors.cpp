#include <sage/actors/errors.hpp>

#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace sage::actors {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::refused:
      return "refused";
    case ErrorCode::malformed:
      return "malformed";
    case ErrorCode::no_such_job:
      return "no_such_job";
    case ErrorCode::ambiguous:
      return "ambiguous";
    case ErrorCode::not_stored:
      return "not_stored";
    case ErrorCode::unsupported:
      return "unsupported";
    case ErrorCode::still_running:
      return "still_running";
    case ErrorCode::failed:
      return "failed";
    case ErrorCode::service_error:
      return "service_error";
    case ErrorCode::no_such_service:
      return "no_such_service";
  }
  return "unknown";
}

caf::error make_error(ErrorCode code, std::string words) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(words))};
}

bool is(const caf::error& err, ErrorCode code) {
  return err.category() == error_category && err.code() == static_cast<uint8_t>(code);
}

std::string words_of(const caf::error& err) {
  const auto& context = err.context();
  return context.match_elements<std::string>() ? context.get_as<std::string>(0) : std::string{};
}

void register_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category,
                         [](uint8_t code, caf::atom_value, const caf::message& context) {
                           std::string out = "sage.";
                           out += to_string(static_cast<ErrorCode>(code));
                           if (context.match_elements<std::string>())
                             out += ": " + context.get_as<std::string>(0);
                           return out;
                         });
}

std::string words_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "it threw something that is not an exception";
  }
}

}  // namespace sage::actors
