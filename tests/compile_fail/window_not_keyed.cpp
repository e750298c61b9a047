// expect: no member named 'window'
#include <sage/sage.hpp>
int main() {
  using namespace std::chrono_literals;
  sage::LocalEnvironment env("x");
  env.from_batch({1, 2}).window(sage::tumbling(10ms));
}
