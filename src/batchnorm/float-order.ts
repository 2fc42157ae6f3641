// Whether a device's shader compiler keeps the error terms of compensated sums
// without compensated.wgsl's opaque() barrier. Decided by behaviour, never by the
// adapter's name: float-order-probe.wgsl runs the very functions the stages use on
// values whose error terms are known exactly, once per device. Until a device's
// probe has answered, and wherever it found a term lost or could not run, the
// stages keep the barrier, so no accuracy rests on the answer coming.
import { dispatch } from '../gpu/dispatch.js';
import { pipelinesFor } from '../gpu/pipelines.js';
import { packStruct } from '../gpu/wgsl.js';
import { floatOrderStage, PROBE_TERMS, probeFields } from './stages.js';

/** vec4 cases the probe runs: a, b and c each. */
const CASES = 16;

/**
 * The probe's inputs and the error terms it must give: a near 1, b and c small with
 * bits below a's last place, so every sum rounds. Each term, computed in
 * float64 where it is exact, is the same for both ways of EXACT_SUMS.
 */
export function probeCase(): { values: Float32Array<ArrayBuffer>; expected: Float32Array<ArrayBuffer> } {
  const values = new Float32Array(CASES * 3 * 4);
  const expected = new Float32Array(CASES * PROBE_TERMS * 4);
  const f = Math.fround;
  for (let k = 0; k < CASES * 4; k++) {
    const [caseIndex, lane] = [Math.floor(k / 4), k % 4];
    const sign = k % 3 === 0 ? -1 : 1;
    const a = f(sign * (1 + (2 * k + 1) * 2 ** -13));
    const b = f(sign * (3 + 2 * k) * 2 ** -29);
    const c = f(sign * (5 + 4 * k) * 2 ** -30);
    [a, b, c].forEach((v, j) => (values[(3 * caseIndex + j) * 4 + lane] = v));
    const t0 = f(a + b);
    const e0 = a + b - t0; // the rounding error of a + b, exact in float64
    const t1 = f(t0 + c);
    const e1 = t0 + c - t1;
    const terms = [e0, e0, f(e0 + e1)];
    terms.forEach((t, j) => (expected[(PROBE_TERMS * caseIndex + j) * 4 + lane] = t));
  }
  return { values, expected };
}

/** Each device's probe, started once. */
const probes = new WeakMap<GPUDevice, Promise<boolean>>();
/** Devices whose probe found every error term kept without the barrier. */
const keepsOrder = new WeakSet<GPUDevice>();
const forced = new WeakMap<GPUDevice, boolean>();

/** Starts the device's probe (once); resolves with whether its compiler keeps float order. */
export function probeFloatOrder(device: GPUDevice): Promise<boolean> {
  let probe = probes.get(device);
  if (!probe) {
    probe = lostErrorTerms(device).then(
      (lost) => {
        if (lost === 0) keepsOrder.add(device);
        return lost === 0;
      },
      () => false,
    );
    probes.set(device, probe);
  }
  return probe;
}

/** compensated.wgsl's OPAQUE_SUMS for pipelines made now on `device`. */
export function opaqueSums(device: GPUDevice): boolean {
  return forced.get(device) ?? !keepsOrder.has(device);
}

/**
 * Not exported by the package: lets the tests build pipelines with the barrier on
 * (true) or off (false) whatever the probe said; undefined returns to the probe's.
 */
export function forceOpaqueSums(device: GPUDevice, opaque: boolean | undefined): void {
  if (opaque === undefined) forced.delete(device);
  else forced.set(device, opaque);
}

/** The probe's error terms, without the barrier (or with it), with EXACT_SUMS true and then false. */
async function probeErrorTerms(device: GPUDevice, opaque = false): Promise<Float32Array[]> {
  const { values } = probeCase();
  const termBytes = CASES * PROBE_TERMS * 16;
  const label = 'batchnorm float-order probe';
  const made: GPUBuffer[] = [];
  const buffer = (what: string, size: number, usage: number) => {
    const b = device.createBuffer({ label: `${label} ${what}`, size, usage });
    made.push(b);
    return b;
  };
  device.pushErrorScope('validation');
  try {
    const uniform = buffer('params', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(uniform, 0, packStruct(probeFields, { zeroBits: 0 }));
    const input = buffer('values', values.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(input, 0, values);
    const read = buffer('readback', 2 * termBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const encoder = device.createCommandEncoder({ label });
    const pipelines = pipelinesFor(device);
    [true, false].forEach((exact, i) => {
      const terms = buffer(`terms ${i}`, termBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      const group = pipelines.bindGroup(floatOrderStage, `${label} ${i}`, { params: { buffer: uniform }, values: { buffer: input }, errorTerms: { buffer: terms } });
      const pipeline = pipelines.pipeline(floatOrderStage, 'probe', { WG_SIZE: CASES, OPAQUE_SUMS: opaque, EXACT_SUMS: exact });
      const pass = encoder.beginComputePass({ label: `${label} ${i}` });
      dispatch(device, pass, pipeline, group, 1);
      pass.end();
      encoder.copyBufferToBuffer(terms, 0, read, i * termBytes, termBytes);
    });
    device.queue.submit([encoder.finish()]);
    const error = device.popErrorScope();
    const [failure] = await Promise.all([error, read.mapAsync(GPUMapMode.READ)]);
    if (failure) throw new Error(`float-order probe: ${failure.message}`);
    const all = new Float32Array(read.getMappedRange().slice(0));
    return [all.subarray(0, termBytes / 4), all.subarray(termBytes / 4)];
  } finally {
    for (const b of made) b.destroy();
  }
}

/** How many of the probe's error terms, both ways of EXACT_SUMS, differ from the exact ones. */
export async function lostErrorTerms(device: GPUDevice, opaque = false): Promise<number> {
  const { expected } = probeCase();
  const runs = await probeErrorTerms(device, opaque);
  return runs.reduce((n, terms) => n + terms.filter((t, i) => !Object.is(t, expected[i])).length, 0);
}
