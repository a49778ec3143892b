// ember-run: starts the local workers of a distributed run (like torchrun).
//   ember-run --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P] -- PROGRAM ARGS
// Each worker gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR,
// MASTER_PORT and EMBER_RUN_ID; its output lines are prefixed with "[rank R] ". Ctrl-C and SIGTERM
// are forwarded to the workers. When a worker fails, the others are stopped (SIGTERM, then SIGKILL
// after a grace period) and ember-run exits non-zero naming the rank that failed first: each worker
// gets EMBER_ERROR_FILE, where Ember programs write when and why they failed (dist::write_error_file).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "../common/cli.h"

extern char** environ;

namespace {

int64_t unix_time_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Worker {
  int rank = 0;
  int local_rank = 0;
  pid_t pid = -1;  // -1: never started
  bool running = false;
  uint64_t signals_sent = 0;  // bit s: we sent it signal s (to stop the run or forward a Ctrl-C)
  int status = 0;
  int64_t reaped_us = 0;          // when we reaped it (microseconds since the Unix epoch)
  int64_t closed_us[2] = {0, 0};  // when its stdout and stderr reached end of file (set by the readers)
  std::string error_file;         // its EMBER_ERROR_FILE; empty when there is no directory for them
  std::vector<std::thread> readers;
};

bool succeeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// What a worker wrote to its error file: "<microseconds since the Unix epoch> <message>" (one line,
// see ember::dist::write_error_file); nullopt when it wrote none or something else.
struct ErrorRecord {
  int64_t time_us = 0;
  std::string message;
};
std::optional<ErrorRecord> read_error_file(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const size_t space = line.find(' ');
  ErrorRecord record;
  const char* end = line.data() + std::min(space, line.size());
  auto [ptr, ec] = std::from_chars(line.data(), end, record.time_us);
  if (ec != std::errc() || ptr != end || space == std::string::npos) return std::nullopt;
  constexpr size_t kMaxMessage = 2000;  // the FAILED line stays readable
  record.message = line.substr(space + 1, kMaxMessage);
  return record;
}

// A fresh directory for the workers' error files, or "" and why not (then failures are ordered by
// when we reaped them).
std::string make_error_dir(std::string& why) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ember-run-XXXXXX";
  if (::mkdtemp(pattern.data()) != nullptr) return pattern;
  why = pattern + ": " + std::strerror(errno);
  return "";
}

std::mutex output_mutex;

// Copies lines from `fd` to `out_fd`, each prefixed; a last line without '\n' is flushed at EOF,
// whose time goes to *closed_us.
void prefix_lines(int fd, int out_fd, const std::string& prefix, int64_t* closed_us) {
  std::string pending;
  char buffer[4096];
  auto emit = [&](const std::string& line) {
    std::string text = prefix + line;
    std::lock_guard<std::mutex> lock(output_mutex);
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      ssize_t n = ::write(out_fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      p += n;
      left -= static_cast<size_t>(n);
    }
  };
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = pending.find('\n', start)) != std::string::npos) {
      emit(pending.substr(start, nl - start + 1));
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  *closed_us = unix_time_us();
  if (!pending.empty()) emit(pending + "\n");
  ::close(fd);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

void log(const std::string& message) {
  std::lock_guard<std::mutex> lock(output_mutex);
  std::fprintf(stderr, "ember-run: %s\n", message.c_str());
  std::fflush(stderr);
}

std::string random_run_id() {
  std::random_device rd;
  char text[32];
  std::snprintf(text, sizeof(text), "run-%08x%08x", rd(), rd());
  return text;
}

constexpr double kMaxGraceSeconds = 3600;

// The first argument before PROGRAM that looks like an option but is none of ours, if any. CLI11
// reports those late and oddly ("command is required", "not expected: -- --bogus"); ember-run's
// options all take one value, and everything from PROGRAM (or "--") on belongs to the workers.
std::optional<std::string> unknown_option(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") return std::nullopt;
    if (arg.size() < 2 || arg[0] != '-') return std::nullopt;  // PROGRAM: the rest is its own
    std::string name = arg.substr(0, arg.find('='));
    const CLI::Option* option = nullptr;
    for (const CLI::Option* o : app.get_options()) {
      if (o->check_name(name)) option = o;
    }
    if (option == nullptr) return name;
    if (name == arg && option->get_items_expected_max() > 0) ++i;  // "--opt VALUE": skip the value
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ember-run: launch the workers of a distributed Ember run on this node"};
  int nproc_per_node = 1, nnodes = 1, node_rank = 0, master_port = 29500;
  double grace_seconds = 5.0;
  std::string master_addr = "127.0.0.1", run_id;
  std::vector<std::string> command;
  app.add_option("--nproc-per-node", nproc_per_node, "Workers on this node (usually one per GPU), 1..4096")
      ->required()
      ->check(CLI::Range(1, 4096));
  app.add_option("--nnodes", nnodes, "Nodes in the run, 1..65536")->check(CLI::Range(1, 65536));
  app.add_option("--node-rank", node_rank, "This node's index in [0, nnodes)")->check(CLI::Range(0, 65535));
  app.add_option("--master-addr", master_addr, "Host of global rank 0 (it hosts the rendezvous store)")
      ->check(ember::cli::non_empty("the address"));
  app.add_option("--master-port", master_port, "Port of the rendezvous store")->check(CLI::Range(1, 65535));
  app.add_option("--run-id", run_id,
                 "Identifies the run to the store (default: random on one node, derived from the master "
                 "address and port on several)");
  app.add_option("--grace", grace_seconds, "Seconds between SIGTERM and SIGKILL when stopping workers, 0..3600")
      ->check(ember::cli::number_in(0, kMaxGraceSeconds));
  app.add_option("command", command, "PROGRAM ARGS (after --)");
  app.positionals_at_end();
  auto describe = [&](const CLI::ParseError& e) {
    const std::optional<std::string> bad = unknown_option(app, argc, argv);
    return bad ? "unknown option '" + *bad + "'" : std::string(e.what());
  };
  if (auto exit_code = ember::cli::parse(app, argc, argv, "ember-run", describe)) return *exit_code;
  if (command.empty()) {
    std::fprintf(stderr, "ember-run: no PROGRAM to run: ember-run --nproc-per-node N [OPTIONS] -- PROGRAM ARGS "
                         "(see --help)\n");
    return 2;
  }
  if (node_rank >= nnodes) {
    std::fprintf(stderr, "ember-run: --node-rank %d must be below --nnodes %d (see --help)\n", node_rank, nnodes);
    return 2;
  }
  if (run_id.empty()) {
    run_id = nnodes == 1 ? random_run_id() : "ember-" + master_addr + "-" + std::to_string(master_port);
  }
  const int world_size = nnodes * nproc_per_node;

  // Signals are handled synchronously on this thread (sigtimedwait); workers get the default mask.
  sigset_t handled, previous;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled, &previous);

  std::string no_error_dir;
  const std::string error_dir = make_error_dir(no_error_dir);
  if (error_dir.empty()) {
    log("cannot create a directory for the workers' error files (" + no_error_dir +
        "); a failure will be blamed on the first rank to exit");
  }

  std::vector<Worker> workers(static_cast<size_t>(nproc_per_node));
  // Starts worker i; "" or why it could not be started (the child may be running even then).
  auto start_worker = [&](int i) -> std::string {
    Worker& w = workers[static_cast<size_t>(i)];
    w.local_rank = i;
    w.rank = node_rank * nproc_per_node + i;
    if (!error_dir.empty()) w.error_file = error_dir + "/rank-" + std::to_string(w.rank);
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      const int err = errno;
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return std::string("pipe: ") + std::strerror(err);
    }
    // Everything the child needs is built before fork(): between fork and exec it only calls
    // async-signal-safe functions (the reader threads may hold the allocator's lock).
    std::vector<std::string> env_strings;
    const std::vector<std::pair<std::string, std::string>> overrides = {
        {"RANK", std::to_string(w.rank)},
        {"WORLD_SIZE", std::to_string(world_size)},
        {"LOCAL_RANK", std::to_string(i)},
        {"LOCAL_WORLD_SIZE", std::to_string(nproc_per_node)},
        {"GROUP_RANK", std::to_string(node_rank)},
        {"MASTER_ADDR", master_addr},
        {"MASTER_PORT", std::to_string(master_port)},
        {"EMBER_RUN_ID", run_id},
        {"EMBER_ERROR_FILE", w.error_file}};  // empty (unset for Ember) without a directory
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      std::string key = entry.substr(0, entry.find('='));
      bool replaced = false;
      for (auto& [k, v] : overrides) replaced = replaced || k == key;
      if (!replaced) env_strings.push_back(entry);
    }
    for (auto& [k, v] : overrides) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    for (auto& a : command) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::string exec_error = "ember-run: cannot execute " + command[0] + "\n";

    pid_t pid = ::fork();
    if (pid < 0) {
      const int err = errno;
      for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
      return std::string("fork: ") + std::strerror(err);
    }
    if (pid == 0) {
      ::setpgid(0, 0);  // its own group: signals reach it (and its children) only through us
      ::dup2(out_pipe[1], STDOUT_FILENO);
      ::dup2(err_pipe[1], STDERR_FILENO);
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      ::execvpe(args[0], args.data(), envp.data());
      ssize_t ignored = ::write(STDERR_FILENO, exec_error.data(), exec_error.size());
      (void)ignored;
      ::_exit(127);
    }
    ::setpgid(pid, pid);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    w.pid = pid;
    w.running = true;
    std::string prefix = "[rank " + std::to_string(w.rank) + "] ";
    int pending_fds[2] = {out_pipe[0], err_pipe[0]};
    try {
      w.readers.emplace_back(prefix_lines, out_pipe[0], STDOUT_FILENO, prefix, &w.closed_us[0]);
      pending_fds[0] = -1;  // the reader closes it
      w.readers.emplace_back(prefix_lines, err_pipe[0], STDERR_FILENO, prefix, &w.closed_us[1]);
    } catch (const std::exception& e) {  // no thread left (EAGAIN) or memory: the worker is stopped with the others
      for (int fd : pending_fds) {
        if (fd >= 0) ::close(fd);
      }
      return std::string("cannot start an output thread: ") + e.what();
    }
    return "";
  };

  auto signal_all = [&](int sig) {
    for (auto& w : workers) {
      if (!w.running) continue;
      ::kill(-w.pid, sig);
      if (sig < 64) w.signals_sent |= uint64_t{1} << sig;
    }
  };
  int running = 0;
  int exit_code = 0;
  bool failed = false;  // a worker failed (not stopped by us): name the rank that failed first
  std::string start_failure;
  bool stopping = false;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  auto stop_all = [&] {  // SIGTERM now, SIGKILL after the grace period
    stopping = true;
    signal_all(SIGTERM);
    kill_deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
  };

  for (int i = 0; i < nproc_per_node; ++i) {
    const std::string why = start_worker(i);
    if (workers[static_cast<size_t>(i)].running) ++running;
    if (!why.empty()) {
      // Out of descriptors, processes or threads partway: stop the ones started, report once at the end.
      start_failure = "cannot start rank " + std::to_string(workers[static_cast<size_t>(i)].rank) + " (local rank " +
                      std::to_string(i) + " of " + std::to_string(nproc_per_node) + "): " + why + "; stopped the " +
                      std::to_string(running) + " worker(s) already started";
      exit_code = 1;
      stop_all();
      break;
    }
  }
  if (start_failure.empty()) {
    log("started " + std::to_string(nproc_per_node) + " worker(s), ranks " +
        std::to_string(node_rank * nproc_per_node) + ".." + std::to_string((node_rank + 1) * nproc_per_node - 1) +
        " of " + std::to_string(world_size) + ", store " + master_addr + ":" + std::to_string(master_port));
  }

  while (running > 0) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&handled, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      if (!stopping) {
        log(std::string("got ") + strsignal(sig) + ", forwarding it to the workers");
        signal_all(sig);
        stopping = true;
        exit_code = 128 + sig;
        kill_deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
      } else {
        signal_all(SIGKILL);
      }
    }
    // Reap everything that has exited, and only then stop the rest.
    bool stop_now = false;
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      const int64_t now_us = unix_time_us();
      for (auto& w : workers) {
        if (w.pid != pid || !w.running) continue;
        w.running = false;
        w.status = status;
        w.reaped_us = now_us;
        --running;
        if (!succeeded(status) && !stopping && !stop_now) {
          log("rank " + std::to_string(w.rank) + " (local rank " + std::to_string(w.local_rank) + ", pid " +
              std::to_string(pid) + ") " + describe_status(status) + "; stopping the other workers");
          stop_now = true;
        }
      }
    }
    if (stop_now) {
      exit_code = 1;
      failed = true;
      stop_all();
    }
    if (stopping && std::chrono::steady_clock::now() > kill_deadline) {
      signal_all(SIGKILL);
      kill_deadline = std::chrono::steady_clock::time_point::max();
    }
  }
  for (auto& w : workers) {
    for (auto& t : w.readers) t.join();
  }
  if (!start_failure.empty()) {
    log("FAILED: " + start_failure);
  } else if (failed) {
    // The first failure is not always the first exit: a rank whose peer failed often exits before
    // that peer. Each failed rank is dated by the time in its error file (when its error was raised).
    // A rank without one (killed by a signal, a program that writes none) is only seen from outside:
    // when its output pipes closed (at its death, before its sockets close) or when we reaped it,
    // whichever came first, both late by as long as we waited for a CPU. Peers' errors caused by its
    // death are dated as they happen, so one that died on its own (before we signalled it, or of a
    // signal we never sent it) is dated kSeenLateUs earlier (measured: a SIGKILLed rank seen after its
    // peers' errors in 1 run of 40 on a loaded 2-core machine without this); not one we stopped,
    // whose end follows the first failure. The earliest is named, with its error.
    constexpr int64_t kSeenLateUs = 100 * 1000;
    const Worker* first = nullptr;
    std::optional<ErrorRecord> first_error;
    int64_t first_time = 0;
    for (const auto& w : workers) {
      if (w.pid < 0 || succeeded(w.status)) continue;
      std::optional<ErrorRecord> error = read_error_file(w.error_file);
      int64_t time = w.reaped_us;
      if (w.closed_us[0] > 0 && w.closed_us[1] > 0) time = std::min(time, std::max(w.closed_us[0], w.closed_us[1]));
      if (error) {
        time = std::min(time, error->time_us);
      } else if (w.signals_sent == 0 ||
                 (WIFSIGNALED(w.status) && WTERMSIG(w.status) < 64 &&
                  (w.signals_sent & (uint64_t{1} << WTERMSIG(w.status))) == 0)) {
        time -= kSeenLateUs;
      }
      if (first == nullptr || time < first_time) {
        first = &w;
        first_error = std::move(error);
        first_time = time;
      }
    }
    log("FAILED: rank " + std::to_string(first->rank) + " (local rank " + std::to_string(first->local_rank) +
        ", pid " + std::to_string(first->pid) + ") " + describe_status(first->status) +
        (first_error ? ": " + first_error->message : std::string()));
  } else if (exit_code != 0) {
    log("interrupted");
  }
  if (!error_dir.empty()) {
    for (const auto& w : workers) ::unlink(w.error_file.c_str());
    ::rmdir(error_dir.c_str());
  }
  return exit_code;
}
