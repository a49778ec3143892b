// ember-run: starts the local workers of a distributed run (like torchrun).
//   ember-run --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P] -- PROGRAM ARGS
// Each worker gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR,
// MASTER_PORT and EMBER_RUN_ID; its output lines are prefixed with "[rank R] ". Ctrl-C and SIGTERM
// are forwarded to the workers. When a worker fails, the others are stopped (SIGTERM, then SIGKILL
// after a grace period) and ember-run exits non-zero naming the rank that failed first: each worker
// gets EMBER_ERROR_FILE, where Ember programs write when and why they failed (dist::write_error_file).
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "../common/cli.h"
#include "launcher.h"

namespace {

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

  ember_run::LaunchOptions options;
  options.nproc_per_node = nproc_per_node;
  options.node_rank = node_rank;
  options.world_size = nnodes * nproc_per_node;
  options.master_addr = master_addr;
  options.master_port = master_port;
  options.run_id = run_id;
  options.grace_seconds = grace_seconds;
  options.command = std::move(command);
  return ember_run::Launcher(std::move(options)).run();
}
