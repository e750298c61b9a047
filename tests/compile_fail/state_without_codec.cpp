// expect: a state's type needs a codec
#include <sage/sage.hpp>
struct NoCodec {
  int x = 0;
  NoCodec* self = nullptr;
};
struct Count : sage::MapFunction<int, int> {
  int execute(const int& x) override {
    ctx().value_state<NoCodec>("s").update(NoCodec{x});
    return x;
  }
};
int main() {
  sage::LocalEnvironment env("x");
  env.from_batch({1, 2}).key_by([](const int& x) { return x; }).map<Count>();
}
