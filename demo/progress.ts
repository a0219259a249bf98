/**
 * The demo's progress bar. On a terminal it is one line redrawn in place with `\r`; into a
 * file or pipe (CI logs, tests) a carriage return would pile up, so it writes a plain line
 * each time another ~10% has finished, and at the end.
 */

export interface Progress {
  /** `done` registrations of `total` have a result. */
  update(done: number): void;
  /** Ends the line (on a terminal) so what follows starts on its own line. */
  finish(): void;
}

const barWidth = 30;

export function createProgress(
  out: NodeJS.WritableStream,
  total: number,
  now = Date.now,
): Progress {
  const isTty = (out as { isTTY?: boolean }).isTTY === true;
  const started = now();
  let lastDecile = -1;
  let lastDone = -1;
  let open = false;

  const render = (done: number): string => {
    const fraction = total === 0 ? 1 : done / total;
    const filled = Math.round(fraction * barWidth);
    const seconds = ((now() - started) / 1000).toFixed(1);
    return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${done}/${total} finished  ${seconds} s`;
  };

  return {
    update(done) {
      if (done === lastDone) return;
      lastDone = done;
      if (isTty) {
        out.write(`\r${render(done)}`);
        open = true;
        return;
      }
      const decile = total === 0 ? 10 : Math.floor((done / total) * 10);
      if (decile > lastDecile) {
        lastDecile = decile;
        out.write(`${render(done)}\n`);
      }
    },
    finish() {
      if (open) out.write('\n');
      open = false;
    },
  };
}
