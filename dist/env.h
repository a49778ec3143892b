// DistEnv: who this process is in a distributed run, read from the environment of whichever
// launcher started it: ember-run/torchrun (RANK, WORLD_SIZE, LOCAL_RANK), Open MPI's mpirun
// (OMPI_COMM_WORLD_*) or Slurm's srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID). MASTER_ADDR and
// MASTER_PORT say where rank 0 hosts the store in every case.
#pragma once
#include <cstdint>
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

}  // namespace ember::dist
