/**
 * The little XML the IGD needs: escaping for everything we write, and a
 * tolerant reader for SOAP 1.1 requests (UDA 1.1 section 3.2.1) that pulls
 * the action element and its <NewX>value</NewX> arguments out of
 * Envelope/Body. No DTDs, no custom entities (an unknown "&name;" stays
 * literal text); bounded sizes and depth.
 *
 *   body -> scan tags/text (comments, PIs, CDATA) -> element stack
 *        -> { action, namespace, args } | null
 */

/** Bodies larger than this are not parsed. */
export const SOAP_MAX_BODY = 65536;
const MAX_DEPTH = 16;
const MAX_ARGS = 32;
const MAX_VALUE = 4096;
/** Longest start tag (name and attributes) read; keeps the attribute scan linear-ish. */
const MAX_TAG = 2048;

/** Escape for element text and attribute values; drops characters XML 1.0 cannot carry. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * Decode the predefined and numeric character references. Tolerant: an "&"
 * that does not start a valid reference stays as it is (miniupnpc, for one,
 * writes argument values unescaped).
 */
export function xmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]{1,6}|#[0-9]{1,7});/g, (whole, ref: string) => {
    if (ref[0] !== '#') return NAMED[ref]!;
    const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1));
    return cp >= 1 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : whole;
  });
}

export interface SoapCall {
  /** Local name of the first element inside Body. */
  action: string;
  /** Its namespace (the service type), '' when none is declared. */
  namespace: string;
  /** Argument local names -> decoded text; the first of duplicates wins. */
  args: Map<string, string>;
}

interface Open {
  qname: string;
  local: string;
  prefix: string;
  ns: Map<string, string>;
}

function splitName(q: string): { prefix: string; local: string } {
  const c = q.indexOf(':');
  return c < 0 ? { prefix: '', local: q } : { prefix: q.slice(0, c), local: q.slice(c + 1) };
}

function lookupNs(stack: Open[], prefix: string): string {
  for (let i = stack.length - 1; i >= 0; i--) {
    const v = stack[i]!.ns.get(prefix);
    if (v !== undefined) return v;
  }
  return '';
}

/** Index of the '>' closing the tag that starts at `lt`, honouring quoted attribute values; -1 if none. */
function tagEnd(s: string, lt: number): number {
  let q = '';
  const stop = Math.min(s.length, lt + MAX_TAG + 1);
  for (let i = lt + 1; i < stop; i++) {
    const c = s[i]!;
    if (q) {
      if (c === q) q = '';
    } else if (c === '"' || c === "'") q = c;
    else if (c === '>') return i;
    else if (c === '<') return -1;
  }
  return -1;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;
const ATTR_RE = /([^\s=/]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/**
 * The SOAP call in `body`, or null when it is not a well-formed
 * Envelope > Body > action element (Header content is skipped).
 */
export function parseSoapEnvelope(body: string): SoapCall | null {
  if (body.length > SOAP_MAX_BODY) return null;
  const s = body;
  const stack: Open[] = [];
  let call: SoapCall | null = null;
  let actionDone = false;
  let inBody = false;
  let argText: string | null = null;
  let argNested = false;
  let i = 0;
  const text = (t: string, raw: boolean): boolean => {
    if (stack.length === 4 && inBody && argText !== null) {
      argText += raw ? t : xmlUnescape(t);
      return argText.length <= MAX_VALUE;
    }
    return true;
  };
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    if (lt < 0) {
      if (!text(s.slice(i), false)) return null;
      break;
    }
    if (lt > i && !text(s.slice(i, lt), false)) return null;
    if (s.startsWith('<!--', lt)) {
      const e = s.indexOf('-->', lt + 4);
      if (e < 0) return null;
      i = e + 3;
      continue;
    }
    if (s.startsWith('<![CDATA[', lt)) {
      const e = s.indexOf(']]>', lt + 9);
      if (e < 0 || !text(s.slice(lt + 9, e), true)) return null;
      i = e + 3;
      continue;
    }
    if (s.startsWith('<?', lt)) {
      const e = s.indexOf('?>', lt + 2);
      if (e < 0) return null;
      i = e + 2;
      continue;
    }
    if (s.startsWith('<!', lt)) return null; // DOCTYPE and friends: not in SOAP (SOAP 1.1 section 3)
    const gt = tagEnd(s, lt);
    if (gt < 0 || gt - lt > MAX_TAG) return null;
    i = gt + 1;
    if (s[lt + 1] === '/') {
      const qname = s.slice(lt + 2, gt).trim();
      const top = stack.pop();
      if (!top || top.qname !== qname) return null;
      if (stack.length === 3 && inBody && argText !== null) {
        if (call && !call.args.has(top.local) && !argNested) {
          if (call.args.size >= MAX_ARGS) return null;
          call.args.set(top.local, argText);
        }
        argText = null;
        argNested = false;
      } else if (stack.length === 2 && inBody && call && !actionDone) actionDone = true;
      else if (stack.length === 1) inBody = false;
      continue;
    }
    let inner = s.slice(lt + 1, gt);
    const selfClose = inner.endsWith('/');
    if (selfClose) inner = inner.slice(0, -1);
    const sp = inner.search(/[\s]/);
    const qname = sp < 0 ? inner : inner.slice(0, sp);
    if (!NAME_RE.test(qname)) return null;
    const ns = new Map<string, string>();
    const attrs = sp < 0 ? '' : inner.slice(sp);
    for (const m of attrs.matchAll(ATTR_RE)) {
      const an = m[1]!;
      const av = xmlUnescape(m[2] ?? m[3] ?? '');
      if (an === 'xmlns') ns.set('', av);
      else if (an.startsWith('xmlns:')) ns.set(an.slice(6), av);
    }
    const { prefix, local } = splitName(qname);
    const el: Open = { qname, local, prefix, ns };
    const depth = stack.length; // depth of the new element, 0 = document element
    if (depth === 0 && local !== 'Envelope') return null;
    if (depth === 1 && local === 'Body') {
      if (call || selfClose) return null;
      inBody = true;
    }
    if (depth === 2 && inBody) {
      if (call) return null; // one action per request
      stack.push(el);
      call = { action: local, namespace: lookupNs(stack, prefix), args: new Map() };
      stack.pop();
    }
    if (depth === 3 && inBody) argText = '';
    if (depth >= 4 && inBody) argNested = true;
    if (selfClose) {
      if (depth === 3 && inBody) {
        if (call && !call.args.has(local)) {
          if (call.args.size >= MAX_ARGS) return null;
          call.args.set(local, '');
        }
        argText = null;
      } else if (depth === 2 && inBody) actionDone = true;
      else if (depth === 0) return null;
      continue;
    }
    if (depth + 1 > MAX_DEPTH) return null;
    stack.push(el);
  }
  if (stack.length !== 0 || !call || !actionDone) return null;
  return call;
}
