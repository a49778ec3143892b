#include "launcher.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>

extern char** environ;

namespace ember_run {
namespace {

int64_t unix_time_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool succeeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

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

// "rank R (local rank L, pid P)"
std::string describe_worker(const Worker& w) {
  return "rank " + std::to_string(w.rank) + " (local rank " + std::to_string(w.local_rank) + ", pid " +
         std::to_string(w.pid) + ")";
}

void log(const std::string& message) {
  std::lock_guard<std::mutex> lock(output_mutex);
  std::fprintf(stderr, "ember-run: %s\n", message.c_str());
  std::fflush(stderr);
}

}  // namespace

Launcher::Launcher(LaunchOptions options)
    : options_(std::move(options)), workers_(static_cast<size_t>(options_.nproc_per_node)) {}

int Launcher::run() {
  // Signals are handled synchronously on this thread (sigtimedwait); workers get the default mask.
  sigemptyset(&handled_);
  sigaddset(&handled_, SIGINT);
  sigaddset(&handled_, SIGTERM);
  sigaddset(&handled_, SIGCHLD);
  sigaddset(&handled_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled_, &previous_);

  std::string no_error_dir;
  error_dir_ = make_error_dir(no_error_dir);
  if (error_dir_.empty()) {
    log("cannot create a directory for the workers' error files (" + no_error_dir +
        "); a failure will be blamed on the first rank to exit");
  }

  start_all();
  while (running_ > 0) {
    timespec tick{0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&handled_, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) on_signal(sig);
    // Reap everything that has exited, and only then stop the rest.
    if (reap()) {
      exit_code_ = 1;
      failed_ = true;
      stop_all();
    }
    if (stopping_ && std::chrono::steady_clock::now() > kill_deadline_) {
      signal_all(SIGKILL);
      kill_deadline_ = std::chrono::steady_clock::time_point::max();
    }
  }
  for (auto& w : workers_) {
    for (auto& t : w.readers) t.join();
  }
  report();
  remove_error_files();
  return exit_code_;
}

void Launcher::start_all() {
  const int n = options_.nproc_per_node;
  for (int i = 0; i < n; ++i) {
    const std::string why = start(i);
    if (workers_[static_cast<size_t>(i)].running) ++running_;
    if (!why.empty()) {
      // Out of descriptors, processes or threads partway: stop the ones started, report once at the end.
      start_failure_ = "cannot start rank " + std::to_string(workers_[static_cast<size_t>(i)].rank) + " (local rank " +
                       std::to_string(i) + " of " + std::to_string(n) + "): " + why + "; stopped the " +
                       std::to_string(running_) + " worker(s) already started";
      exit_code_ = 1;
      stop_all();
      return;
    }
  }
  log("started " + std::to_string(n) + " worker(s), ranks " + std::to_string(options_.node_rank * n) + ".." +
      std::to_string((options_.node_rank + 1) * n - 1) + " of " + std::to_string(options_.world_size) + ", store " +
      options_.master_addr + ":" + std::to_string(options_.master_port));
}

std::string Launcher::start(int i) {
  Worker& w = workers_[static_cast<size_t>(i)];
  w.local_rank = i;
  w.rank = options_.node_rank * options_.nproc_per_node + i;
  if (!error_dir_.empty()) w.error_file = error_dir_ + "/rank-" + std::to_string(w.rank);
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
  const std::vector<std::string> env_strings = environment_for(w);
  std::vector<char*> envp, args;
  for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  for (auto& a : options_.command) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string exec_error = "ember-run: cannot execute " + options_.command[0] + "\n";

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
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
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
  return start_readers(w, out_pipe[0], err_pipe[0]);
}

// Our environment with the worker's RANK, WORLD_SIZE, ... EMBER_ERROR_FILE set, as "KEY=VALUE".
std::vector<std::string> Launcher::environment_for(const Worker& w) const {
  std::vector<std::string> env_strings;
  const std::vector<std::pair<std::string, std::string>> overrides = {
      {"RANK", std::to_string(w.rank)},
      {"WORLD_SIZE", std::to_string(options_.world_size)},
      {"LOCAL_RANK", std::to_string(w.local_rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(options_.nproc_per_node)},
      {"GROUP_RANK", std::to_string(options_.node_rank)},
      {"MASTER_ADDR", options_.master_addr},
      {"MASTER_PORT", std::to_string(options_.master_port)},
      {"EMBER_RUN_ID", options_.run_id},
      {"EMBER_ERROR_FILE", w.error_file}};  // empty (unset for Ember) without a directory
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (auto& [k, v] : overrides) replaced = replaced || k == key;
    if (!replaced) env_strings.push_back(entry);
  }
  for (auto& [k, v] : overrides) env_strings.push_back(k + "=" + v);
  return env_strings;
}

// Starts the threads that copy the worker's stdout and stderr, prefixed with "[rank R] "; they close
// the pipes' read ends. "" or why not.
std::string Launcher::start_readers(Worker& w, int out_fd, int err_fd) {
  std::string prefix = "[rank " + std::to_string(w.rank) + "] ";
  int pending_fds[2] = {out_fd, err_fd};
  try {
    w.readers.emplace_back(prefix_lines, out_fd, STDOUT_FILENO, prefix, &w.closed_us[0]);
    pending_fds[0] = -1;  // the reader closes it
    w.readers.emplace_back(prefix_lines, err_fd, STDERR_FILENO, prefix, &w.closed_us[1]);
  } catch (const std::exception& e) {  // no thread left (EAGAIN) or memory: the worker is stopped with the others
    for (int fd : pending_fds) {
      if (fd >= 0) ::close(fd);
    }
    return std::string("cannot start an output thread: ") + e.what();
  }
  return "";
}

void Launcher::signal_all(int sig) {
  for (auto& w : workers_) {
    if (!w.running) continue;
    ::kill(-w.pid, sig);
    if (sig < 64) w.signals_sent |= uint64_t{1} << sig;
  }
}

void Launcher::stop_all(int sig) {
  stopping_ = true;
  signal_all(sig);
  kill_deadline_ = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(options_.grace_seconds * 1000));
}

// A Ctrl-C, SIGTERM or SIGHUP sent to us: the first is forwarded to the workers (SIGKILL follows
// after the grace period), a later one kills them now.
void Launcher::on_signal(int sig) {
  if (stopping_) {
    signal_all(SIGKILL);
    return;
  }
  log(std::string("got ") + strsignal(sig) + ", forwarding it to the workers");
  stop_all(sig);
  exit_code_ = 128 + sig;
}

// Reaps every worker that has exited; true when one failed that we had not stopped (the first is logged).
bool Launcher::reap() {
  bool stop_now = false;
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    const int64_t now_us = unix_time_us();
    for (auto& w : workers_) {
      if (w.pid != pid || !w.running) continue;
      w.running = false;
      w.status = status;
      w.reaped_us = now_us;
      --running_;
      if (!succeeded(status) && !stopping_ && !stop_now) {
        log(describe_worker(w) + " " + describe_status(status) + "; stopping the other workers");
        stop_now = true;
      }
    }
  }
  return stop_now;
}

// The first failure is not always the first exit: a rank whose peer failed often exits before
// that peer. Each failed rank is dated by the time in its error file (when its error was raised).
// A rank without one (killed by a signal, a program that writes none) is only seen from outside:
// when its output pipes closed (at its death, before its sockets close) or when we reaped it,
// whichever came first, both late by as long as we waited for a CPU. Peers' errors caused by its
// death are dated as they happen, so one that died on its own (before we signalled it, or of a
// signal we never sent it) is dated kSeenLateUs earlier (measured: a SIGKILLed rank seen after its
// peers' errors in 1 run of 40 on a loaded 2-core machine without this); not one we stopped,
// whose end follows the first failure. The earliest is named, with its error.
Launcher::Failure Launcher::first_failure() const {
  constexpr int64_t kSeenLateUs = 100 * 1000;
  Failure first;
  int64_t first_time = 0;
  for (const auto& w : workers_) {
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
    if (first.worker == nullptr || time < first_time) {
      first.worker = &w;
      first.error = std::move(error);
      first_time = time;
    }
  }
  return first;
}

void Launcher::report() const {
  if (!start_failure_.empty()) {
    log("FAILED: " + start_failure_);
  } else if (failed_) {
    const Failure first = first_failure();
    log("FAILED: " + describe_worker(*first.worker) + " " + describe_status(first.worker->status) +
        (first.error ? ": " + first.error->message : std::string()));
  } else if (exit_code_ != 0) {
    log("interrupted");
  }
}

void Launcher::remove_error_files() const {
  if (error_dir_.empty()) return;
  for (const auto& w : workers_) ::unlink(w.error_file.c_str());
  ::rmdir(error_dir_.c_str());
}

}  // namespace ember_run
