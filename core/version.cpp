#include <ember/core/version.h>
#include <ember_generated/version.h>

namespace ember {
std::string version() { return EMBER_VERSION_STRING; }
}  // namespace ember
