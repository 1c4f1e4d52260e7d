// A tiny argv parser for the scripts: `--name value`, `--flag`, `--name=value`; repeated
// names collect into arrays when `multi` lists them.
export function parseArgs(argv, { flags = [], multi = [] } = {}) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) { out._.push(a); continue; }
    let [name, value] = a.slice(2).split(/=(.*)/s, 2);
    if (value === undefined) {
      if (flags.includes(name)) value = true;
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new Error(`--${name} needs a value`);
    }
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (multi.includes(name)) (out[key] ??= []).push(value);
    else out[key] = value;
  }
  return out;
}

/** Reads `@file` as the file's text, `-` as stdin, anything else as itself. */
export async function valueOrFile(v) {
  if (typeof v !== "string") return v;
  const { readFileSync } = await import("node:fs");
  if (v === "-") return readFileSync(0, "utf8");
  if (v.startsWith("@")) return readFileSync(v.slice(1), "utf8");
  return v;
}

export function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}
