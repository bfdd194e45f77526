import pc from 'picocolors';

/** Where a command writes; tests capture it. Colour only on a terminal, honouring NO_COLOR. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  color: boolean;
}

export function processIo(): CliIo {
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && pc.isColorSupported;
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    color,
  };
}

export function paint(io: CliIo) {
  const wrap = (f: (s: string) => string) => (s: string) => (io.color ? f(s) : s);
  return {
    green: wrap(pc.green),
    red: wrap(pc.red),
    yellow: wrap(pc.yellow),
    dim: wrap(pc.dim),
    bold: wrap(pc.bold),
    effect(effect: string) {
      if (effect === 'allow') return wrap(pc.green)(effect);
      if (effect === 'deny') return wrap(pc.red)(effect);
      return wrap(pc.yellow)(effect);
    },
  };
}
