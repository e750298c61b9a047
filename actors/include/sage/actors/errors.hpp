#pragma once
/// @file errors.hpp
/// The one vocabulary of refusals between SAGE's actors. A request is answered
/// with what it asked for (nothing, for a command: `caf::result<void>`), or
/// with a `caf::error` of category "sage": one of the codes below, and the
/// refusal's words, for a person, as the error's one context string. CAF's own
/// errors (`caf::sec`: a timeout, a peer gone, a refused handshake) arrive the
/// same way; `words_of` reads either.
///
/// Exceptions stay at the user API's edge (sage/error.hpp): the runtime turns
/// these errors into `SubmitError` and friends where a user's call is answered.

#include <cstdint>
#include <exception>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/result.hpp>
#include <caf/unit.hpp>

namespace caf {
class actor_system_config;
}

namespace sage::actors {

enum class ErrorCode : uint8_t {
  refused = 1,      ///< the request will not be carried out (a job placement cannot fit)
  malformed,        ///< the request does not hold together (a plan, a launch, a peer list)
  no_such_job,      ///< no job has that id (or id prefix)
  ambiguous,        ///< an id prefix names several jobs
  not_stored,       ///< nothing is stored under that name (a program, collected records)
  unsupported,      ///< this node does not do that (it stores or starts no programs)
  still_running,    ///< not while the job runs (deleting it)
  failed,           ///< it was tried and failed (a task host's start, connecting to peers)
  service_error,    ///< a service call failed: the service threw, or the method is unknown
  no_such_service,  ///< no service has that name
};

/// The category of SAGE's errors (CAF 0.17 tells categories apart by an atom).
constexpr caf::atom_value error_category = caf::atom("sage");

const char* to_string(ErrorCode code);

/// A refusal: `code`, with `words` saying why.
caf::error make_error(ErrorCode code, std::string words);

/// The answer of a command: done (an empty answer) unless `err` is an error.
inline caf::result<void> done_unless(caf::error err) {
  if (err) return err;
  return caf::unit;
}

/// Whether `err` is SAGE's error `code`.
bool is(const caf::error& err, ErrorCode code);

/// The words an error carries (a refusal's, the transport's), if any.
std::string words_of(const caf::error& err);
/// The words of an exception (its `what()`), for a caller that gets them as a `caf::error`.
std::string words_of(const std::exception_ptr& error);

/// Lets the actor system render SAGE's errors ("sage.no_such_job: no job 12ab").
void register_error_category(caf::actor_system_config& cfg);

}  // namespace sage::actors
