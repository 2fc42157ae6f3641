// The shared cases and TF.js peer parity in headless Chrome (WebGPU on the machine's
// adapter; SwiftShader where there is no GPU). One browser for the file, one test per case.
import { browserCaseSuite } from './support/browser-cases.js';

browserCaseSuite('Chrome', {}, (s) => `${s.adapter} in ${s.browserVersion}`);
