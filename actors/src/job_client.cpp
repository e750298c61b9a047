// The requests of `sage job ...` (job_client.hpp).

#include <sage/actors/job_client.hpp>

#include <stdexcept>

#include <sage/actors/errors.hpp>
#include <sage/actors/protocol.hpp>

#include "head_client.hpp"

namespace sage::actors {

namespace {

/// A refusal's own words, when it has them; else CAF's.
[[noreturn]] void throw_refusal(caf::actor_system& sys, const caf::error& err) {
  const std::string words = words_of(err);
  throw std::runtime_error(words.empty() ? sys.render(err) : words);
}

/// Asks the head once; `T` is the answer's type.
template <class T, class... Ts>
T ask_head(const HeadAddress& head, Ts&&... xs) {
  T result{};
  with_head(head.host, head.port, head.tls,
            [&](caf::actor_system& sys, caf::scoped_actor& self, const caf::actor& jm) {
              self->request(jm, request_timeout, std::forward<Ts>(xs)...)
                  .receive([&](T& answer) { result = std::move(answer); },
                           [&](caf::error& err) { throw_refusal(sys, err); });
            });
  return result;
}

}  // namespace

std::vector<JobReport> list_jobs(const HeadAddress& head) {
  return ask_head<std::vector<JobReport>>(head, job_list_atom::value);
}

JobReport job_status(const HeadAddress& head, const std::string& id_or_prefix) {
  return ask_head<JobReport>(head, job_status_atom::value, id_or_prefix);
}

const char* to_string(JobCommand command) {
  switch (command) {
    case JobCommand::stop:
      return "stop";
    case JobCommand::cancel:
      return "cancel";
    case JobCommand::pause:
      return "pause";
    case JobCommand::resume:
      return "resume";
    case JobCommand::remove:
      return "delete";
  }
  return "unknown";
}

void job_command(const HeadAddress& head, const std::string& id, JobCommand command) {
  if (command == JobCommand::remove) {
    with_head(head.host, head.port, head.tls,
              [&](caf::actor_system& sys, caf::scoped_actor& self, const caf::actor& jm) {
                self->request(jm, request_timeout, job_delete_atom::value, id)
                    .receive([] {}, [&](caf::error& err) { throw_refusal(sys, err); });
              });
    return;
  }
  with_head(head.host, head.port, head.tls,
            [&](caf::actor_system&, caf::scoped_actor& self, const caf::actor& jm) {
              switch (command) {
                case JobCommand::stop:
                  self->send(jm, stop_atom::value, id);
                  break;
                case JobCommand::cancel:
                  self->send(jm, cancel_atom::value, id);
                  break;
                case JobCommand::pause:
                  self->send(jm, job_pause_atom::value, id);
                  break;
                case JobCommand::resume:
                  self->send(jm, job_resume_atom::value, id);
                  break;
                case JobCommand::remove:
                  break;  // answered above
              }
            });
}

LogChunk job_logs(const HeadAddress& head, const std::string& id,
                  const std::vector<uint64_t>& offsets) {
  return ask_head<LogChunk>(head, job_logs_atom::value, id, offsets);
}

}  // namespace sage::actors
