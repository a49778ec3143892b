// DistEnv: who this process is in a distributed run, read from the environment of whichever
// launcher started it: ember-run/torchrun (RANK, WORLD_SIZE, LOCAL_RANK), Open MPI's mpirun
// (OMPI_COMM_WORLD_*) or Slurm's srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID). MASTER_ADDR and
// MASTER_PORT say where rank 0 hosts the store in every case.
#pragma once
#include <cstdint>
#include <exception>
#include <string>

namespace ember::dist {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  uint16_t master_port = 29500;
  // Distinguishes runs that reuse a port: EMBER_RUN_ID (ember-run sets one), else the Slurm job
  // and step, else Open MPI's job id, else derived from the port.
  std::string run_id;
  std::string launcher = "none";  // "torchrun", "openmpi", "slurm" or "none"

  bool is_distributed() const { return world_size > 1; }
  std::string str() const;

  // Reads the variables above; throws ember::Error on values that do not parse or disagree
  // (rank outside [0, world_size), MASTER_PORT not a port).
  static DistEnv from_environment();
};

// The error file: ember-run names one per rank in EMBER_ERROR_FILE (torchrun's TORCHELASTIC_ERROR_FILE
// plays the same part). A program that exits on an error calls write_error_file(e) in its handler;
// ember-run then reports the rank whose error was raised first, with its message, instead of whichever
// rank it saw exit first (a rank that fails because a peer died often exits before that peer). Writes
// one line, "<microseconds since the Unix epoch> <message>": the time the error was raised for an
// ember::Error, else now. An existing file is kept (the first error wins). Does nothing without the
// variable; never throws.
void write_error_file(const std::exception& error);

}  // namespace ember::dist
