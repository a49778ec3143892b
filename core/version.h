// The library's version, as compiled (EMBER_VERSION_* give the headers' version).
#pragma once
#include <string>

namespace ember {
std::string version();  // "0.1.0"
}
