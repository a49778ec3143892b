// The worker lifecycle behind ember-run: start this node's workers, forward Ctrl-C and SIGTERM to
// them, reap them, stop the rest (SIGTERM, then SIGKILL after the grace period) when one fails, and
// name the rank that failed first. main.cpp only parses flags.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "error_file.h"

namespace ember_run {

// What the workers of this node are told (RANK, WORLD_SIZE, ... EMBER_RUN_ID) and how they are stopped.
struct LaunchOptions {
  int nproc_per_node = 1;
  int node_rank = 0;
  int world_size = 1;  // nnodes * nproc_per_node
  std::string master_addr;
  int master_port = 0;
  std::string run_id;
  double grace_seconds = 5.0;        // between SIGTERM and SIGKILL when stopping workers
  std::vector<std::string> command;  // PROGRAM ARGS, not empty
};

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

class Launcher {
 public:
  explicit Launcher(LaunchOptions options);

  // Starts the workers and waits for all of them; returns ember-run's exit code: 0, 1 when a worker
  // failed or could not be started, 128 + the signal when interrupted.
  int run();

 private:
  struct Failure {
    const Worker* worker = nullptr;
    std::optional<ErrorRecord> error;  // what it wrote to its error file, if anything
  };

  void start_all();
  std::string start(int i);  // "" or why worker i could not be started (it may be running even then)
  std::vector<std::string> environment_for(const Worker& w) const;
  std::string start_readers(Worker& w, int out_fd, int err_fd);
  void signal_all(int sig);
  void stop_all(int sig = SIGTERM);  // `sig` now, SIGKILL after the grace period
  void on_signal(int sig);
  bool reap();
  Failure first_failure() const;
  void report() const;
  void remove_error_files() const;

  const LaunchOptions options_;
  sigset_t handled_, previous_;  // the signals this thread waits for, and the mask the workers get
  std::string error_dir_;        // "" when it could not be created
  std::vector<Worker> workers_;
  int running_ = 0;
  int exit_code_ = 0;
  bool failed_ = false;  // a worker failed (not stopped by us): name the rank that failed first
  std::string start_failure_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point kill_deadline_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace ember_run
