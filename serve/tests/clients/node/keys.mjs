// The keys of examples/experiments.toml with the getter type an application would use and its
// code default; `no-such-flag` must give the default with FLAG_NOT_FOUND.
export const KEYS = [
  ['new-search', 'string', 'unset'],
  ['dark-mode', 'boolean', false],
  ['free-shipping-threshold', 'number', -1],
  ['search-ranking', 'object', {}],
  ['checkout-redesign', 'string', 'unset'],
  ['checkout-button-color', 'string', 'unset'],
  ['aa-baseline', 'string', 'unset'],
  ['pricing-annual-discount', 'string', 'unset'],
  ['no-such-flag', 'string', 'fallback'],
];
