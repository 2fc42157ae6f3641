// Tolerances, as relative L2 errors against the float64 reference on the same f32
// inputs (or against a peer), shared by the tests and the benchmark's checks.

/** y of batch norm. */
export const Y_TOL = 1e-5;
/** Running mean and variance. */
export const STATS_TOL = 1e-5;
/** dx, dγ, dβ. */
export const GRAD_TOL = 1e-4;
/** Agreement with TF.js on the same inputs. */
export const PEER_TOL = 1e-4;
/** The training toolkit: layers, loss, parameters after a step, gradients, hand-computed updates, finite differences. */
export const TRAINING_TOL = { linear: 1e-5, activation: 1e-5, loss: 1e-5, parameter: 1e-4, gradient: 1e-4, update: 1e-3, finiteDifference: 2e-2 };
/** y and dx stored as float16: rounded once to binary16 (2^-11 relative per value). */
export const HALF_TOL = 2e-3;
