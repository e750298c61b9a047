#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <sage/config.hpp>

TEST_CASE("Config: typed reads, fallbacks and clear errors") {
  sage::Config c{{"parallelism", "4"}, {"chaining", "off"}};
  c.set("batch.size", 512).set("name", "x").set("object.reuse", true);
  CHECK(c.get_int("parallelism", 1) == 4);
  CHECK(c.get_int("batch.size", 1) == 512);
  CHECK(c.get_int("missing", 7) == 7);
  CHECK_FALSE(c.get_bool("chaining", true));
  CHECK(c.get_bool("object.reuse", false));
  CHECK(c.get_string("name", "") == "x");
  CHECK_FALSE(c.get("missing").has_value());
  c.set("parallelism", "four");
  CHECK_THROWS_WITH_AS((void)c.get_int("parallelism", 1), doctest::Contains("'parallelism'"),
                       std::invalid_argument);
  c.set("chaining", "maybe");
  CHECK_THROWS_AS((void)c.get_bool("chaining", true), std::invalid_argument);
}

TEST_CASE("Config: command-line options and positional arguments") {
  const char* argv[] = {"prog", "--parallelism=3", "input.txt", "--buffer.timeout",
                        "5",    "--verbose"};
  sage::Config c;
  auto positional = c.merge_args(6, argv);
  CHECK(positional == std::vector<std::string>{"input.txt"});
  CHECK(c.get_int("parallelism", 1) == 3);
  CHECK(c.get_int("buffer.timeout", 0) == 5);
  CHECK(c.get_bool("verbose", false));
}

TEST_CASE("Config: an option followed by another option is a flag") {
  const char* argv[] = {"prog", "--object.reuse", "--parallelism=4", "--chaining", "false"};
  sage::Config c;
  CHECK(c.merge_args(5, argv).empty());
  CHECK(c.get_bool("object.reuse", false));
  CHECK(c.get_int("parallelism", 1) == 4);
  CHECK_FALSE(c.get_bool("chaining", true));
}

TEST_CASE("Config: TOML files with tables") {
  const std::string path = "/tmp/sage_config_test.toml";
  {
    std::ofstream out(path);
    out << "parallelism = 3\n[restart]\nstrategy = \"exponential-delay\"  # backoff\nattempts = 5\n"
           "[checkpoint]\ninterval = 1000\n";
  }
  sage::Config c;
  c.merge_file(path);
  std::remove(path.c_str());
  CHECK(c.get_int("parallelism", 1) == 3);
  CHECK(c.get_string("restart.strategy", "") == "exponential-delay");
  CHECK(c.get_int("restart.attempts", 0) == 5);
  CHECK(c.get_int("checkpoint.interval", 0) == 1000);
}

TEST_CASE("Config: YAML-style files with nested maps and comments") {
  const std::string path = "/tmp/sage_config_test.yaml";
  {
    std::ofstream out(path);
    out << "# settings\nparallelism: 2\nbuffer:\n  timeout: 25   # ms\nrestart:\n  strategy: "
           "\"fixed-delay\"\n"
           "  attempts: 3\nbatch.size: 2048\n";
  }
  sage::Config c;
  c.merge_file(path);
  std::remove(path.c_str());
  CHECK(c.get_int("parallelism", 1) == 2);
  CHECK(c.get_int("buffer.timeout", 0) == 25);
  CHECK(c.get_string("restart.strategy", "") == "fixed-delay");
  CHECK(c.get_int("restart.attempts", 0) == 3);
  CHECK(c.get_int("batch.size", 0) == 2048);
  CHECK_THROWS_AS(c.merge_file("/nonexistent/sage.yaml"), std::runtime_error);
}

TEST_CASE("Config: sizes in bytes, with or without a unit") {
  CHECK(sage::parse_size("1048576") == uint64_t{1048576});
  CHECK(sage::parse_size("1MB") == uint64_t{1} << 20);
  CHECK(sage::parse_size("256M") == uint64_t{256} << 20);
  CHECK(sage::parse_size("1.5GiB") == uint64_t{3} << 29);
  CHECK(sage::parse_size("4 kb") == uint64_t{4096});
  CHECK(sage::parse_size("512", uint64_t{1} << 20) == uint64_t{512} << 20);  // the CLI's MB
  CHECK_FALSE(sage::parse_size("lots"));
  CHECK_FALSE(sage::parse_size("-1"));
  CHECK_FALSE(sage::parse_size("1e3"));
  CHECK_FALSE(sage::parse_size("5 parsecs"));
  sage::Config c;
  c.set("batch.max_bytes", "2MB");
  CHECK(c.get_bytes("batch.max_bytes", 0) == uint64_t{2} << 20);
  CHECK(c.get_bytes("missing", 7) == 7);
  c.set("record.max_bytes", "huge");
  CHECK_THROWS_AS((void)c.get_bytes("record.max_bytes", 0), std::invalid_argument);
}

TEST_CASE("Config: YAML as yaml-cpp reads it: quoted '#', flow maps, lists, errors with a line") {
  const std::string path = "/tmp/sage_config_test_yaml_" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path);
    out << "name: \"a # b\"  # a comment\n"
           "node:\n  labels: {zone: \"eu # 1\", disk: ssd}\n"
           "hosts:\n  - a.example\n  - b.example\n"
           "empty:\n";
  }
  sage::Config c;
  c.merge_file(path);
  CHECK(c.get_string("name", "") == "a # b");
  CHECK(c.get_string("node.labels.zone", "") == "eu # 1");
  CHECK(c.get_string("node.labels.disk", "") == "ssd");
  CHECK(c.get_string("hosts", "") == "a.example,b.example");
  CHECK(c.contains("empty"));
  {
    std::ofstream out(path);
    out << "ok: 1\nbad: [unclosed\n";
  }
  sage::Config d;
  try {
    d.merge_file(path);
    FAIL("a malformed YAML file was read");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(path + ":") == 0);  // names the file and a line
  }
  {
    std::ofstream out(path);
    out << "jobs:\n  - {name: a}\n";
  }
  CHECK_THROWS_AS(d.merge_file(path), std::runtime_error);  // a list of maps: not a setting
  std::remove(path.c_str());
}

TEST_CASE("Config: TOML as toml++ reads it: inline tables, arrays, errors with a line") {
  const std::string path = "/tmp/sage_config_test_toml_" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream out(path);
    out << "name = \"a # b\"\n[node]\nlabels = { zone = \"eu # 1\", disk = \"ssd\" }\n"
           "cpus = 2.5\nhosts = [\"a\", \"b\"]\n";
  }
  sage::Config c;
  c.merge_file(path);
  CHECK(c.get_string("name", "") == "a # b");
  CHECK(c.get_string("node.labels.zone", "") == "eu # 1");
  CHECK(c.get_string("node.labels.disk", "") == "ssd");
  CHECK(c.get_string("node.cpus", "") == "2.5");
  CHECK(c.get_string("node.hosts", "") == "a,b");
  {
    std::ofstream out(path);
    out << "x = \n";
  }
  try {
    sage::Config d;
    d.merge_file(path);
    FAIL("a malformed TOML file was read");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(path + ":1:") == 0);
  }
  std::remove(path.c_str());
}
