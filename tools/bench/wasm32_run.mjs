// Runs a MicroPython script in MicroPython's WebAssembly port (a 32-bit MicroPython, like the
// ESP32's), for tools/bench/heap32.py. Usage: node wasm32_run.mjs HEAP_BYTES MOUNTS_JSON SCRIPT
// MOUNTS_JSON maps host folders to folders of the port's in-memory file system.
import fs from "fs";
import path from "path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const [heap, mounts, script] = process.argv.slice(2);
const out = (line) => process.stdout.write(line + "\n");
const mp = await loadMicroPython({ heapsize: parseInt(heap, 10), stdout: out, stderr: out });

function copyTree(src, dst) {
  mp.FS.mkdirTree(dst);
  for (const name of fs.readdirSync(src)) {
    const from = path.join(src, name);
    if (fs.statSync(from).isDirectory()) copyTree(from, dst + "/" + name);
    else mp.FS.writeFile(dst + "/" + name, fs.readFileSync(from));
  }
}

for (const [host, inside] of Object.entries(JSON.parse(mounts))) copyTree(host, inside);
try {
  mp.runPython(fs.readFileSync(script, "utf8"));
} catch (err) {
  out("wasm32-error " + String(err).split("\n").slice(-3).join(" | "));
  process.exitCode = 1;
}
