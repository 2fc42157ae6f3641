// The floor: a plain WGSL kernel that reads x and writes y as vec4 in a
// grid-stride loop (one load per round, or four), timed like the ops (throughput,
// rotated inputs) on tensors of the same size. Its best bandwidth over a few launch shapes, against an op's
// minimum bytes, is the fastest that op could be on this adapter.
import { batchSize, Iterations, latency, throughput, warmUp, type Encode } from './timing.js';
import type { FloorMeasure } from './types.js';

const COPY_WGSL = /* wgsl */ `
override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let stride = groups.x * WORKGROUP_SIZE;
  for (var i = id.x; i < arrayLength(&y); i += stride) {
    y[i] = x[i];
  }
}

// The same copy with four loads in flight before the stores (CPU adapters gain).
@compute @workgroup_size(WORKGROUP_SIZE)
fn copy4(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let stride = groups.x * WORKGROUP_SIZE;
  let n = arrayLength(&y);
  var i = id.x;
  for (; i + 3u * stride < n; i += 4u * stride) {
    let a = x[i];
    let b = x[i + stride];
    let c = x[i + 2u * stride];
    let d = x[i + 3u * stride];
    y[i] = a;
    y[i + stride] = b;
    y[i + 2u * stride] = c;
    y[i + 3u * stride] = d;
  }
  for (; i < n; i += stride) {
    y[i] = x[i];
  }
}

// Each thread copies one contiguous run, four per round: CPU adapters (SwiftShader)
// copy 10-15 % faster this way than with the grid-stride loops above.
@compute @workgroup_size(WORKGROUP_SIZE)
fn copyRun(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let n = arrayLength(&y);
  let threads = groups.x * WORKGROUP_SIZE;
  let per = (n + threads - 1u) / threads;
  var i = min(id.x * per, n);
  let end = min(i + per, n);
  for (; i + 3u < end; i += 4u) {
    let a = x[i];
    let b = x[i + 1u];
    let c = x[i + 2u];
    let d = x[i + 3u];
    y[i] = a;
    y[i + 1u] = b;
    y[i + 2u] = c;
    y[i + 3u] = d;
  }
  for (; i < end; i++) {
    y[i] = x[i];
  }
}
`;

/** The copy kernels tried at every launch shape: one load per round, four, and a contiguous run per thread. */
const ENTRY_POINTS: [string, string][] = [
  ['copy', ''],
  ['copy4', ', 4 loads per round'],
  ['copyRun', ', a contiguous run per thread'],
];

/** [threads per workgroup, workgroups]: few long workgroups suit CPU adapters (SwiftShader), many suit GPUs. */
const LAUNCHES: [number, number][] = [
  [16, 16],
  [16, 32],
  [64, 16],
  [64, 32],
  [64, 64],
  [64, 128],
  [256, 1024],
  [256, 8192],
];

/** Rotated sources: at least 64 MiB read in turn, 2 to 8 of them. */
const sources = (n: number) => Math.min(8, Math.max(2, Math.ceil((64 << 20) / (4 * n))));

/** Copy-kernel bandwidth on tensors of n f32 (n a multiple of 4). */
export async function measureFloor(device: GPUDevice, n: number): Promise<FloorMeasure> {
  const module = device.createShaderModule({ label: 'bench floor copy', code: COPY_WGSL });
  const layout = device.createBindGroupLayout({
    label: 'bench floor copy',
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    ],
  });
  const pipelineLayout = device.createPipelineLayout({ label: 'bench floor copy', bindGroupLayouts: [layout] });
  const bytes = n * 4;
  const buffers: GPUBuffer[] = [];
  try {
    const y = device.createBuffer({ label: 'bench floor y', size: bytes, usage: GPUBufferUsage.STORAGE });
    buffers.push(y);
    const xs = Array.from({ length: sources(n) }, (_, i) => {
      const x = device.createBuffer({ label: `bench floor x ${i}`, size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      const data = new Float32Array(n);
      for (let j = 0; j < n; j++) data[j] = i + 1 + j * 1e-3;
      device.queue.writeBuffer(x, 0, data);
      buffers.push(x);
      return x;
    });
    const groups = xs.map((x, i) =>
      device.createBindGroup({
        label: `bench floor copy ${i}`,
        layout,
        entries: [
          { binding: 0, resource: { buffer: x } },
          { binding: 1, resource: { buffer: y } },
        ],
      }),
    );

    let best: FloorMeasure | undefined;
    for (const [size, workgroups] of LAUNCHES) for (const [entryPoint, note] of ENTRY_POINTS) {
      if (size > device.limits.maxComputeInvocationsPerWorkgroup) continue;
      const pipeline = device.createComputePipeline({
        label: `bench floor ${entryPoint} ${size}`,
        layout: pipelineLayout,
        compute: { module, entryPoint, constants: { WORKGROUP_SIZE: size } },
      });
      const encode: Encode = (encoder, i) => {
        const pass = encoder.beginComputePass({ label: 'bench floor copy' });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, groups[i % groups.length]);
        pass.dispatchWorkgroups(workgroups);
        pass.end();
      };
      const iterations = new Iterations();
      await warmUp(device, encode, iterations);
      const one = await latency(device, encode, iterations, { ms: 0, min: 3, max: 3 });
      const per = await throughput(device, encode, iterations, batchSize(one.ms), { ms: 300, min: 3, max: 20 });
      const gbps = (2 * bytes) / (per.ms * 1e6);
      if (!best || gbps > best.gbps) best = { elements: n, gbps, config: `${workgroups} × ${size} threads${note}` };
    }
    return best!;
  } finally {
    for (const b of buffers) b.destroy();
  }
}
