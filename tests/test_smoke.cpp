#include <catch2/catch.hpp>

#include <ember/ember.h>

TEST_CASE("tensor basics", "[core]") {
  ember::Tensor a = ember::ones({2, 3});
  CHECK(a.numel() == 6);
  CHECK(a.sum().item() == 6.0);
}
