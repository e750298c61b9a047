// Runs the declarative pipeline tests in tests/pipelines/*.pipeline (format:
// tests/pipelines/README.md): one doctest subcase per case.

#include <doctest/doctest.h>

#include <pipeline_cases.hpp>

namespace {

using namespace sage::testing;

void run_case(const Case& c) {
  sage::LocalEnvironment env(c.name, c.config);
  auto out = build_case(env, c);
  if (c.expect_kind == "error") {
    CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains(c.expected_error.c_str()),
                         sage::JobFailed);
    return;
  }
  env.submit(true);
  auto got = out.get();
  INFO("got: " << join(got));
  INFO("expected: " << join(c.expected));
  if (c.expect_kind == "count") {
    CHECK(got.size() == c.expected_count);
  } else if (c.expect_kind == "ordered") {
    CHECK(got == c.expected);
  } else if (c.expect_kind == "unordered") {
    auto expected = c.expected;
    std::sort(got.begin(), got.end());
    std::sort(expected.begin(), expected.end());
    CHECK(got == expected);
  } else {
    FAIL("case '" << c.name << "' has no expectation");
  }
}

}  // namespace

TEST_CASE("declarative pipeline tests in tests/pipelines") {
  const auto cases = all_cases(std::filesystem::path(SAGE_SOURCE_DIR) / "tests" / "pipelines");
  REQUIRE_FALSE(cases.empty());
  for (const auto& c : cases) {
    SUBCASE((c.file + ": " + c.name).c_str()) { run_case(c); }
  }
}
