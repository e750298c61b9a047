#include <sage/detail/run_record.hpp>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>

#include <spdlog/spdlog.h>

#include <sage/detail/job_handle.hpp>
#include <sage/detail/log.hpp>

namespace sage::detail {

struct RunRecord::Entry {
  std::string job_id;
  std::shared_ptr<JobHandle> handle;
  std::vector<std::shared_ptr<const RecordedOutput>> outputs;
  std::vector<std::string> plan_lines;
  std::string refusal;
  /// The first submission at whose start this job had ended.
  uint32_t ended_before = std::numeric_limits<uint32_t>::max();
};

void RunRecord::begin(uint32_t seq, const std::string& job_id, std::shared_ptr<JobHandle> handle,
                      const std::vector<std::shared_ptr<JobEndListener>>& outputs,
                      std::vector<std::string> plan_lines) {
  auto entry = std::make_shared<Entry>();
  entry->job_id = job_id;
  entry->handle = std::move(handle);
  for (const auto& o : outputs) entry->outputs.push_back(o->record());
  entry->plan_lines = std::move(plan_lines);
  std::lock_guard<std::mutex> guard(mutex_);
  // What had ended by now is what the program could see of it before this submission.
  for (auto& e : entries_)
    if (e && e->ended_before == std::numeric_limits<uint32_t>::max() &&
        (!e->refusal.empty() || is_terminal(e->handle->state())))
      e->ended_before = seq;
  if (entries_.size() <= seq) entries_.resize(seq + 1);
  entries_[seq] = std::move(entry);
}

void RunRecord::refused(uint32_t seq, std::string what) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (seq < entries_.size() && entries_[seq]) entries_[seq]->refusal = std::move(what);
}

std::optional<SubmissionRecord> RunRecord::as_seen_by(uint32_t seq, uint32_t asking) const {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (seq >= entries_.size() || !entries_[seq]) return std::nullopt;
    e = entries_[seq];
  }
  SubmissionRecord r;
  r.job_id = e->job_id;
  r.refusal = e->refusal;
  r.plan_lines = e->plan_lines;
  if (!r.refusal.empty()) {
    r.ended = true;
    r.state = JobState::failed;
    r.error = e->handle->error();  // what status() said (submit() threw `refusal`)
    return r;
  }
  r.ended = seq == asking || e->ended_before <= asking;
  if (r.ended && seq != asking) {
    const auto status = e->handle->snapshot();
    r.state = status.state;
    r.error = status.error;
    r.run_time_ms = status.run_time.count();
    r.counters = e->handle->reported_counters();
    r.outputs = e->outputs;
  }
  return r;
}

RunRecord& run_record() {
  static RunRecord record;
  return record;
}

void end_diverged_task_host(const std::string& why) {
  detail::log("cluster").error("task host: {}", why);
  spdlog::shutdown();
  std::fflush(nullptr);
  std::_Exit(3);
}

void end_diverged_task_host_at_exit(const std::string& why) {
  // The program is exiting: spdlog's registry may be gone already.
  std::fflush(nullptr);
  std::fprintf(stderr, "task host: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(3);
}

}  // namespace sage::detail
