#include <sage/detail/format_record.hpp>

#include <cstdio>

namespace sage::detail {

void write_stdout_line(const std::string& line) {
  std::string out;
  out.reserve(line.size() + 1);
  out += line;
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace sage::detail
