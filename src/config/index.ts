/** The wg-quick config parser (pure). File loading lives in load.ts. */
export * from './types.js';
export { parseConfig, INTERFACE_NAME } from './parse.js';
export { serializeConfig, type SerializeOptions } from './serialize.js';
export { formatIssue, MAX_ERRORS } from './issues.js';
export { SECTIONS } from './sections.js';
export { PORTMAP_DEFAULTS, PORTMAP_SECTION, portMappingSection } from './portmap.js';
export { SectionInput, type SectionSpec, type KeySpec, type KeyParsed, type Field } from './schema.js';
// Building blocks for extension sections.
export { intRange, parseBool, parseKey, parseKeepalive, splitList } from './values.js';
export { canonicalIp, formatCidr, formatEndpoint, isHostname, parseCidr, parseEndpoint } from './addr.js';
export { parseShortForm, checkShortFormRules, shortFormUsage, type ShortFormResult } from './short-form.js';
