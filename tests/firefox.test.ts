// The shared cases and TF.js peer parity in headless Firefox (WebGPU through wgpu) on
// Mesa's lavapipe, the project's copy that scripts/system.mjs unpacks: one browser
// for the cases, the same checks as the Chrome suite, each on one of the two
// training paths in turn (Firefox takes about a second a case here: both paths of
// every case would double the longest suite; Dawn's three places run both).
import { ensureTestDrivers } from '../scripts/system.mjs';
import { browserCaseSuite } from './support/browser-cases.js';

const { lavapipe } = ensureTestDrivers({ firefox: true, lavapipe: true });
browserCaseSuite('Firefox', { browser: 'firefox', vulkanDriver: lavapipe }, (s) => `${s.adapter} (Vulkan driver ${lavapipe}) in ${s.browserVersion}`, 'alternate');
