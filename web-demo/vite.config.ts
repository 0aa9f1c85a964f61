import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

// host-wasm's ES-module package, built by `scripts/build-wasm` into target/wasm-pkg/web.
const wasmPkg = fileURLToPath(new URL("../target/wasm-pkg/web/host_wasm.js", import.meta.url));

export default defineConfig({
  base: "./",
  resolve: { alias: { "host-wasm": wasmPkg } },
  server: {
    fs: { allow: [".", "../target/wasm-pkg"] },
    // `LOCALNET=http://127.0.0.1:8080 npm run dev`: the localnet's /api/localnet.json.
    proxy: process.env.LOCALNET ? { "/api": process.env.LOCALNET } : undefined,
  },
  worker: { format: "es" },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
});
