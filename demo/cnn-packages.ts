// The npm packages demo/cnn.html imports (demo/cnn-model.ts), for a script or test
// that serves the page to pre-bundle (without importing the page's modules in Node).
export const CNN_PAGE_PACKAGES = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-core/dist/register_all_gradients',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-layers',
];
