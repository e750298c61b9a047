#include <sage/actors/job_registry.hpp>

#include <functional>
#include <map>
#include <mutex>

namespace sage::actors {

namespace {

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<const detail::JobSpec>, std::less<>> registry;

}  // namespace

void register_job(const std::shared_ptr<const detail::JobSpec>& job) {
  std::lock_guard<std::mutex> guard(registry_mutex);
  for (auto it = registry.begin(); it != registry.end();)  // forget ended jobs
    it = it->second.expired() ? registry.erase(it) : std::next(it);
  registry[job->id.str()] = job;
}

std::shared_ptr<const detail::JobSpec> find_job(const std::string& id) {
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto it = registry.find(id);
  return it == registry.end() ? nullptr : it->second.lock();
}

}  // namespace sage::actors
