/**
 * Leveled logging to stderr, one line per event, prefixed with the interface
 * name. Callers pass labels and counts, never key material.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export function isLogLevel(s: string): s is LogLevel {
  return s in ORDER;
}

export class Logger {
  constructor(
    readonly prefix: string,
    readonly level: LogLevel = 'info',
    private readonly sink: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  ) {}

  child(prefix: string): Logger {
    return new Logger(prefix, this.level, this.sink);
  }

  private emit(level: LogLevel, msg: string): void {
    if (ORDER[level] > ORDER[this.level]) return;
    const tag = level === 'info' ? '' : `${level}: `;
    this.sink(`${this.prefix ? this.prefix + ': ' : ''}${tag}${msg}`);
  }

  error(msg: string): void { this.emit('error', msg); }
  warn(msg: string): void { this.emit('warn', msg); }
  info(msg: string): void { this.emit('info', msg); }
  debug(msg: string): void { this.emit('debug', msg); }
}
