#include <ember/core/atomic_file.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <ember/core/error.h>

namespace ember {

namespace {

namespace fs = std::filesystem;

void write_all(int fd, const void* data, size_t size, const std::string& where, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    EMBER_CHECK(n > 0, what, ": writing ", where, " failed: ", std::strerror(n < 0 ? errno : EIO));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

// The file a chain of symbolic links ends at (a dangling link names a file still to be made): the
// rename replaces that file, and the link stays a link.
fs::path link_target(const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    const fs::path next = fs::read_symlink(p, ec);
    if (ec) break;
    p = next.is_absolute() ? next : p.parent_path() / next;
  }
  return p;
}

// The temporary file beside `target` that becomes it: hidden, and one per process.
std::string temporary_beside(const fs::path& target) {
  return (target.parent_path() / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
}

fs::path folder_of(const fs::path& target) { return target.parent_path().empty() ? fs::path(".") : target.parent_path(); }

// What `path` is now: absent or a regular file (replaced by rename), a device or FIFO (written in
// place: /dev/stdout, /dev/null), or something that cannot be written at all (a reason).
enum class Kind { kFile, kDevice };
Kind kind_of(const std::string& path, std::string& reason) {
  if (path.empty()) reason = "the path is empty";
  else if (path.back() == '/') reason = "'" + path + "' names a folder, not a file";
  struct stat st {};
  if (!reason.empty() || ::stat(path.c_str(), &st) != 0) return Kind::kFile;
  if (S_ISDIR(st.st_mode)) reason = "'" + path + "' is a folder";
  return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ? Kind::kFile : Kind::kDevice;
}

void write_in_place(const std::string& path, const std::function<void(const ByteSink&)>& fill, const std::string& what) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  EMBER_CHECK(fd >= 0, what, ": cannot open ", path, ": ", std::strerror(errno));
  try {
    fill([&](const void* data, size_t size) { write_all(fd, data, size, path, what); });
  } catch (...) {
    ::close(fd);
    throw;
  }
  EMBER_CHECK(::close(fd) == 0, what, ": writing ", path, " failed: ", std::strerror(errno));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(const ByteSink&)>& fill,
                           const std::string& what) {
  std::string reason;
  if (kind_of(path, reason) == Kind::kDevice) return write_in_place(path, fill, what);
  EMBER_CHECK(reason.empty(), what, ": ", reason);
  const fs::path target = link_target(path);
  const std::string tmp = temporary_beside(target);
  // The new file gets the mode of the one it replaces (a 0600 checkpoint stays private), else what
  // open() would give a new file (0666 less the umask). A replacement's temporary starts at 0600, so
  // it is never wider than the final mode; a stale one (a crashed run of this pid) is replaced.
  struct stat existing {};
  const bool replaces = ::stat(target.c_str(), &existing) == 0 && S_ISREG(existing.st_mode);
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, replaces ? 0600 : 0666);
  EMBER_CHECK(fd >= 0, what, ": cannot create ", tmp, ": ", std::strerror(errno));
  bool open = true;
  try {
    if (replaces) {
      EMBER_CHECK(::fchmod(fd, existing.st_mode & 0777) == 0, what, ": cannot set the mode of ", tmp, ": ",
                  std::strerror(errno));
    }
    fill([&](const void* data, size_t size) { write_all(fd, data, size, tmp, what); });
    EMBER_CHECK(::fsync(fd) == 0, what, ": fsync of ", tmp, " failed: ", std::strerror(errno));
    open = false;
    EMBER_CHECK(::close(fd) == 0, what, ": closing ", tmp, " failed: ", std::strerror(errno));
  } catch (...) {
    if (open) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    EMBER_FAIL(what, ": cannot rename ", tmp, " to ", target.string(), ": ", std::strerror(error));
  }
  // Make the rename itself durable.
  const int folder = ::open(folder_of(target).c_str(), O_RDONLY | O_CLOEXEC);
  if (folder >= 0) {
    ::fsync(folder);
    ::close(folder);
  }
}

void write_file_atomically(const std::string& path, const std::string& contents, const std::string& what) {
  write_file_atomically(path, [&](const ByteSink& sink) { sink(contents.data(), contents.size()); }, what);
}

std::string unwritable_reason(const std::string& path) {
  std::string reason;
  if (kind_of(path, reason) == Kind::kDevice) {
    return ::access(path.c_str(), W_OK) == 0 ? "" : "cannot write '" + path + "': " + std::strerror(errno);
  }
  if (!reason.empty()) return reason;
  const fs::path target = link_target(path);
  const fs::path folder = folder_of(target);
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return "folder '" + folder.string() + "' does not exist";
  // The writer creates a temporary file there: try exactly that.
  const std::string probe = temporary_beside(target);
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot create a file in folder '" + folder.string() + "': " + std::strerror(errno);
  ::close(fd);
  ::unlink(probe.c_str());
  return "";
}

}  // namespace ember
