// Every shared case (tests/cases) in plain Node, without vitest: for a machine that
// has a GPU, node and the npm `webgpu` package but no npm install (a bare GPU box).
// Built by `npm run cases:build` into tests/dist/cases.js; run from the project root:
//   node tests/dist/cases.js [--adapter auto|gpu|software|swiftshader|lavapipe] [--only TEXT]
// Prints one line per case and ends with "N passed, N failed, N skipped"; exits 1
// when any failed.
import { parseArgs } from 'node:util';
import { ADAPTER_CHOICES, adapterName, requestDevice, type AdapterChoice } from 'webgpu-batchnorm/node';
import { caseGroups } from './cases/index.js';
import { withoutGpuErrors } from '../support/compare.js';

async function main() {
  const { values } = parseArgs({ options: { adapter: { type: 'string' }, only: { type: 'string', multiple: true } } });
  const adapter = (values.adapter ?? 'auto') as AdapterChoice;
  if (!ADAPTER_CHOICES.includes(adapter)) throw new Error(`--adapter must be ${ADAPTER_CHOICES.join(', ')}; got ${adapter}`);
  const only = (values.only ?? []).map((o) => o.toLowerCase());
  const device = await requestDevice({ adapter });
  Object.assign(globalThis, { requestTestDevice: () => requestDevice({ adapter }) }); // reliability's device-loss case
  const uncaptured: string[] = [];
  device.addEventListener('uncapturederror', (e) => uncaptured.push((e as GPUUncapturedErrorEvent).error.message));
  console.log(`adapter: ${adapterName(device)}; features: ${[...device.features].sort().join(', ')}`);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const started = performance.now();
  for (const [group, cases] of Object.entries(caseGroups)) {
    for (const c of cases) {
      const name = `${group} > ${c.name}`;
      if (only.length && !only.some((o) => name.toLowerCase().includes(o))) continue;
      const reason = c.skipOn?.(device);
      if (reason) {
        counts.skipped++;
        console.log(`skip  ${name}: ${reason}`);
        continue;
      }
      const t0 = performance.now();
      try {
        await withoutGpuErrors(device, () => c.run(device));
        counts.passed++;
        console.log(`pass  ${name} (${(performance.now() - t0).toFixed(0)} ms)`);
      } catch (e) {
        counts.failed++;
        console.log(`FAIL  ${name}\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      }
    }
  }
  device.destroy();
  if (uncaptured.length) {
    counts.failed++;
    console.log(`FAIL  uncaptured GPU errors:\n${uncaptured.join('\n')}`);
  }
  console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.exitCode = counts.failed ? 1 : 0;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
