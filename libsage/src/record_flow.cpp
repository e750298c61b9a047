#include <sage/detail/record_flow.hpp>

#include <cstdlib>

#include <cxxabi.h>

namespace sage::detail {

std::string type_name(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : type.name();
  std::free(demangled);
  return name;
}

}  // namespace sage::detail
