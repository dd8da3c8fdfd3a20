#pragma once
// `--nproc-per-node N` without torchrun: the command line is started again as N local processes
// with the variables torchrun would set (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1, MASTER_PORT = a free port).
namespace shadowpeft::cli {

// main() records its arguments for the relaunch.
void remember_command_line(int argc, char** argv);

// Runs the workers and waits for them, passing SIGINT / SIGTERM on to them; when one fails the
// others are killed. Returns 0, or the first failing worker's exit status (128 + signal when
// killed or stopped by a signal).
int run_local_workers(int nproc);

}  // namespace shadowpeft::cli
