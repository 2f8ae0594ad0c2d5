/**
 * Child of native-udp-linklocal.test.ts. `echo PORT`: a dual-stack native
 * socket on PORT that sends every datagram back to the source it reports,
 * from the local address it was sent to (pktinfo: the veth also has a
 * kernel-made link-local address, which the kernel may pick otherwise), and
 * prints that source and local address. `send ADDR PORT`: sends "ping" to ADDR (with its
 * %scope) and prints the reply and where it came from, as JSON.
 */
import { NativeUdpSocket, nativeUdp } from '../../src/host/native-udp.js';

const addon = nativeUdp();
if (!addon) throw new Error('native UDP unavailable');
const [mode, a1, a2] = process.argv.slice(2);
if (mode === 'echo') {
  const s = new NativeUdpSocket(addon, { family: 6, address: '', port: Number(a1), pktinfo: true });
  s.on('message', (m: Buffer, from: { address: string; port: number; local?: string }) => {
    console.log(`FROM ${from.address} ${from.port} TO ${from.local}`);
    s.sendFrom(Buffer.concat([Buffer.from('echo:'), m]), from.port, from.address, from.local ?? '');
  });
  console.log('READY');
} else {
  const s = new NativeUdpSocket(addon, { family: 6, address: '' });
  const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'no reply', dropped: Object.fromEntries(s.dropped) })); process.exit(0); }, 5000);
  s.on('message', (m: Buffer, from: { address: string; port: number }) => {
    clearTimeout(timer);
    console.log(JSON.stringify({ reply: m.toString(), from, port: s.address().port }));
    s.close();
  });
  s.send(Buffer.from('ping'), Number(a2), a1!);
}
