// Multi-process helpers for the dist tests: run programs with extra environment, capture their
// output, enforce a wall-clock timeout, and never leave a child behind.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ember::testing::dist {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;  // we had to kill it
  double seconds = 0;      // from start to exit
  std::string output;      // stdout and stderr together
  bool ok() const { return exit_code == 0; }
};

// A port that was free a moment ago (the store binds it again right away).
// A port for a test's MASTER_PORT, free now, taken at random below Linux's ephemeral range
// (32768-60999): a port the kernel handed out as ephemeral could be handed out again, between
// this check and the store's bind, to the sockets Gloo opens for a test running in parallel.
inline uint16_t free_port() {
  static std::mt19937 pick(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    const uint16_t port = static_cast<uint16_t>(20000 + pick() % 12000);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(port);
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (bound) return port;
  }
  return 0;  // the store then reports the bad port
}

struct Command {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (and overriding) ours
};

// Starts every command at once, waits for all of them up to timeout_s, kills what is left
// (its whole process group) and returns one result per command.
inline std::vector<ProcessResult> run_all(const std::vector<Command>& commands, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  std::vector<ProcessResult> results(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    char path[] = "/tmp/ember_dist_test_XXXXXX";
    int fd = ::mkstemp(path);
    logs.push_back(path);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      if (commands[i].env.count(entry.substr(0, entry.find('='))) == 0) env_strings.push_back(entry);
    }
    for (auto& [k, v] : commands[i].env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    for (auto& a : commands[i].argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::execvpe(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);
    ::close(fd);
    pids.push_back(pid);
  }
  size_t left = pids.size();
  std::vector<bool> done(pids.size(), false);
  bool killed = false;
  while (left > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int status = 0;
      if (::waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        done[i] = true;
        --left;
        results[i].seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (WIFEXITED(status)) results[i].exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) results[i].signal = WTERMSIG(status);
      }
    }
    if (left == 0) break;
    if (!killed && std::chrono::duration<double>(Clock::now() - start).count() > timeout_s) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) {
          results[i].timed_out = true;
          ::kill(-pids[i], SIGKILL);
        }
      }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (size_t i = 0; i < pids.size(); ++i) {
    ::kill(-pids[i], SIGKILL);  // grandchildren, if any outlived their parent
    std::ifstream in(logs[i]);
    std::stringstream ss;
    ss << in.rdbuf();
    results[i].output = ss.str();
    ::unlink(logs[i].c_str());
  }
  return results;
}

// The environment of rank `rank` of a run of `world` ranks on localhost.
inline std::map<std::string, std::string> rank_env(int rank, int world, uint16_t port, const std::string& run_id) {
  return {{"RANK", std::to_string(rank)},       {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_RANK", std::to_string(rank)}, {"LOCAL_WORLD_SIZE", std::to_string(world)},
          {"MASTER_ADDR", "127.0.0.1"},         {"MASTER_PORT", std::to_string(port)},
          {"EMBER_RUN_ID", run_id}};
}

// Runs `world` ranks of `argv` on localhost.
inline std::vector<ProcessResult> run_ranks(int world, const std::vector<std::string>& argv, double timeout_s,
                                            const std::string& run_id = "test") {
  uint16_t port = free_port();
  std::vector<Command> commands;
  for (int r = 0; r < world; ++r) commands.push_back({argv, rank_env(r, world, port, run_id)});
  return run_all(commands, timeout_s);
}

inline std::string describe(const std::vector<ProcessResult>& results) {
  std::string s;
  for (size_t i = 0; i < results.size(); ++i) {
    s += "--- process " + std::to_string(i) + ": exit " + std::to_string(results[i].exit_code) + " signal " +
         std::to_string(results[i].signal) + (results[i].timed_out ? " TIMED OUT" : "") + " after " +
         std::to_string(results[i].seconds) + " s\n" + results[i].output;
  }
  return s;
}

// Parameters written by `dist_worker train --out`: name -> values.
inline std::map<std::string, std::vector<double>> read_parameters(const std::string& path) {
  std::map<std::string, std::vector<double>> params;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    ls >> name;
    double v;
    while (ls >> v) params[name].push_back(v);
  }
  return params;
}

// Largest |a - b| / max(|b|, 1e-12) over all parameters (infinity when the names differ).
inline double max_relative_difference(const std::map<std::string, std::vector<double>>& a,
                                      const std::map<std::string, std::vector<double>>& b) {
  if (a.size() != b.size() || a.empty()) return 1e300;
  double worst = 0;
  for (auto& [name, va] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.size() != va.size()) return 1e300;
    for (size_t i = 0; i < va.size(); ++i) {
      double denom = std::max(std::abs(it->second[i]), 1e-12);
      worst = std::max(worst, std::abs(va[i] - it->second[i]) / denom);
    }
  }
  return worst;
}

inline std::string temp_path(const std::string& tag) {
  return "/tmp/ember_dist_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(free_port());
}

}  // namespace ember::testing::dist
