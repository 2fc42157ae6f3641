// Shared by the optimizer stages: the hyper-parameters (a uniform the host writes
// when they change) and the step schedule (kept on the GPU by optimizer-tick, so
// steps recorded back to back without a submit between them still count right).

struct Hyper {
  learningRate: f32,
  beta1: f32,          // Momentum's momentum, Adam's β1
  beta2: f32,          // RMSprop's decay (PyTorch's alpha, Keras's rho), Adam's β2
  // 1 - β, computed by the host in double precision: in f32, 1.0 - 0.999 is off by
  // 1.3e-5 relative, since 0.999 itself is rounded.
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  weightDecay: f32,    // L2: g += weightDecay · p, as PyTorch's weight_decay
}

struct Schedule {
  step: u32,           // t, steps taken
  correction1: f32,    // 1 - β1^t
  correction2: f32,    // 1 - β2^t
}

@group(0) @binding(0) var<uniform> hyper: Hyper;
