#include <ember/dist/env.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <ember/core/error.h>

namespace ember::dist {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

// The most ranks Ember starts: the rendezvous lists one store key per rank.
constexpr int kMaxWorldSize = 1 << 20;

int parse_int(const char* name, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  EMBER_CHECK(end != text && *end == '\0' && v >= 0 && v < (1L << 30), "dist: environment variable ", name, "='",
              text, "' is not a non-negative integer");
  return static_cast<int>(v);
}

}  // namespace

std::string DistEnv::str() const {
  return ::ember::detail::make_message("rank ", rank, "/", world_size, " (local ", local_rank, "/", local_world_size,
                              ") store ", master_addr, ":", master_port, " run '", run_id, "' via ", launcher);
}

DistEnv DistEnv::from_environment() {
  DistEnv e;
  // One table per launcher: rank, size, local rank, local size; the first with a rank wins.
  struct Source {
    const char* launcher;
    const char* rank;
    const char* size;
    const char* local_rank;
    const char* local_size;
  };
  static const Source sources[] = {
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
      {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
       "OMPI_COMM_WORLD_LOCAL_SIZE"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
  };
  // WORLD_SIZE without RANK is a launch that forgot a variable, not a single process.
  EMBER_CHECK(env("WORLD_SIZE") == nullptr || env("RANK") != nullptr || std::string(env("WORLD_SIZE")) == "1",
              "dist: WORLD_SIZE=", env("WORLD_SIZE"), " is set but RANK is not (launch each rank with its RANK, "
              "or use ember-run)");
  for (const Source& s : sources) {
    if (env(s.rank) == nullptr) continue;
    e.launcher = s.launcher;
    e.rank = parse_int(s.rank, env(s.rank));
    EMBER_CHECK(env(s.size) != nullptr, "dist: ", s.rank, " is set but ", s.size, " is not");
    e.world_size = parse_int(s.size, env(s.size));
    e.local_rank = env(s.local_rank) ? parse_int(s.local_rank, env(s.local_rank)) : 0;
    // Slurm writes "4(x2)" style values in SLURM_NTASKS_PER_NODE; fall back to the world size.
    const char* ls = env(s.local_size);
    char* end = nullptr;
    long local_size = ls ? std::strtol(ls, &end, 10) : 0;
    e.local_world_size = (ls && end != ls && *end == '\0' && local_size > 0) ? static_cast<int>(local_size)
                                                                              : e.world_size;
    break;
  }
  EMBER_CHECK(e.world_size >= 1 && e.world_size <= kMaxWorldSize, "dist: world size must be in [1, ", kMaxWorldSize,
              "], got ", e.world_size);
  EMBER_CHECK(e.rank < e.world_size, "dist: rank ", e.rank, " is outside a world of size ", e.world_size);
  // The local rank picks the GPU: one past the node's ranks would share or miss a device.
  EMBER_CHECK(e.local_rank < e.local_world_size && e.local_world_size <= e.world_size, "dist: local rank ",
              e.local_rank, " with ", e.local_world_size, " ranks on this node (world size ", e.world_size,
              ") is inconsistent: the local rank must be below the local world size, at most the world size");
  if (const char* a = env("MASTER_ADDR")) e.master_addr = a;
  if (const char* p = env("MASTER_PORT")) {
    int port = parse_int("MASTER_PORT", p);
    EMBER_CHECK(port > 0 && port < 65536, "dist: MASTER_PORT=", p, " is not a TCP port");
    e.master_port = static_cast<uint16_t>(port);
  }
  EMBER_CHECK(e.world_size == 1 || e.launcher == "torchrun" || env("MASTER_ADDR") != nullptr,
              "dist: started by ", e.launcher, " with ", e.world_size,
              " ranks but MASTER_ADDR is not set: export MASTER_ADDR (the host of rank 0) and MASTER_PORT");
  if (const char* id = env("EMBER_RUN_ID")) {
    e.run_id = id;
  } else if (const char* job = env("SLURM_JOB_ID")) {
    e.run_id = std::string("slurm-") + job + "." + (env("SLURM_STEP_ID") ? env("SLURM_STEP_ID") : "0");
  } else if (const char* job = env("OMPI_MCA_ess_base_jobid")) {
    e.run_id = std::string("ompi-") + job;
  } else {
    e.run_id = "port-" + std::to_string(e.master_port);
  }
  return e;
}

void write_error_file(const std::exception& error) {
  const char* path = env("EMBER_ERROR_FILE");
  if (path == nullptr) return;
  try {
    const auto* ember_error = dynamic_cast<const Error*>(&error);
    std::string line = std::to_string(ember_error ? ember_error->unix_time_us() : ::ember::detail::unix_time_us()) +
                       " " + error.what();
    for (char& ch : line) {
      if (ch == '\n' || ch == '\r') ch = ' ';  // one line, whatever the message
    }
    line += '\n';
    const int fd = ::open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return;  // already written (an earlier error), or nowhere to write: the launcher falls back
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    ::close(fd);
  } catch (...) {
    // bad_alloc while building the line: the launcher falls back to the exit order
  }
}

}  // namespace ember::dist
