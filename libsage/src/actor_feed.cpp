// The process's registry of from_actor sources (actor_feed.hpp).

#include <sage/detail/actor_feed.hpp>

#include <condition_variable>
#include <map>

namespace sage::detail {

namespace {

struct Feeds {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<ActorFeedBase>> by_name;
};

Feeds& feeds() {
  static Feeds f;
  return f;
}

}  // namespace

void add_actor_feed(const std::string& job, const std::string& name,
                    std::shared_ptr<ActorFeedBase> feed) {
  auto& f = feeds();
  {
    std::lock_guard<std::mutex> lock(f.mutex);
    f.by_name[{job, name}] = std::move(feed);
  }
  f.changed.notify_all();
}

void remove_actor_feed(const std::string& job, const std::string& name) {
  auto& f = feeds();
  std::lock_guard<std::mutex> lock(f.mutex);
  f.by_name.erase({job, name});
}

std::shared_ptr<ActorFeedBase> find_actor_feed(const std::string& job, const std::string& name,
                                               std::chrono::milliseconds patience) {
  auto& f = feeds();
  std::unique_lock<std::mutex> lock(f.mutex);
  std::shared_ptr<ActorFeedBase> found;
  f.changed.wait_for(lock, patience, [&] {
    auto it = f.by_name.find({job, name});
    if (it != f.by_name.end()) found = it->second;
    return found != nullptr;
  });
  return found;
}

}  // namespace sage::detail
