// Files written so that a reader (or a crash) sees the old contents or the new ones, never a part:
// a temporary file beside the target (the same file system), fsync, rename over it, fsync of the
// folder. Used for checkpoints, metrics and benchmark JSON.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace ember {

// Appends bytes to the file being written.
using ByteSink = std::function<void(const void* data, size_t size)>;

// Calls fill(sink) to produce the contents, then puts them at `path` atomically (a symbolic link
// stays a link: the file it names is replaced). Every failure (cannot create, short write, disk
// full, rename) throws an Error naming `what` and the path, and leaves `path` as it was and no
// temporary file behind. An existing device or FIFO (/dev/stdout) is written in place, checked.
// A replaced file's permission bits carry over (a 0600 file stays 0600); a new file gets 0666 less
// the umask, as open() gives.
void write_file_atomically(const std::string& path, const std::function<void(const ByteSink&)>& fill,
                           const std::string& what);
void write_file_atomically(const std::string& path, const std::string& contents, const std::string& what);

// Why write_file_atomically could not write `path`, found before the work that produces the
// contents (a folder there, a missing or read-only folder: the temporary file is created there
// and removed, an unwritable device); "" when it can.
std::string unwritable_reason(const std::string& path);

}  // namespace ember
