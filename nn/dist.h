/*
 * dist.h: data-parallel training over MPI (OpenMPI from Debian).
 *
 * Each of N processes (ranks) holds a full copy of the model and takes 1/N of every global
 * batch. After its backward pass, nn_dist_allreduce_grads replaces every rank's gradients by
 * their mean over the ranks (one MPI_Allreduce over a single packed buffer), so every rank
 * applies the same optimizer step and the copies stay identical. With the loss of a rank
 * defined as the mean over its share, the mean of the ranks' gradients is exactly the
 * gradient of the mean loss over the global batch: N ranks reproduce one process up to the
 * order of float additions.
 *
 * Launch:
 *     mpirun -np 2 build/release/labs/week03_transformer --global-batch 16 ...   (one machine)
 *     mpirun -np 8 --hostfile hosts build/release/labs/...                        (several)
 * A host file lists one machine per line ("node1 slots=2"); every machine needs the same
 * binary at the same path and passwordless ssh between them (OpenMPI starts the remote ranks
 * over ssh). Without mpirun, a program is simply rank 0 of 1 and nothing is communicated.
 *
 * Errors: an MPI failure aborts every rank (MPI's default handler): a half-synchronised model
 * is worse than no model.
 *
 * Usage:
 *     nn_dist_init(&argc, &argv);
 *     int rank = nn_dist_rank(), size = nn_dist_size();
 *     ... forward/backward on this rank's share of the batch ...
 *     nn_dist_allreduce_grads(params);        // gradients = mean over ranks
 *     nn_optim_step(opt, params);
 *     nn_dist_finalize();
 */
#ifndef NN_DIST_H
#define NN_DIST_H

#include "nn/params.h"

#include <stdint.h>

// Initialises MPI (once; later calls do nothing). Safe without mpirun: then 1 rank.
void nn_dist_init(int *argc, char ***argv);

// This process's rank (0..size-1) and the number of ranks; 0 and 1 before nn_dist_init.
int nn_dist_rank(void);
int nn_dist_size(void);

// buf[i] = mean over ranks of buf[i], for n floats (in place).
void nn_dist_allreduce_mean(float *buf, int64_t n);

// Every trainable parameter's gradient becomes its mean over the ranks.
void nn_dist_allreduce_grads(NnParams *p);

// Shuts MPI down (a no-op when nn_dist_init was never called).
void nn_dist_finalize(void);

#endif
