/**
 * TUN mode (Linux): the TUN device (tun-device.ts, via the optional native
 * addon), SO_MARK for the outer UDP socket (../host/mark.ts), and the wg-quick(8)
 * steps around them (wgquick.ts up, teardown.ts down/recovery, state.ts).
 */
export { openTun, adoptTun, type TunDevice, type TunStats, type OpenTunOptions } from './tun-device.js';
export { tunAvailable, hasNetAdmin } from './available.js';
export { setSocketMark, getSocketMark, socketFd } from '../host/mark.js';
export { WgQuick, assertInterfaceAbsent, type WgQuickOptions, type WgQuickInterface, type UpResult } from './wgquick.js';
export { teardown, recoverStale, downInterface, type RecoverResult, type DownResult, type TeardownEnv } from './teardown.js';
export { StateFile, defaultStateDir, SYSTEM_STATE_DIR, type TunState } from './state.js';
export { systemRunner, type CommandRunner, type RunResult, type SystemRunnerOptions } from './runner.js';
export { StepError } from './steps.js';
