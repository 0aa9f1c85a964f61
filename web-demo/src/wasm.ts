// Loads host-wasm once (the ES-module build from target/wasm-pkg/web).
import init from "host-wasm";

let ready: Promise<unknown> | null = null;

export function wasmReady(): Promise<unknown> {
  ready ??= init();
  return ready;
}
