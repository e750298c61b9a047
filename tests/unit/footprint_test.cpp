// Record footprints: what channel writers cut batches by (batch.max_bytes) and
// refuse records above (record.max_bytes).

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <sage/detail/footprint.hpp>

namespace {

struct Doc {
  std::string id;
  std::vector<std::string> chunks;
  double score = 0;
};

template <class Inspector>
auto inspect(Inspector& f, Doc& x) {
  return f(caf::meta::type_name("Doc"), x.id, x.chunks, x.score);
}

}  // namespace

using sage::detail::footprint;

TEST_CASE("footprint: fixed-size records weigh their size") {
  CHECK(footprint(int64_t{7}) == 8);
  struct Pod {
    int64_t a;
    double b;
  };
  CHECK(footprint(Pod{1, 2}) == sizeof(Pod));
  CHECK(sage::detail::fixed_footprint<Pod>);
  CHECK_FALSE(sage::detail::fixed_footprint<std::string>);
}

TEST_CASE("footprint: strings, containers and structs weigh what they own") {
  const std::string big(16384, 'x');
  CHECK(footprint(big) == sizeof(std::string) + 16384);
  const std::vector<int32_t> ints(1000, 1);
  CHECK(footprint(ints) == sizeof(ints) + 4000);
  const std::vector<std::string> strings(3, big);
  CHECK(footprint(strings) == sizeof(strings) + 3 * (sizeof(std::string) + 16384));
  const std::pair<std::string, int64_t> kv{big, 1};
  CHECK(footprint(kv) == sizeof(std::string) + 16384 + 8);
  const std::optional<std::string> some = big, none;
  CHECK(footprint(some) > 16384);
  CHECK(footprint(none) == sizeof(none));
  const std::map<std::string, std::string> m{{"a", big}};
  CHECK(footprint(m) >= 16384);
  const std::tuple<int32_t, std::string> t{1, big};
  CHECK(footprint(t) == 4 + sizeof(std::string) + 16384);
  Doc d{"doc-1", {big, big}, 0.5};
  CHECK(footprint(d) >= 2 * 16384);
  CHECK(footprint(d) < 2 * 16384 + 1024);
}
