// The shared cases and TF.js peer parity in headless Chrome (WebGPU on the machine's
// adapter; SwiftShader where there is no GPU). One browser for the file, one test per case,
// each case on one of the two training paths in turn: Dawn on SwiftShader in Node
// (tests/batch-norm.test.ts) runs both paths of every case.
import { browserCaseSuite } from './support/browser-cases.js';

browserCaseSuite('Chrome', {}, (s) => `${s.adapter} in ${s.browserVersion}`, 'alternate');
